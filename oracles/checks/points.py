"""Checking a gradient at many points: one that is right at the point checked can be wrong
elsewhere (a derivative clipped to a range, a branch only large activations reach)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.arrays import Kind, prepared
from oracles._engine.diagnosis import diagnosis_of
from oracles._engine.inputs import Grad, Loss, Params, float64_copies
from oracles._engine.records import GradientReport
from oracles.checks.adapters import unwrapped
from oracles.checks.gradients import check_gradients, on_device


@dataclass(frozen=True, eq=False)
class PointsReport:
    """The checks at each point, in order, up to the first that failed."""

    reports: tuple[tuple[float, int, GradientReport], ...]
    failing_point: dict[str, NDArray[np.float64]] | None

    @property
    def passed(self) -> bool:
        """Every point checked passed."""
        return self.failing_point is None

    def __bool__(self) -> bool:
        """The verdict: false when some point failed."""
        return self.passed

    def __str__(self) -> str:
        """The summary: ``print(report)`` shows what a person reads, not the arrays."""
        return self.summary()

    def summary(self) -> str:
        """How many points passed, and the first failure's scale, index and report."""
        if self.passed:
            return f"gradients agree at all {len(self.reports)} points"
        scale, index, report = self.reports[-1]
        where = " (a degenerate point: see below)" if report.degenerate else ""
        return (
            f"gradients disagree at point {index} of scale {scale:g}{where} (after "
            f"{len(self.reports) - 1} points that agree; the point is in failing_point)\n"
            + report.summary()
        )


def points(params: Params, *, count: int, scales: Sequence[float], seed: int) -> list[Any]:
    """(scale, index, point) for each scale and index: the given point scaled by ``scale`` at
    index 0, then ``scale`` (p + s_p z) with z standard normal and s_p the parameter's
    standard deviation (1 where it is constant)."""
    x = float64_copies(params)
    rng = np.random.default_rng(seed)
    out = []
    for scale in scales:
        for index in range(count):
            point = {}
            for name, v in x.items():
                spread = float(np.std(v)) or 1.0
                noise = rng.standard_normal(v.shape) * spread if index else 0.0
                point[name] = scale * (v + noise)
            out.append((scale, index, point))
    return out


def check_at_points(
    loss: Loss,
    grad: Grad | None = None,
    params: Params | None = None,
    *,
    count: int = 4,
    scales: Sequence[float] = (0.1, 1.0, 10.0),
    seed: int = 0,
    **options: Any,
) -> PointsReport:
    """``check_gradients`` (with ``options``) at ``count`` points per scale (see ``points``),
    reproducibly from ``seed``, stopping at the first point that fails. The report is falsy
    when a point fails."""
    params, _ = unwrapped(params)
    loss, grad, params, kind = prepared("check_at_points", loss, grad, params)
    return _at_points(loss, grad, params, kind, count, scales, seed, options)


def assert_at_points(
    loss: Loss,
    grad: Grad | None = None,
    params: Params | None = None,
    *,
    layers: Sequence[tuple[str, ...]] | None = None,
    examples: int | None = None,
    count: int = 4,
    scales: Sequence[float] = (0.1, 1.0, 10.0),
    seed: int = 0,
    **options: Any,
) -> PointsReport:
    """``check_at_points``, raising AssertionError with the failing point's report and its
    diagnosis (``layers`` and ``examples`` as for ``diagnose``) when a point fails."""
    __tracebackhide__ = True
    params, layers = unwrapped(params, layers)
    loss, grad, params, kind = prepared("assert_at_points", loss, grad, params)
    found = _at_points(loss, grad, params, kind, count, scales, seed, options)
    if found.failing_point is not None:
        report = found.reports[-1][2]
        diagnosis = diagnosis_of(report, loss, grad, found.failing_point, layers=layers,
                                 examples=examples, seed=options.get("seed", 0))  # fmt: skip
        raise AssertionError(f"{found.summary()}\n{diagnosis}")
    return found


def _at_points(
    loss: Loss,
    grad: Grad,
    params: Params,
    kind: Kind,
    count: int,
    scales: Sequence[float],
    seed: int,
    options: dict[str, Any],
) -> PointsReport:
    """The checks of ``check_at_points`` on host-side functions (``arrays.on_host``)."""
    done: list[tuple[float, int, GradientReport]] = []
    for scale, index, point in points(params, count=count, scales=scales, seed=seed):
        report = on_device(check_gradients(loss, grad, point, **options), kind)
        done.append((scale, index, report))
        if not report.passed:
            return PointsReport(tuple(done), point)
    return PointsReport(tuple(done), None)
