"""What the checker accepts: parameters and gradients, read into float64 copies or refused
with an error that names the parameter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

Params = Mapping[str, NDArray[Any]]
Loss = Callable[[dict[str, Any]], Any]
Grad = Callable[[dict[str, Any]], Mapping[str, Any]]
Point = dict[str, NDArray[np.float64]]


def float64_copies(params: Params) -> Point:
    """Float64 copies of ``params`` (a non-empty dict of finite float arrays)."""
    if not isinstance(params, Mapping) or not params:
        raise TypeError("params must be a non-empty dict of float arrays")
    copies: Point = {}
    for name, value in params.items():
        array = np.asarray(value)
        if array.dtype.kind != "f":
            raise TypeError(f"params[{name!r}] must be a float array, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"params[{name!r}] contains NaN or an infinite value")
        copies[name] = np.array(array, dtype=np.float64, copy=True)
    return copies


def gradient_at(grad: Grad, x: Point) -> tuple[Point, np.dtype[Any]]:
    """``grad`` called on copies of ``x``, checked for keys, shapes, dtype and finiteness, in
    float64; and the least precise dtype it came back in."""
    given = grad({k: v.copy() for k, v in x.items()})
    if set(given) != set(x):
        raise ValueError(f"grad returned keys {sorted(given)}, params have {sorted(x)}")
    dtypes = []
    out: Point = {}
    for name, value in x.items():
        g = np.asarray(given[name])
        if g.shape != value.shape:
            raise ValueError(f"grad[{name!r}] has shape {g.shape}, params[{name!r}] {value.shape}")
        if g.dtype.kind != "f":
            raise TypeError(f"grad[{name!r}] must be a float array, got dtype {g.dtype}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"grad[{name!r}] contains NaN or an infinite value")
        dtypes.append(g.dtype)
        out[name] = g.astype(np.float64)
    return out, np.dtype(min(dtypes, key=lambda d: np.finfo(d).bits))
