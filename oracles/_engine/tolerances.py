"""Tolerances and step sizes, kept as data keyed by dtype.

Tolerances are keyed by the dtype of the gradient under test: a gradient computed in
float32 can only be as right as float32 allows, even though the finite differences
themselves always run in float64. Steps follow the usual error balance: a central
difference has truncation error O(h^2) and rounding error O(eps / h), smallest near
h = eps^(1/3); Richardson extrapolation (error O(h^4)) is best near h = eps^(1/5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike


@dataclass(frozen=True)
class Tolerance:
    """|analytic - numerical| <= rtol * max(|analytic|, |numerical|) + atol (+ rounding noise)."""

    rtol: float
    atol: float


TOLERANCES: dict[np.dtype[Any], Tolerance] = {
    np.dtype(np.float64): Tolerance(rtol=1e-6, atol=1e-10),
    np.dtype(np.float32): Tolerance(rtol=2e-3, atol=1e-6),
    np.dtype(np.float16): Tolerance(rtol=5e-2, atol=1e-3),
}

# An exact (autodiff) gradient differs from a right hand-written one only by rounding.
# ``atol`` here is relative to the largest |entry| of the parameter's reference gradient,
# so that entries that cancel to near zero are judged on the parameter's scale. Measured
# (2026-12-01): a right float64 gradient of every document's network, 64 MNIST examples,
# against jax.grad in float64: |a - r| <= 5.8e-14 x max|r|, and relative error <= 6.4e-13
# on entries above 1e-3 x max|r|; a float32 one: 5.0e-5 x max|r| and 1.8e-4.
AUTODIFF_TOLERANCES: dict[np.dtype[Any], Tolerance] = {
    np.dtype(np.float64): Tolerance(rtol=1e-10, atol=1e-12),
    np.dtype(np.float32): Tolerance(rtol=2e-3, atol=5e-4),
    np.dtype(np.float16): Tolerance(rtol=5e-2, atol=5e-2),
}

EPS64 = float(np.finfo(np.float64).eps)

# The step as a fraction of max(|x|, 1), by method.
RELATIVE_STEPS: dict[str, float] = {
    "central": EPS64 ** (1 / 3),
    "richardson": EPS64 ** (1 / 5),
    "complex_step": 1e-20,
}

# Rounding error of one loss evaluation, as a multiple of eps * (|f(x)| + 1); it enters the
# tolerance divided by the step, so that near-zero gradients are judged fairly. Measured
# (2026-12-01, max deviation from a line of f(x + t v), |t| <= 1e-10, 8 random directions):
# 1.1-2.7 on every document's network (64 MNIST examples) and the mutation suite's smooth
# ones; 16 keeps a margin of 6 and lets the check resolve errors of relative size 1e-6 (64
# left a 1e-5 error on one sigmoid network under the noise).
LOSS_ROUNDING_ULPS = 16.0


def tolerance_for(
    dtype: DTypeLike, rtol: float | None = None, atol: float | None = None
) -> Tolerance:
    """The tolerance for a gradient of ``dtype`` (a floating dtype in TOLERANCES), with ``rtol``
    and ``atol`` where the caller gives them."""
    return _chosen(TOLERANCES, dtype, rtol, atol)


def autodiff_tolerance_for(
    dtype: DTypeLike, rtol: float | None = None, atol: float | None = None
) -> Tolerance:
    """The tolerance against an exact gradient for a gradient of ``dtype`` (atol relative to
    the parameter's largest reference entry), with ``rtol`` and ``atol`` where given."""
    return _chosen(AUTODIFF_TOLERANCES, dtype, rtol, atol)


def _chosen(
    table: dict[np.dtype[Any], Tolerance], dtype: DTypeLike, rtol: float | None, atol: float | None
) -> Tolerance:
    key = np.dtype(dtype)
    if key not in table:
        raise TypeError(f"no tolerance for dtype {key}; expected one of {list(table)}")
    found = table[key]
    return Tolerance(found.rtol if rtol is None else rtol, found.atol if atol is None else atol)


def step_for(method: str, scale: float, rho: float = EPS64) -> float:
    """The finite-difference step for ``method`` at a value of magnitude ``scale``, for a loss
    whose relative rounding noise is ``rho`` (float64's eps by default;
    ``oracles._engine.precision`` measures it)."""
    if method not in RELATIVE_STEPS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(RELATIVE_STEPS)}")
    if method == "complex_step":
        return RELATIVE_STEPS[method]
    power = 1 / 3 if method == "central" else 1 / 5
    return RELATIVE_STEPS[method] * float((rho / EPS64) ** power) * max(abs(scale), 1.0)
