"""The checker's public functions: ``check_gradients``, ``assert_gradients``, ``diagnose``.

Each sees only ``loss(params) -> float`` and ``grad(params) -> dict`` over a dict of float
arrays; every evaluation runs in float64 on copies, and the caller's arrays are never changed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from oracles._engine.arrays import Kind, prepared
from oracles._engine.diagnosis import Diagnosis, diagnosis_of
from oracles._engine.inputs import Grad, Loss, Params, float64_copies, gradient_at
from oracles._engine.kinks import Problem
from oracles._engine.measure import MODES, measure, problem_for
from oracles._engine.precision import LossIgnoresParameters, ignored
from oracles._engine.records import GradientReport
from oracles._engine.tolerances import autodiff_tolerance_for, tolerance_for
from oracles.checks.adapters import unwrapped
from oracles.checks.exact import compare_gradients


class LowPrecisionGradientWarning(UserWarning):
    """The gradient under test came back in a dtype less precise than float64."""


class GradientShapeWarning(UserWarning):
    """A gradient has its parameter's entries in a shape the user's own update would
    broadcast into another shape (``b = b - lr * db`` with db (D,) for b (D, 1)) or refuse."""


def check_gradients(
    loss: Loss,
    grad: Grad | None = None,
    params: Params | None = None,
    *,
    mode: str = "auto",
    method: str = "central",
    samples: int = 32,
    directions: int = 16,
    max_coordinates: int = 16_000,
    seed: int | np.random.Generator = 0,
    rtol: float | None = None,
    atol: float | None = None,
    nondet_tol: float = 0.0,
) -> GradientReport:
    """Compare ``grad(params)`` with finite differences of ``loss``, parameter by parameter.

    ``grad`` None: ``loss(params)`` returns ``(value, gradients)``. Gradients are read as the
    update ``p -= lr * g`` applies them: under the parameter's name or ``'d' + name``, in any
    shape that broadcasts to the parameter's or has its entries; the report says how.

    ``mode``: ``all`` (every coordinate), ``sample`` (``samples`` per parameter),
    ``directional`` (random directions, up to ``directions``), or ``auto``: ``all`` up to
    ``max_coordinates`` parameters in total where that takes at most ALL_SECONDS (2 s) at the
    loss's own speed (the report says when the cost decided), else ``directional``. ``method``:
    ``central``, ``richardson`` or ``complex_step`` (a loss written with complex-safe
    operations).
    ``rtol``/``atol`` default to ``TOLERANCES`` for the dtype the gradient came back in; one
    less precise than float64 raises a LowPrecisionGradientWarning.

    The loss is measured first (``_engine.precision``): one computed with less precision than
    float64 (float32 inside) is judged with steps and rtol for the noise measured along each
    parameter, and the report says so. A loss that returns another value at the same point
    raises LossNotRepeatable, unless within ``nondet_tol`` (then judged at that noise); one that
    ignores parameters whose gradient is not zero raises LossIgnoresParameters.
    ``bool(report)`` is the verdict.
    """
    params, _ = unwrapped(params)
    loss, grad, params, kind = prepared("check_gradients", loss, grad, params)
    if mode not in (*MODES, "auto"):
        raise ValueError(f"unknown mode {mode!r}; expected one of {('auto', *MODES)}")
    x = float64_copies(params)
    analytic, dtype, readings, shape_bugs = gradient_at(grad, x)
    for bug in shape_bugs:
        warnings.warn(f"shape bug: {bug}", GradientShapeWarning, stacklevel=2)
    if dtype != np.float64:
        warnings.warn(
            f"the gradient came back in {dtype}; it is judged with {dtype} tolerances",
            LowPrecisionGradientWarning,
            stacklevel=2,
        )
    tol = tolerance_for(dtype, rtol, atol)
    rng = np.random.default_rng(seed)
    problem = problem_for(loss, grad, x, analytic, method, tol, rng.spawn(1)[0],
                          nondet_tol=nondet_tol, given_rtol=rtol is not None)  # fmt: skip
    if mode == "auto":
        mode, why = _auto(sum(v.size for v in x.values()), max_coordinates, problem)
        readings += (why,) if why else ()
    parameters = measure(problem, mode, samples=samples, directions=directions, rng=rng)
    _reads_its_parameters(problem, [p.name for p in parameters if p.mismatched], rng)
    return GradientReport("finite_difference", method, mode, str(dtype), parameters, analytic,
                          readings, kind.name, kind.reads, problem.precision,
                          shape_bugs, problem.degenerate, kind.copies)  # fmt: skip


ALL_SECONDS = 2.0  # mode auto compares every coordinate when that takes no longer than this


def _auto(size: int, max_coordinates: int, problem: Problem) -> tuple[str, str | None]:
    """Mode ``all`` up to ``max_coordinates`` entries where its 2 evaluations an entry take
    at most ALL_SECONDS at the loss's own speed; else ``directional`` (and why, where the
    cost decided)."""
    if size > max_coordinates:
        return "directional", None
    cost = 2 * size * problem.seconds_per_loss
    if cost <= ALL_SECONDS:
        return "all", None
    return "directional", (
        f"mode directional: every one of the {size} coordinates would take about {cost:.0f} s "
        f"({1e3 * problem.seconds_per_loss:.1f} ms a loss); mode='all' asks for them"
    )


def on_device(report: GradientReport, kind: Kind) -> GradientReport:
    """``report`` of a check run on host copies, said of the parameters' own ``kind`` (its
    name, and the arrays and numbers read back from their device)."""
    return replace(report, arrays=kind.name, transfers=kind.reads, copies=kind.copies)


def _reads_its_parameters(problem: Problem, failed: list[str], rng: np.random.Generator) -> None:
    """Raise LossIgnoresParameters, before any verdict, when changing a failed parameter whose
    gradient is not zero leaves the loss exactly as it was."""
    suspects = [n for n in failed if n in problem.x
                and float(np.max(np.abs(problem.analytic[n]))) > problem.tol.atol]  # fmt: skip
    if not suspects:
        return
    found = ignored(problem.loss, problem.x, problem.f0, suspects, rng.spawn(1)[0])
    if found:
        one = len(found) == 1
        raise LossIgnoresParameters(
            f"your loss does not read {', '.join(found)}: changing {'it' if one else 'them'} "
            "(by a thousandth, then by a random draw at its scale) leaves the loss at exactly "
            f"{problem.f0!r}, while grad gives {'it a gradient' if one else 'them gradients'} "
            "that are not zero. Does the code read copies of the arrays handed in, or arrays "
            "replaced while it keeps references to the old ones (a layer holding its own W)? "
            "Or is every unit those parameters feed switched off here (a dead layer)? Then "
            "check at another point. Or does a normalisation cancel them (a bias added before "
            "batch norm)? Then their right gradient is 0 and yours is wrong: with batch norm's "
            "mean term in dx, dZ sums to 0 over the batch."
        )


def assert_gradients(
    loss: Loss,
    grad: Grad | None = None,
    params: Params | None = None,
    *,
    layers: Sequence[tuple[str, ...]] | None = None,
    examples: int | None = None,
    **options: Any,
) -> GradientReport:
    """``check_gradients``, raising AssertionError with the report's table, each mismatch and
    the diagnosis (what is wrong, where; ``layers`` and ``examples`` as for ``diagnose``) when
    any parameter disagrees."""
    __tracebackhide__ = True
    params, layers = unwrapped(params, layers)
    loss, grad, params, kind = prepared("assert_gradients", loss, grad, params)
    report = on_device(check_gradients(loss, grad, params, **options), kind)
    if not report.passed:
        diagnosis = diagnosis_of(report, loss, grad, params, layers=layers, examples=examples,
                                 seed=options.get("seed", 0))  # fmt: skip
        raise AssertionError(f"{report.summary()}\n{diagnosis}")
    return report


def diagnose(
    loss: Loss,
    grad: Grad | None = None,
    params: Params | None = None,
    *,
    reference: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    layers: Sequence[tuple[str, ...]] | None = None,
    examples: int | None = None,
    **check_options: Any,
) -> Diagnosis:
    """Name the defects of ``grad(params)``, each with its parameters and layer.

    Arguments and ``check_options`` as for ``check_gradients``; every coordinate is measured
    up to ``max_coordinates`` parameters. ``reference(params) -> dict``: trusted gradients
    (autodiff, say) in place of finite differences. ``layers``: one tuple per layer, input
    layer first, of its weight, its bias and any further parameters (batch norm's gamma and
    beta); by default read from names W1, b1, W2, b2, ... ``examples``: the batch size m, so
    that a factor of m can be named as a missing division by it.
    """
    params, layers = unwrapped(params, layers)
    loss, grad, params, kind = prepared("diagnose", loss, grad, params)
    seed = check_options.get("seed", 0)
    if reference is not None:
        x = float64_copies(params)
        g, dtype, _, _ = gradient_at(grad, x)
        trusted = reference({k: v.copy() for k, v in x.items()})
        t = {k: np.asarray(trusted[k], dtype=np.float64).reshape(x[k].shape) for k in x}
        tol = autodiff_tolerance_for(dtype)
        report = compare_gradients(g, t, oracle="reference", rtol=tol.rtol, atol=tol.atol)
        return diagnosis_of(report, loss, grad, params, layers=layers, examples=examples,
                            seed=seed, trusted="the reference gradient")  # fmt: skip
    size = sum(int(np.size(v)) for v in params.values()) if isinstance(params, Mapping) else 0
    small = size <= int(check_options.get("max_coordinates", 16_000))
    options = {**check_options, "mode": "all"} if small else check_options
    report = on_device(check_gradients(loss, grad, params, **options), kind)
    return diagnosis_of(report, loss, grad, params, layers=layers, examples=examples, seed=seed)
