"""The array module of an array (NumPy, CuPy or jax.numpy) and checks done at API boundaries."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np


def array_module(*arrays: Any) -> ModuleType:
    """The module (numpy, cupy or jax.numpy) that owns the first non-NumPy array, else numpy."""
    for array in arrays:
        root = type(array).__module__.split(".")[0]
        if root == "cupy":
            return importlib.import_module("cupy")
        if root in ("jax", "jaxlib"):
            return importlib.import_module("jax.numpy")
    return np


def is_traced(array: Any) -> bool:
    """True for a JAX tracer (inside jax.grad or jit), whose values cannot be inspected."""
    return any(cls.__name__ == "Tracer" for cls in type(array).__mro__)


def require_finite(array: Any, what: str) -> None:
    """Raise ValueError naming ``what`` when ``array`` holds a NaN or an infinity."""
    if is_traced(array):
        return
    xp = array_module(array)
    # A finite sum of squares implies finite entries (a NaN or an infinity would carry into
    # it); as one BLAS dot it needs no temporary the size of the array and runs on every
    # core. Only a non-finite result (a bad entry, or squares that overflow) needs the test
    # entry by entry.
    flat = array.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow here is expected
        total = xp.dot(flat, flat)
    if bool(xp.isfinite(total)):
        return
    if not bool(xp.all(xp.isfinite(array))):
        bad = "NaN" if bool(xp.any(xp.isnan(array))) else "an infinite value"
        raise ValueError(f"{what} contains {bad}")


def require_ndim(array: Any, ndim: int, what: str) -> None:
    """Raise ValueError naming ``what`` when ``array`` is not ``ndim``-dimensional."""
    if getattr(array, "ndim", None) != ndim:
        shape = getattr(array, "shape", type(array).__name__)
        raise ValueError(f"{what} must be {ndim}-dimensional, got shape {shape}")


def require_float(array: Any, what: str) -> None:
    """Raise TypeError naming ``what`` when ``array`` is not of a real floating dtype."""
    dtype = getattr(array, "dtype", None)
    if dtype is None or np.dtype(dtype).kind != "f":
        raise TypeError(f"{what} must be a floating-point array, got dtype {dtype}")
