"""The record of a gradient check: every comparison of each parameter, and its readable form.

A ``ParameterReport`` is made once, by the check (finite differences) or by ``compare_gradients``
(an exact gradient), and read as it is by the summary, the diagnosis and the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.degenerate import degenerate_words

ALL_PARAMETERS = "(all)"  # the directions over every parameter at once
TINY = float(np.finfo(np.float64).tiny)

# What each mode can and cannot detect (measured by the mutation suite in tests/meta).
MODE_SCOPE = {
    "all": "every coordinate: any coordinate whose error exceeds the tolerance",
    "sample": "a random sample of coordinates: errors spread over many coordinates; an error "
    "confined to one coordinate or column is usually missed",
    "directional": "random directions per parameter and over all: any error whose norm exceeds "
    "about rtol x the gradient's (every mutant caught); cannot say which coordinate",
    "autodiff": "every entry against an exact gradient",
}


@dataclass(frozen=True, eq=False)
class Comparisons:
    """One parameter's comparisons, one entry each (a coordinate, or a direction).

    ``index``: flat coordinate indices (direction numbers in mode directional). ``gradient``:
    the gradient under test at x along each; [``low``, ``high``]: its right values at x (one
    value off a kink; the valid range on one; unbounded where an exact reference is not
    finite). ``analytic`` and ``numerical``: the two values compared, with allowance
    ``allowed`` (``nearby``: measured near x, off a kink at x). ``directions``: each
    direction, in mode directional.
    """

    index: NDArray[np.intp]
    gradient: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    analytic: NDArray[np.float64]
    numerical: NDArray[np.float64]
    allowed: NDArray[np.float64]
    passed: NDArray[np.bool_]
    set_aside: NDArray[np.bool_]
    kink: NDArray[np.bool_]
    nearby: NDArray[np.bool_]
    directions: tuple[Any, ...] = field(default=(), repr=False)

    @property
    def judged(self) -> NDArray[np.bool_]:
        """The comparisons that count: those not set aside."""
        return ~self.set_aside


@dataclass(frozen=True, eq=False)
class ParameterReport:
    """The judgement of one parameter's gradient: its comparisons, and their tally.

    ``passed`` needs at least one comparison judged and every judged one within
    |a - n| <= rtol max(|a|, |n|) + atol (+ the differences' rounding noise).
    """

    name: str
    shape: tuple[int, ...]
    mode: str
    rtol: float
    atol: float
    comparisons: Comparisons

    @property
    def checked(self) -> int:
        """Coordinates, directions or entries compared."""
        return int(self.comparisons.index.size)

    @property
    def kinks(self) -> int:
        """Comparisons where a kink lay within the step."""
        return int(self.comparisons.kink.sum())

    @property
    def set_aside(self) -> int:
        """Comparisons that could not be judged (a kink no measurement decides, or a reference
        value that is not finite)."""
        return int(self.comparisons.set_aside.sum())

    @property
    def judged(self) -> int:
        """``checked`` less ``set_aside``."""
        return self.checked - self.set_aside

    @property
    def mismatched(self) -> int:
        """Judged comparisons outside tolerance."""
        c = self.comparisons
        return int((c.judged & ~c.passed).sum())

    @property
    def passed(self) -> bool:
        """At least one comparison judged, and none judged outside tolerance."""
        return self.judged > 0 and self.mismatched == 0

    def __bool__(self) -> bool:
        """The verdict: ``assert report`` fails on a wrong or unjudged gradient."""
        return self.passed

    def _errors(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        c = self.comparisons
        error = np.abs(c.analytic - c.numerical)
        floor = max(self.atol / self.rtol, TINY)
        scale = np.maximum(np.maximum(np.abs(c.analytic), np.abs(c.numerical)), floor)
        return error, scale

    @property
    def max_abs_error(self) -> float:
        """max |a - n| over the judged comparisons."""
        error, _ = self._errors()
        return float(np.max(error[self.comparisons.judged], initial=0.0))

    @property
    def max_relative_error(self) -> float:
        """max |a - n| / max(|a|, |n|, atol / rtol) over the judged comparisons: below rtol
        means within tolerance."""
        error, scale = self._errors()
        return float(np.max((error / scale)[self.comparisons.judged], initial=0.0))

    @property
    def resolution(self) -> float:
        """The relative error a comparison must exceed to be flagged: the median over those
        judged of the allowance over the value."""
        if self.judged == 0:
            return float("nan")
        _, scale = self._errors()
        judged = self.comparisons.judged
        return float(np.median((self.comparisons.allowed / scale)[judged]))

    @property
    def _worst(self) -> int:
        """The comparison whose error is largest against its allowance (judged ones first)."""
        c = self.comparisons
        ratio = np.abs(c.analytic - c.numerical) / np.maximum(c.allowed, TINY)
        pool = c.judged if self.judged else np.ones_like(c.judged)
        return int(np.argmax(np.where(pool, ratio, -1.0)))

    @property
    def worst_index(self) -> tuple[int, ...]:
        """The coordinate (or direction number) of the worst comparison."""
        i = int(self.comparisons.index[self._worst])
        if self.mode == "directional":
            return (i,)
        return tuple(int(j) for j in np.unravel_index(i, self.shape))

    @property
    def analytic(self) -> float:
        """The gradient under test at the worst comparison."""
        return float(self.comparisons.analytic[self._worst])

    @property
    def numerical(self) -> float:
        """The value it was compared with there."""
        return float(self.comparisons.numerical[self._worst])

    @property
    def worst_nearby(self) -> bool:
        """The worst comparison was measured at a point near x, off a kink at x."""
        return bool(self.comparisons.nearby[self._worst])

    def along(self, gradient: Mapping[str, NDArray[Any]]) -> NDArray[np.float64]:
        """Another gradient (a dict like the parameters) taken along each comparison."""
        c = self.comparisons
        if self.mode == "directional":
            return np.array([d.dot(gradient) for d in c.directions])
        return np.asarray(gradient[self.name], dtype=np.float64).reshape(-1)[c.index]

    def as_json(self) -> dict[str, Any]:
        """The judgement's tally as the audits' JSON ``results`` rows give it."""
        return {
            "parameter": self.name,
            "max_relative_error": self.max_relative_error,
            "max_abs_error": self.max_abs_error,
            "passed": self.passed,
            "mode": self.mode,
            "checked": self.checked,
            "kinks": self.kinks,
            "set_aside": self.set_aside,
            "mismatched": self.mismatched,
            "worst_index": list(self.worst_index),
            "analytic": self.analytic,
            "numerical": self.numerical,
            "rtol": self.rtol,
            "atol": self.atol,
            "resolution": self.resolution,
        }

    def mismatch(self) -> str:
        """numpy.testing's account of a failure: how many mismatch, the largest differences,
        both tolerances, and the worst comparison."""
        where = " (near the point, off its kink)" if self.worst_nearby else ""
        what = "directions" if self.mode == "directional" else "entries"
        share = 100 * self.mismatched / max(self.judged, 1)
        return (
            f"{self.name}: mismatched {what}: {self.mismatched} / {self.judged} ({share:.3g}%); "
            f"max absolute difference {self.max_abs_error:.3e}, max relative difference "
            f"{self.max_relative_error:.3e}; rtol {self.rtol:.1e}, atol {self.atol:.1e}; worst "
            f"at {self.worst_index}{where}: analytic {self.analytic:.10g} vs numerical "
            f"{self.numerical:.10g}"
        )


@dataclass(frozen=True, eq=False)
class GradientReport:
    """A whole check: one ParameterReport per parameter, how it was made, the gradient under
    test at the point (float64, as its update applies it) and how it was read."""

    oracle: str
    method: str
    mode: str
    gradient_dtype: str
    parameters: tuple[ParameterReport, ...]
    gradient: Mapping[str, NDArray[np.float64]] = field(default_factory=dict, repr=False)
    readings: tuple[str, ...] = ()  # how the gradient was read, where not as given
    arrays: str = "numpy"  # the parameters' kind: ARRAY_KINDS (oracles._engine.arrays)
    transfers: int = 0  # arrays and numbers read back from the device for the check
    precision: Any = None  # the loss's measured precision (oracles._engine.precision.LossPrecision)
    shape_bugs: tuple[str, ...] = ()  # gradient shapes the user's own update gets wrong
    degenerate: tuple[str, ...] = ()  # what makes the point degenerate (oracles._engine.degenerate)
    copies: str = "float64 copies"  # what the loss and grad got (oracles._engine.arrays)

    @property
    def passed(self) -> bool:
        """True when every parameter's gradient was judged and agrees within tolerance."""
        return all(p.passed for p in self.parameters)

    def __bool__(self) -> bool:
        """The verdict: ``assert check_gradients(...)`` fails on a wrong gradient, as
        ``assert gradcheck(...)`` does."""
        return self.passed

    @property
    def detects(self) -> str:
        """What this report's mode can and cannot detect."""
        return MODE_SCOPE.get(self.mode, MODE_SCOPE["autodiff"])

    @property
    def failed(self) -> tuple[str, ...]:
        """The parameters whose gradient disagrees or could not be judged."""
        return tuple(p.name for p in self.parameters if not p.passed)

    @property
    def undecided(self) -> tuple[str, ...]:
        """The parameters none of whose comparisons was judged."""
        return tuple(p.name for p in self.parameters if p.judged == 0)

    def __getitem__(self, name: str) -> ParameterReport:
        for report in self.parameters:
            if report.name == name:
                return report
        raise KeyError(name)

    def precision_sentences(self) -> list[str]:
        """What the report says of a loss computed with less precision than float64."""
        if self.precision is None:
            return []
        rtols = {p.name: p.rtol for p in self.parameters}
        return list(self.precision.sentences(self.method, rtols))

    def __str__(self) -> str:
        """The summary: ``print(report)`` shows what a person reads, not the arrays."""
        return self.summary()

    def summary(self) -> str:
        """A table, one row per parameter, then each mismatch and the verdict."""
        w = max(6, *(len(p.name) for p in self.parameters))
        lines = [
            f"gradient check by {self.oracle} ({self.method}, mode {self.mode}, "
            f"gradient dtype {self.gradient_dtype})\nmode {self.mode} detects {self.detects}",
            f"{'param':<{w}} {'shape':<12} {'checked':>8} {'kinks':>6} {'set aside':>9} "
            f"{'mismatched':>10} {'max abs err':>12} {'max rel err':>12} {'rtol':>8} "
            f"{'atol':>8}  worst index: analytic vs numerical  verdict",
        ]
        for p in self.parameters:
            where = " (near the point, off its kink)" if p.worst_nearby else ""
            verdict = "ok" if p.passed else ("UNJUDGED" if p.judged == 0 else "WRONG")
            lines.append(
                f"{p.name:<{w}} {'x'.join(map(str, p.shape)):<12} {p.checked:>8} {p.kinks:>6} "
                f"{p.set_aside:>9} {p.mismatched:>10} {p.max_abs_error:>12.3e} "
                f"{p.max_relative_error:>12.3e} {p.rtol:>8.1e} {p.atol:>8.1e}  "
                f"{p.worst_index}{where}: {p.analytic:.10g} vs {p.numerical:.10g}  {verdict}"
            )
        lines += [f"read: {note}" for note in self.readings]
        lines += [f"shape bug: {bug}" for bug in self.shape_bugs]
        lines += self.precision_sentences()
        if self.degenerate:
            lines.append(degenerate_words(self.degenerate))
        if self.arrays != "numpy":
            lines.append(f"{self.arrays} arrays: the loss and grad got {self.copies} on their "
                         f"device; {self.transfers} arrays or values read back")  # fmt: skip
        set_aside = sum(p.set_aside for p in self.parameters)
        if set_aside:
            lines.append(
                f"{set_aside} set aside: not judged (a kink where no measurement decides, a "
                "kink at a degenerate point, or a reference value that is not finite); they "
                "count neither for nor against"
            )
        wrong = [p for p in self.parameters if p.mismatched]
        lines += [p.mismatch() for p in wrong]
        if self.passed:
            lines.append("all gradients agree")
        if wrong:
            lines.append(f"gradient of {', '.join(p.name for p in wrong)} disagrees")
        if self.undecided:
            lines.append(f"gradient of {', '.join(self.undecided)} could not be judged at all")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Row:
    """One oracle's judgement of one parameter, for one network, variant and style: the
    check's own record, and where it was made. Both audits' reports are written from rows
    (your own network's: ``network`` is the case's name, ``variant`` ``yours``, no style)."""

    network: str
    variant: str
    style: str
    oracle: str
    formulation: str
    report: ParameterReport

    @property
    def parameter(self) -> str:
        return self.report.name

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def max_relative_error(self) -> float:
        return self.report.max_relative_error

    def as_json(self) -> dict[str, Any]:
        """The row as the JSON's ``results`` list gives it."""
        where = {"network": self.network, "variant": self.variant, "style": self.style,
                 "oracle": self.oracle, "formulation": self.formulation}  # fmt: skip
        return {**where, **self.report.as_json()}


def compared(
    analytic: NDArray[np.float64],
    numerical: NDArray[np.float64],
    allowed: NDArray[np.float64],
    **measured: Any,
) -> Comparisons:
    """The one builder of ``Comparisons``, for n comparisons (arrays of shape (n,)): the value
    under test, the right one and the allowance; where ``measured`` does not say otherwise, the
    gradient under test is ``analytic``, its right range is ``numerical`` alone, a comparison
    passes within its allowance, one whose right value is not finite is set aside, and none sat
    on a kink or was measured nearby."""
    n = analytic.size
    set_aside = measured.pop("set_aside", ~np.isfinite(numerical))
    with np.errstate(invalid="ignore"):
        within = np.abs(analytic - numerical) <= allowed
    fields: dict[str, Any] = {
        "index": np.arange(n), "gradient": analytic, "low": numerical, "high": numerical,
        "passed": within & ~set_aside, "kink": np.zeros(n, bool), "nearby": np.zeros(n, bool),
    }  # fmt: skip
    fields.update(measured)
    return Comparisons(analytic=analytic, numerical=numerical, allowed=allowed,
                       set_aside=set_aside, **fields)  # fmt: skip


def comparisons(
    measured: list[Any], index: list[int], gradient: list[float], directions: tuple[Any, ...] = ()
) -> Comparisons:
    """Comparisons from a list of ``kinks.Measured``, their indices, and the gradient
    under test at x along each."""
    limits = [m.limits or (m.numerical,) for m in measured]

    def array(values: list[Any], dtype: Any = np.float64) -> NDArray[Any]:
        return np.array(values, dtype=dtype)

    return compared(
        array([m.analytic for m in measured]),
        array([m.numerical for m in measured]),
        array([m.allowed for m in measured]),
        index=array(index, np.intp),
        gradient=array(gradient),
        low=array([min(lim) for lim in limits]),
        high=array([max(lim) for lim in limits]),
        passed=array([m.passed for m in measured], bool),
        set_aside=array([m.set_aside for m in measured], bool),
        kink=array([m.kink for m in measured], bool),
        nearby=array([m.nearby for m in measured], bool),
        directions=directions,
    )
