"""The array module of an array (NumPy, CuPy or jax.numpy) and checks done at API boundaries."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

# Inside a ``read_back_once`` call, the running sum of its checks' device values (a list of
# at most one array); None outside such a call. Context-local, as numpy.errstate's settings.
_pending: ContextVar[list[Any] | None] = ContextVar("pending_checks", default=None)


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
    if deferring(array):
        # A NaN or an infinity carries into the sum of the entries (which may also overflow,
        # rarely: read_back_once's eager rerun tells the two apart). One reduction kernel.
        check_later(xp.sum(array))
        return
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


def deferring(array: Any) -> bool:
    """True for a CuPy array inside a ``read_back_once`` call: a check of it then hands
    ``check_later`` a device value instead of reading one back, which waits for the GPU."""
    return _pending.get() is not None and array_module(array).__name__ == "cupy"


def check_later(value: Any) -> None:
    """Queue ``value``, a 0-d device array that is finite where a check passes, to be read
    back when the enclosing ``read_back_once`` call returns (added to the others: a NaN or
    an infinity among them carries into the sum)."""
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("check_later needs an enclosing read_back_once call")
    if pending:
        pending[0] = pending[0] + value
    else:
        pending.append(value)


def read_back_once(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with its checks of CuPy arrays read back from the device once, when it returns,
    rather than each where it is made: every read back waits for the GPU, and each launch
    costs as much as the work of a small layer. If a check failed, ``fn`` runs again with
    every check made at once, which raises the error that names the problem, as on the CPU
    (so ``fn`` must not write its inputs); if none fails then (a sum that overflowed), the
    first run's result stands."""

    @wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        pending: list[Any] = []
        token = _pending.set(pending)
        try:
            result = fn(*args, **kwargs)
        finally:
            _pending.reset(token)
        if pending and not math.isfinite(float(pending[0])):
            fn(*args, **kwargs)
        return result

    return call


def writable(array: Any) -> bool:
    """True where ``array`` may be written in place: a NumPy array with its writeable flag
    set, or a CuPy array; False for JAX arrays (immutable) and tracers."""
    if array_module(array).__name__ == "cupy":
        return True
    return isinstance(array, np.ndarray) and bool(array.flags.writeable)


def over(array: Any, wanted: bool = True) -> dict[str, Any]:
    """``{"out": array}`` where ``wanted`` and ``array`` is ``writable``, else ``{}``: the
    keyword arguments that let a ufunc or matmul write its result over ``array`` where the
    module allows (NumPy, CuPy) and return a new array elsewhere (JAX)."""
    return {"out": array} if wanted and writable(array) else {}


def exp_in_place(array: Any) -> Any:
    """exp(array), written over ``array`` where it is ``writable`` (NumPy, CuPy), else (JAX,
    whose arrays are immutable) a new array. Same shape and dtype."""
    return array_module(array).exp(array, **over(array))


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
