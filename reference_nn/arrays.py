"""The array module of an array (NumPy, CuPy or jax.numpy) and checks done at API boundaries."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

# The device flags that the checks inside one ``read_back_once`` call have queued; None
# outside such a call. Context-local, as numpy.errstate's settings are.
_queued_flags: ContextVar[list[Any] | None] = ContextVar("queued_flags", default=None)


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
    if not suspect(~xp.isfinite(total)):
        return
    if not bool(xp.all(xp.isfinite(array))):
        bad = "NaN" if bool(xp.any(xp.isnan(array))) else "an infinite value"
        raise ValueError(f"{what} contains {bad}")


def suspect(flag: Any) -> bool:
    """Whether a check must look closer: ``flag`` is a 0-d boolean array, True where the
    input may be bad. Read at once, except a CuPy flag inside ``read_back_once``: that one
    is queued, without waiting for the device, and read with the others when the call ends."""
    queued = _queued_flags.get()
    if queued is not None and array_module(flag).__name__ == "cupy":
        queued.append(flag)
        return False
    return bool(flag)


def read_back_once(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with the device flags of its checks read back in one transfer when it returns,
    rather than each where it is made: on a GPU every read back waits for the device, and a
    training step checks every layer. When a flag is raised, ``fn`` runs again with every
    check read at once, which raises the error that names the problem, as on the CPU (``fn``
    must not write its inputs). If that run finds none (a sum of squares that overflowed),
    the first run's result stands."""

    @wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        queued: list[Any] = []
        token = _queued_flags.set(queued)
        try:
            result = fn(*args, **kwargs)
        finally:
            _queued_flags.reset(token)
        if queued and any(array_module(queued[0]).stack(queued).tolist()):
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
