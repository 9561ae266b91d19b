"""Finite-difference estimates of g'(0) for a 1-D slice g(t) = f(x + t v), g(k h) written g_k:

    central      (g_1 - g_-1) / 2h                 error O(h^2)
    central2     (g_2 - g_-2) / 4h                 error O(h^2), 4x larger
    richardson   (4 central - central2) / 3        error O(h^4)
    forward      (-3 g_0 + 4 g_1 - g_2) / 2h       one-sided, error O(h^2)
    backward     (3 g_0 - 4 g_-1 + g_-2) / 2h      one-sided, error O(h^2)

Near a kink within 2h of 0 the central estimates straddle it; one one-sided estimate does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimates:
    """The five estimates of g'(0) at one step h, and that step."""

    step: float
    central: float
    central2: float
    richardson: float
    forward: float
    backward: float


def estimates(g: Callable[[float], float], g0: float, h: float) -> Estimates:
    """All five estimates of g'(0) at step ``h``, given g(0) = ``g0``."""
    gp1, gm1, gp2, gm2 = g(h), g(-h), g(2 * h), g(-2 * h)
    central = (gp1 - gm1) / (2 * h)
    central2 = (gp2 - gm2) / (4 * h)
    return Estimates(
        step=h,
        central=central,
        central2=central2,
        richardson=(4 * central - central2) / 3,
        forward=(-3 * g0 + 4 * gp1 - gp2) / (2 * h),
        backward=(3 * g0 - 4 * gm1 + gm2) / (2 * h),
    )
