"""Finite differences of your loss with the network you meant as a control variate.

The loss L your code computes and the reference objective R (exact gradient r by autodiff)
differ by D = L - R, which is small and smooth when they are nearly the same function (a
guard such as log(p + 1e-8), say) and keeps no kink that L and R share. So along a direction
v, dL/dv = r.v + dD/dv, where dD/dv is measured by Richardson differences at a large step
(its truncation error scales with D, not with L). That resolves the derivative of your own
loss about a thousand times more finely than plain differences of L do: fine enough to tell
whether a gradient right for the network you meant is exactly the derivative of your loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.records import GradientReport, ParameterReport, compared
from oracles._engine.tolerances import AUTODIFF_TOLERANCES, EPS64, LOSS_ROUNDING_ULPS, Tolerance

STEP = 1e-3  # the step along a unit direction, times max(1, the parameter's largest |entry|)
DIRECTIONS = 4  # random unit directions per parameter

Arrays = dict[str, NDArray[np.float64]]


@dataclass(frozen=True, eq=False)
class Along:
    """A unit direction over one parameter's entries."""

    name: str
    v: NDArray[np.float64]

    def dot(self, gradient: Mapping[str, NDArray[Any]]) -> float:
        """The derivative along this direction of a gradient (a dict like the parameters)."""
        return float(np.sum(np.asarray(gradient[self.name], dtype=np.float64) * self.v))


def check_with_control_variate(
    loss: Callable[[Arrays], float],
    reference: Callable[[Arrays], float],
    analytic: Mapping[str, NDArray[np.float64]],
    trusted: Mapping[str, NDArray[np.float64]],
    params: Mapping[str, NDArray[np.float64]],
    *,
    directions: int = DIRECTIONS,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    noise: Mapping[str, float] | None = None,
) -> GradientReport:
    """Judge ``analytic`` (the gradient under test at ``params``) as the derivative of ``loss``
    along ``directions`` random unit directions per parameter: against r.v + dD/dv, where
    ``trusted`` = r is the exact gradient of ``reference`` at ``params`` and D = loss -
    reference. Allowance: ``tolerance`` (autodiff's float64 one by default; ``atol`` relative
    to the norm of r over the parameter) plus the measured error of dD/dv (the two Richardson
    steps' disagreement and the losses' rounding over the step). ``noise``: the noise
    allowance of one evaluation of ``loss`` along each parameter, where it exceeds float64's
    rounding (``oracles._engine.precision``, for a loss computed in float32 inside)."""
    tol = AUTODIFF_TOLERANCES[np.dtype(np.float64)] if tolerance is None else tolerance
    rng = np.random.default_rng(seed)
    x = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    f0 = float(loss({k: v.copy() for k, v in x.items()}))
    r0 = float(reference({k: v.copy() for k, v in x.items()}))
    reports = []
    for name, value in x.items():
        h = STEP * max(1.0, float(np.max(np.abs(value), initial=0.0)))
        rounding = LOSS_ROUNDING_ULPS * EPS64 * (abs(f0) + abs(r0) + 1.0)
        noise_h = 2 * (rounding + (noise or {}).get(name, 0.0)) / h
        atol = tol.atol * float(np.linalg.norm(trusted[name]))
        alongs, a, n, allowed = [], [], [], []
        for _ in range(directions):
            v = rng.standard_normal(value.shape)
            v /= np.linalg.norm(v)

            def gap(t: float, v: NDArray[np.float64] = v, name: str = name) -> float:
                moved = {k: (w + t * v if k == name else w).copy() for k, w in x.items()}
                return float(loss(moved)) - float(reference(moved))

            s1 = (gap(h) - gap(-h)) / (2 * h)
            s2 = (gap(h / 2) - gap(-h / 2)) / h
            along = Along(name, v)
            ai, ni = along.dot(analytic), along.dot(trusted) + (4 * s2 - s1) / 3
            error = abs(s2 - s1) / 3 + noise_h
            alongs.append(along)
            a.append(ai)
            n.append(ni)
            allowed.append(tol.rtol * max(abs(ai), abs(ni)) + atol + error)
        a_, n_, allowed_ = np.array(a), np.array(n), np.array(allowed)
        comparisons = compared(a_, n_, allowed_, directions=tuple(alongs))
        reports.append(ParameterReport(name, value.shape, "directional", tol.rtol, atol,
                                       comparisons))  # fmt: skip
    gradient = {k: np.asarray(v, dtype=np.float64) for k, v in analytic.items()}
    return GradientReport("finite_difference (reference as control variate)", "richardson",
                          "directional", "float64", tuple(reports), gradient)  # fmt: skip
