"""The structured result of a gradient check, and its readable form."""

from __future__ import annotations

from dataclasses import dataclass

# What each mode can and cannot detect, as measured on the mutation suite (oracles/mutants.py)
# and stated in every report's summary.
MODE_SCOPE = {
    "all": "every coordinate: any coordinate whose error exceeds the tolerance",
    "sample": "a random sample of coordinates: errors spread over many coordinates; an error "
    "confined to one coordinate or column is usually missed",
    "directional": "random directions per parameter and over all: any error whose norm exceeds "
    "about rtol x the gradient's (every mutant caught); cannot say which coordinate",
    "autodiff": "every entry against an exact gradient",
}


@dataclass(frozen=True)
class ParameterReport:
    """The verdict on one parameter's gradient.

    ``checked`` counts coordinates (mode ``all`` or ``sample``), directions (mode
    ``directional``) or entries (autodiff); ``kinks`` counts those where a kink lay
    within the step; ``set_aside`` those that could not be judged (a kink where no
    measurement decides, or an oracle's value that is not finite). ``passed`` needs at
    least one judged and every judged one within tolerance. ``max_relative_error`` is
    max |a - n| / max(|a|, |n|, atol / rtol) over the judged ones: below ``rtol`` means
    within tolerance. ``worst_index`` is the coordinate (or the direction number) where
    the error against tolerance is largest, with ``analytic`` and ``numerical`` the two
    values compared there; ``worst_nearby`` says they were measured at a point near the
    one checked, off a kink that sits on it. ``resolution`` is the relative error an entry
    (or direction) must exceed to be flagged here: the median over those judged of the
    allowance over the value (finite differences: rtol and the step's rounding and
    truncation floor; autodiff: float64 rounding).
    """

    name: str
    shape: tuple[int, ...]
    mode: str
    checked: int
    kinks: int
    set_aside: int
    max_abs_error: float
    max_relative_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numerical: float
    rtol: float
    atol: float
    passed: bool
    worst_nearby: bool = False
    resolution: float = float("nan")

    @property
    def judged(self) -> int:
        """How many were judged: ``checked`` less ``set_aside``."""
        return self.checked - self.set_aside


@dataclass(frozen=True)
class GradientReport:
    """A whole check: one ParameterReport per parameter, and how it was made."""

    oracle: str
    method: str
    mode: str
    gradient_dtype: str
    parameters: tuple[ParameterReport, ...]

    @property
    def passed(self) -> bool:
        """True when every parameter's gradient was judged and agrees within tolerance."""
        return all(p.passed for p in self.parameters)

    @property
    def detects(self) -> str:
        """What this report's mode can and cannot detect."""
        return MODE_SCOPE.get(self.mode, MODE_SCOPE["autodiff"])

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the parameters whose gradient disagrees or could not be judged."""
        return tuple(p.name for p in self.parameters if not p.passed)

    @property
    def undecided(self) -> tuple[str, ...]:
        """The names of the parameters none of whose entries or directions was judged."""
        return tuple(p.name for p in self.parameters if p.judged == 0)

    def __getitem__(self, name: str) -> ParameterReport:
        for report in self.parameters:
            if report.name == name:
                return report
        raise KeyError(name)

    def summary(self) -> str:
        """A table, one row per parameter, then the verdict."""
        head = (
            f"gradient check by {self.oracle} ({self.method}, mode {self.mode}, "
            f"gradient dtype {self.gradient_dtype})\n"
            f"mode {self.mode} detects {MODE_SCOPE.get(self.mode, MODE_SCOPE['autodiff'])}"
        )
        rows = [
            f"{'param':<6} {'shape':<12} {'checked':>8} {'kinks':>6} {'set aside':>9} "
            f"{'max abs err':>12} {'max rel err':>12} {'rtol':>8}  "
            "worst index: analytic vs numerical  verdict"
        ]
        for p in self.parameters:
            where = " (near the point, off its kink)" if p.worst_nearby else ""
            verdict = "ok" if p.passed else ("UNJUDGED" if p.judged == 0 else "WRONG")
            rows.append(
                f"{p.name:<6} {'x'.join(map(str, p.shape)):<12} {p.checked:>8} {p.kinks:>6} "
                f"{p.set_aside:>9} {p.max_abs_error:>12.3e} {p.max_relative_error:>12.3e} "
                f"{p.rtol:>8.1e}  {p.worst_index}{where}: {p.analytic:.10g} vs "
                f"{p.numerical:.10g}  {verdict}"
            )
        wrong = [p.name for p in self.parameters if not p.passed and p.judged > 0]
        lines = [head, *rows]
        set_aside = sum(p.set_aside for p in self.parameters)
        if set_aside:
            lines.append(
                f"{set_aside} set aside: not judged (a kink where no measurement decides, or "
                "a reference value that is not finite); they count neither for nor against"
            )
        if self.passed:
            lines.append("all gradients agree")
        if wrong:
            lines.append(f"gradient of {', '.join(wrong)} disagrees")
        if self.undecided:
            lines.append(f"gradient of {', '.join(self.undecided)} could not be judged at all")
        return "\n".join(lines)
