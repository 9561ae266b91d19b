"""Numerical derivatives of a scalar function along a direction, by finite differences.

``f`` maps a flat float64 vector to a float. Every estimate is of the directional
derivative f'(x; v) = v . grad f(x). With f(x + k h v) written f_k:

    central      (f_1 - f_-1) / 2h                        error O(h^2)
    central2     (f_2 - f_-2) / 4h                        error O(h^2), 4x larger
    richardson   (4 central - central2) / 3               error O(h^4)
    forward      (-3 f_0 + 4 f_1 - f_2) / 2h              one-sided, error O(h^2)
    backward     (3 f_0 - 4 f_-1 + f_-2) / 2h             one-sided, error O(h^2)

Near a kink (a ReLU pre-activation crossing zero within 2h of x), the central
estimates straddle it, but one of the one-sided ones sees only the branch x is on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]


@dataclass(frozen=True)
class Estimates:
    """The finite-difference estimates of f'(x; v) at one step h, and that step."""

    step: float
    central: float
    central2: float
    richardson: float
    forward: float
    backward: float


def estimates(f: Callable[[float], float], f0: float, h: float) -> Estimates:
    """All five estimates of g'(0) for the 1-D slice g(t) = f(x + t v), given g(0) = ``f0``."""
    fp1, fm1, fp2, fm2 = f(h), f(-h), f(2 * h), f(-2 * h)
    central = (fp1 - fm1) / (2 * h)
    central2 = (fp2 - fm2) / (4 * h)
    return Estimates(
        step=h,
        central=central,
        central2=central2,
        richardson=(4 * central - central2) / 3,
        forward=(-3 * f0 + 4 * fp1 - fp2) / (2 * h),
        backward=(3 * f0 - 4 * fm1 + fm2) / (2 * h),
    )


def central_difference(f: Callable[[Vector], float], x: Vector, v: Vector, h: float) -> float:
    """(f(x + h v) - f(x - h v)) / 2h: the directional derivative along ``v``, error O(h^2)."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def complex_step(
    f: Callable[[NDArray[np.complex128]], complex], x: Vector, v: Vector, h: float = 1e-20
) -> float:
    """Im f(x + i h v) / h: exact to rounding for a real-analytic f with complex-safe ops."""
    return float(np.imag(f(x + 1j * h * v))) / h
