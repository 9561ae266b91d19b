"""``compare_gradients``: a hand-written gradient judged entry by entry against an exact one
(autodiff, or any trusted gradient), at autodiff's own precision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.records import GradientReport, ParameterReport, compared
from oracles._engine.tolerances import autodiff_tolerance_for


def compare_gradients(
    analytic: Mapping[str, NDArray[Any]],
    reference: Mapping[str, NDArray[Any]],
    *,
    oracle: str,
    rtol: float | None = None,
    atol: float | None = None,
    scale: Mapping[str, NDArray[Any]] | None = None,
) -> GradientReport:
    """Judge ``analytic`` against an exact ``reference`` (dicts of same-shaped arrays).

    Passes where |a - r| <= rtol max(|a|, |r|) + atol max|r|, the last over the parameter's
    finite reference entries (of ``scale``'s, where given: a slip may leave a parameter's
    reference at rounding level); tolerances from ``AUTODIFF_TOLERANCES`` for the dtype of
    ``analytic`` unless given. Entries whose reference is not finite are set aside.
    """
    dtype = min((np.asarray(g).dtype for g in analytic.values()), key=lambda d: np.finfo(d).bits)
    tol = autodiff_tolerance_for(dtype, rtol, atol)
    reports = []
    gradient = {}
    for name, value in analytic.items():
        a = np.asarray(value, dtype=np.float64)
        r = np.asarray(reference[name], dtype=np.float64)
        if a.shape != r.shape:
            raise ValueError(f"{name}: analytic shape {a.shape}, reference shape {r.shape}")
        gradient[name] = a
        a, r = a.reshape(-1), r.reshape(-1)
        finite = np.isfinite(r)
        r0 = np.where(finite, r, 0.0)
        s = r0 if scale is None else np.asarray(scale[name], dtype=np.float64)
        atol_abs = tol.atol * float(np.max(np.abs(s[np.isfinite(s)]), initial=0.0))
        allowed = tol.rtol * np.maximum(np.abs(a), np.abs(r0)) + atol_abs
        comparisons = compared(a, r, allowed, low=np.where(finite, r, -np.inf),
                               high=np.where(finite, r, np.inf))  # fmt: skip
        reports.append(ParameterReport(name, np.shape(value), "all", tol.rtol, atol_abs,
                                       comparisons))  # fmt: skip
    return GradientReport(oracle, "autodiff", "all", str(dtype), tuple(reports), gradient)
