"""Your own network audited as the five documents are: ``Case`` says what to judge,
``audit_case`` judges it, and ``CaseAudit`` is the record the reports are written from.

Each parameter's gradient is judged by finite differences of your own loss and, given the
network you meant as a JAX ``reference``, by its exact gradient and by differences of your loss
with that reference as a control variate (``control``). The verdict follows ``verdict``; a failure
gets the diagnosis; each primitive given gets its properties (``oracles.check_primitive``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.arrays import on_host
from oracles._engine.diagnosis import Diagnosis
from oracles._engine.inputs import Grad, Loss, float64_copies, split
from oracles._engine.optional import missing
from oracles._engine.records import ALL_PARAMETERS, GradientReport, Row
from oracles._engine.tolerances import autodiff_tolerance_for
from oracles.checks.adapters import unwrapped
from oracles.checks.exact import compare_gradients
from oracles.checks.gradients import check_gradients, diagnose
from oracles.checks.primitives import PRIMITIVES
from oracles.own_network.verdict import VERDICTS, at_least, verdict
from oracles.reports.text import aligned

# The columns of a case's table, and each oracle's words.
TABLE = ("param", "oracle", "max rel err", "resolution", "result", "verdict")
ORACLE_WORDS = {
    ("finite_difference", "own_loss"): "finite differences of your loss",
    ("finite_difference", "control_variate"): "your loss, reference as control variate",
    ("jax", "reference"): "jax.grad of the network you meant",
}

Primitives = Mapping[str, Callable[..., Any] | tuple[Callable[..., Any], Mapping[str, Any]]]


@dataclass(frozen=True)
class Case:
    """One network of yours to audit.

    ``loss(params) -> float`` and ``grad(params) -> dict`` (``grad`` None: ``loss`` returns
    ``(value, gradients)``), read as ``check_gradients`` reads them; ``params``: the dict of
    parameter arrays to judge at. ``reference(params) -> scalar``: the network you meant,
    written in JAX (``oracles.mlp_reference`` builds a perceptron's). ``primitives``:
    kind -> your function, or (function, conventions), as ``check_primitive`` takes them.
    ``layers`` and ``examples`` as for ``diagnose``; ``name`` titles the report.
    """

    loss: Loss
    grad: Grad | None
    params: Mapping[str, Any]
    _: KW_ONLY
    reference: Callable[[Mapping[str, Any]], Any] | None = None
    primitives: Primitives | None = None
    name: str = "case"
    layers: Sequence[tuple[str, ...]] | None = None
    examples: int | None = None

    def __post_init__(self) -> None:
        params, layers = unwrapped(self.params, self.layers)  # an Attributes: its params, layers
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "layers", layers)
        if not callable(self.loss):
            raise TypeError(f"Case {self.name!r}: loss must be callable, got {self.loss!r}")
        if self.grad is not None and not callable(self.grad):
            raise TypeError(f"Case {self.name!r}: grad must be callable or None")
        if not isinstance(self.params, Mapping) or not self.params:
            raise TypeError(f"Case {self.name!r}: params must be a non-empty dict of arrays")
        if self.reference is not None and not callable(self.reference):
            raise TypeError(f"Case {self.name!r}: reference must be callable or None")
        if not self.primitives:
            return
        reason = missing("properties")
        if reason:
            raise ImportError(f"Case {self.name!r}: checking primitives needs {reason}")
        unknown = sorted(set(self.primitives) - set(PRIMITIVES))
        if unknown:
            raise ValueError(f"Case {self.name!r}: unknown primitive kinds {unknown}; "
                             f"expected some of {PRIMITIVES}")  # fmt: skip


@dataclass(frozen=True)
class ParameterVerdict:
    """The verdict on one parameter and the errors behind it."""

    parameter: str
    verdict: str
    own: bool
    meant: bool | None
    max_relative_error: float
    why: str


@dataclass
class CaseAudit:
    """Everything measured on one Case."""

    name: str
    rows: list[Row]  # one per parameter and oracle (its network the case's name)
    verdicts: list[ParameterVerdict]
    diagnosis: Diagnosis | None
    primitives: list[Any] = field(default_factory=list)  # oracles.checks.primitives.PrimitiveReport
    loss_gap: float | None = None  # |loss - reference| at the point, when a reference is given
    readings: tuple[str, ...] = ()
    arrays: str = "numpy"  # the parameters' kind (oracles._engine.arrays)
    transfers: int = 0  # arrays and values read back from their device for the audit
    copies: str = "float64 copies"  # what your functions got (oracles._engine.arrays)

    def worst(self) -> str:
        """``correct``, ``inexact`` or ``wrong``: the worst verdict over the parameters, and at
        least ``inexact`` when a primitive fails a property (its gradient may still be right)."""
        found = [v.verdict for v in self.verdicts]
        if any(not p.passed for p in self.primitives):
            found.append("inexact")
        return max(found, key=VERDICTS.index, default="correct")

    def fails(self, threshold: str) -> bool:
        """True when some verdict is ``threshold`` or worse."""
        return at_least(self.worst(), threshold)

    def __bool__(self) -> bool:
        """The verdict: true only when every parameter is ``correct`` and every primitive
        holds its properties (``fails(threshold)`` for a laxer bar)."""
        return self.worst() == "correct"

    def table(self) -> list[tuple[str, ...]]:
        """One row of TABLE's columns per parameter and oracle."""
        verdicts = {v.parameter: v.verdict for v in self.verdicts}
        return [(r.parameter, ORACLE_WORDS[r.oracle, r.formulation], f"{r.max_relative_error:.1e}",
                 f"{r.report.resolution:.0e}", "ok" if r.passed else "FAILS",
                 verdicts.get(r.parameter, "")) for r in self.rows]  # fmt: skip

    def notes(self) -> list[str]:
        """The verdicts and why, the loss's distance from the reference, how the gradient was
        read, the arrays' kind, the diagnosis and each primitive's properties: one line each."""
        groups: dict[tuple[str, str], list[str]] = {}
        for v in self.verdicts:
            groups.setdefault((v.verdict, v.why), []).append(v.parameter)
        out = [f"{', '.join(names)}: {found}: {why}" for (found, why), names in groups.items()]
        if self.loss_gap is not None:
            out.append(f"|your loss - the reference| at the point: {self.loss_gap:.3g}")
        out += [f"read: {note}" for note in self.readings]
        if self.arrays != "numpy":
            out.append(f"{self.arrays} arrays: your functions got {self.copies} on their "
                       f"device; {self.transfers} arrays or values read back")  # fmt: skip
        if self.diagnosis is not None and not self.diagnosis.correct:
            out += [f"diagnosis: [{d.kind}] {', '.join(d.parameters)}: {d.detail}"
                    for d in self.diagnosis.defects]  # fmt: skip
        for p in self.primitives:
            out += p.summary().splitlines()
        return out

    def __str__(self) -> str:
        """The table, then ``name: worst verdict`` and the notes."""
        lines = aligned(TABLE, self.table())
        return "\n".join(
            [*lines, f"{self.name}: {self.worst()}", *(f"  {n}" for n in self.notes())]
        )


def _why(own: bool, meant: bool | None, gap: float | None) -> str:
    if meant is None:
        return ("the derivative of your loss" if own else
                "not the derivative of your loss")  # fmt: skip
    if own and meant:
        return "the derivative of your loss and of the network you meant"
    if meant:
        where = f" (their values differ by {gap:.2g} at this point)" if gap else ""
        return (
            "the derivative of the network you meant, not exactly of your loss: your loss is "
            f"another function{where}, such as one with a guard like log(p + eps)"
        )
    if own:
        return "the derivative of your loss, which is not the network you meant"
    return "the derivative of neither your loss nor the network you meant"


def audit_case(case: Case, *, seed: int = 0, **check_options: Any) -> CaseAudit:
    """Judge every parameter of ``case`` (see the module's docstring); ``check_options`` go to
    ``check_gradients``."""
    loss, grad = split(case.loss) if case.grad is None else (case.loss, case.grad)
    # CuPy or jax.numpy parameters: every oracle below sees host functions of NumPy points.
    loss, grad, params, kind = on_host(loss, grad, case.params)
    fd = check_gradients(loss, grad, params, seed=seed, **check_options)
    judged = _rows(case, "finite_difference", "own_loss", fd)
    trusted_fn = None
    gap = None
    if case.reference is not None:
        more, gap = _against_reference(case, loss, params, fd, seed)
        judged += more

        def trusted_fn(p: Mapping[str, Any]) -> Mapping[str, Any]:
            return _reference_gradient(case, p)[1]

    verdicts = []
    for name in case.params:
        mine = [j for j in judged if j.parameter == name]
        own = all(j.report.passed for j in mine if j.oracle == "finite_difference")
        meant_rows = [j for j in mine if j.oracle == "jax"]
        meant = all(j.report.passed for j in meant_rows) if meant_rows else None
        found = verdict(own, meant)
        behind = [j for j in mine if not j.report.passed] or mine
        error = max(j.report.max_relative_error for j in behind)
        verdicts.append(ParameterVerdict(name, found, own, meant, error, _why(own, meant, gap)))
    # The diagnosis is made against the network you meant where there is one: a parameter
    # only inexact (right for that network, off by your loss's guard) is then no evidence of
    # a slip. Without one, from your loss.
    diagnosis = None
    if any(v.verdict == "wrong" or (v.own and v.meant is False) for v in verdicts):
        diagnosis = diagnose(loss, grad, params, reference=trusted_fn, layers=case.layers,
                             examples=case.examples, seed=seed)  # fmt: skip
    return CaseAudit(case.name, judged, verdicts, diagnosis, _primitives(case.primitives), gap,
                     fd.readings, kind.name, kind.reads, kind.copies)  # fmt: skip


def _rows(case: Case, oracle: str, formulation: str, report: GradientReport) -> list[Row]:
    """One row per parameter of ``report`` (``oracle`` is ``finite_difference`` or ``jax``;
    ``formulation`` says of what: ``own_loss``, ``control_variate`` or ``reference``)."""
    return [Row(case.name, "yours", "", oracle, formulation, p) for p in report.parameters
            if p.name != ALL_PARAMETERS]  # fmt: skip


def _reference_gradient(
    case: Case, params: Mapping[str, Any]
) -> tuple[float, dict[str, NDArray[np.float64]]]:
    """``reference_gradient`` of the case's reference, its failures named as the case's."""
    from oracles.own_network.meant import reference_gradient

    assert case.reference is not None
    try:
        return reference_gradient(case.reference, params)
    except (ImportError, ValueError):
        raise
    except Exception as exc:  # the user's JAX code: what it raised is what they need to see
        raise ValueError(f"Case {case.name!r}: the reference raised {type(exc).__name__}: "
                         f"{exc} (given parameters {sorted(params)})") from exc  # fmt: skip


def _against_reference(
    case: Case, loss: Loss, params: Mapping[str, Any], fd: GradientReport, seed: int
) -> tuple[list[Row], float]:
    """The judgements by ``jax.grad`` of the reference and by the control variate, at the
    tolerances of the dtype the gradient came in (float32's where the loss is computed with
    float32's precision inside: its gradient is the derivative of a loss that differs from the
    reference by its rounding); and |loss - reference| at the point."""
    from oracles.own_network.control import check_with_control_variate
    from oracles.own_network.meant import float64, jax_modules

    jax, _ = jax_modules()
    x = float64_copies(params)
    value, trusted = _reference_gradient(case, x)
    shaped = {k: np.asarray(trusted[k]).reshape(x[k].shape) for k in x}
    precision = fd.precision
    low = precision is not None and precision.low(precision.noise)
    tol = autodiff_tolerance_for("float32" if low and fd.gradient_dtype == "float64"
                                 else fd.gradient_dtype)  # fmt: skip
    noise = {n: precision.unit((n,), precision.f0) for n in x if precision.low((n,))} if low else {}
    exact = compare_gradients(fd.gradient, shaped, oracle="jax (reference)", rtol=tol.rtol,
                              atol=tol.atol)  # fmt: skip
    evaluate = jax.jit(case.reference)  # traceable: jax.grad has just traced it

    def reference_value(p: Mapping[str, Any]) -> float:
        with float64():
            return float(evaluate(p))

    control = check_with_control_variate(loss, reference_value, fd.gradient, shaped, x,
                                         tolerance=tol, seed=seed, noise=noise)  # fmt: skip
    judged = _rows(case, "jax", "reference", exact)
    judged += _rows(case, "finite_difference", "control_variate", control)
    return judged, abs(float(loss(float64_copies(params))) - value)


def _primitives(primitives: Primitives | None) -> list[Any]:
    if not primitives:
        return []
    from oracles.checks.primitives import check_primitive

    out = []
    for kind, given in primitives.items():
        fn, conventions = given if isinstance(given, tuple) else (given, {})
        out.append(check_primitive(fn, kind, **dict(conventions)))
    return out


def audit_cases(cases: Case | Sequence[Case], **options: Any) -> list[CaseAudit]:
    """``audit_case`` of each case (one Case or a list of them)."""
    many = [cases] if isinstance(cases, Case) else list(cases)
    bad = [c for c in many if not isinstance(c, Case)]
    if bad or not many:
        raise TypeError(f"expected a Case or a list of Cases, got {bad[0] if bad else many!r}")
    return [audit_case(c, **options) for c in many]


def assert_case(case: Case, *, fail_on: str = "wrong", **options: Any) -> CaseAudit:
    """``audit_case``, raising AssertionError with the report when some verdict is ``fail_on``
    (``wrong`` or ``inexact``) or worse, for use inside a pytest suite."""
    __tracebackhide__ = True
    audit = audit_case(case, **options)
    if audit.fails(fail_on):
        raise AssertionError(str(audit))
    return audit
