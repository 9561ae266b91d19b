"""A stand-in for CuPy built on NumPy, to run the ``gpu`` style where there is no CUDA device.

It checks the part of the ``gpu`` style that does not depend on CUDA. Each array operation
must go through the array's own module (``arrays.array_module`` has to find "cupy"). A host
(NumPy) array must never meet a device array in one operation: CuPy raises TypeError for
that. Results have to come back through ``asnumpy``. The kernels are NumPy's own, so this
says nothing about CUDA: the ``gpu``-marked tests check that on a GPU.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

# How many times a value was read back to the host (bool(), float(), tolist(), asnumpy...):
# on a GPU each one waits for the device. Reset by module().
_reads = [0]


def reads() -> int:
    """Read backs from the device since the last ``module()``."""
    return _reads[0]


class ndarray(np.ndarray):  # CuPy's own name
    """A "device" array: NumPy memory that, as in CuPy, refuses host arrays as operands."""

    def __bool__(self) -> bool:
        _reads[0] += 1
        return bool(self.view(np.ndarray))

    def __float__(self) -> float:
        _reads[0] += 1
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        _reads[0] += 1
        return int(self.view(np.ndarray))

    def item(self, *args: Any) -> Any:
        _reads[0] += 1
        return self.view(np.ndarray).item(*args)

    def tolist(self) -> Any:
        _reads[0] += 1
        return self.view(np.ndarray).tolist()

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out", ())
        _refuse_host(inputs + tuple(out))
        if out:
            kwargs["out"] = tuple(_to_numpy_view(o) for o in out)
        result = getattr(ufunc, method)(*map(_to_numpy_view, inputs), **kwargs)
        if out and len(out) == 1:
            return out[0]
        return _to_device_view(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        return _on_device(func)(*args, **kwargs)


ndarray.__module__ = "cupy"  # what arrays.array_module reads to find the array's module


def _walk(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _walk(item)]
    if isinstance(value, dict):
        return _walk(list(value.values()))
    return [value]


def _refuse_host(values: Any) -> None:
    for leaf in _walk(values):
        if isinstance(leaf, np.ndarray) and not isinstance(leaf, ndarray):
            raise TypeError(
                f"Unsupported type {type(leaf)}: a host (NumPy) array of shape {leaf.shape} "
                "met a device array; CuPy refuses this, move it with cupy.asarray"
            )


def _to_numpy_view(value: Any) -> Any:
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy_view(item) for item in value)
    return value


def _to_device_view(value: Any) -> Any:
    # CuPy returns 0-d arrays where NumPy returns scalars (reductions, indexing).
    if isinstance(value, np.generic):
        return np.asarray(value).view(ndarray)
    if isinstance(value, np.ndarray):
        return value.view(ndarray)
    if isinstance(value, tuple):
        return tuple(_to_device_view(item) for item in value)
    return value


def _on_device(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        _refuse_host((args, kwargs))
        unwrapped = {key: _to_numpy_view(value) for key, value in kwargs.items()}
        return _to_device_view(func(*_to_numpy_view(args), **unwrapped))

    return call


class _DeviceUfunc:
    """A NumPy ufunc that, as CuPy's, takes device arrays only and returns one."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_host((args, kwargs))
        # Python scalars alone would give a NumPy scalar: as CuPy, answer on the device.
        return _to_device_view(self._ufunc(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._ufunc, name)
        return _on_device(attr) if callable(attr) else attr


def asarray(value: Any, dtype: Any = None) -> ndarray:
    """Host (or device) data as a device array, copying host data as CuPy does."""
    if isinstance(value, ndarray):
        return value if dtype is None else value.astype(dtype, copy=False)
    return np.array(value, dtype=dtype, copy=True).view(ndarray)


def asnumpy(value: Any) -> np.ndarray:
    """A device array copied back to the host as a plain NumPy array."""
    _reads[0] += 1
    return np.array(_to_numpy_view(value), copy=True)


class _Stream:
    def synchronize(self) -> None:
        """Nothing to wait for: NumPy has finished every operation when it returns."""


def module() -> types.ModuleType:
    """A fresh module named ``cupy`` exposing NumPy's namespace on device arrays."""
    _reads[0] = 0
    cupy = types.ModuleType("cupy", __doc__)
    cupy.ndarray = ndarray  # type: ignore[attr-defined]
    cupy.asarray = asarray  # type: ignore[attr-defined]
    cupy.asnumpy = asnumpy  # type: ignore[attr-defined]
    cupy.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        get_current_stream=_Stream,
    )

    def __getattr__(name: str) -> Any:  # a module __getattr__ (PEP 562)
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc):
            return _DeviceUfunc(attr)
        if callable(attr) and not isinstance(attr, type):
            return _on_device(attr)
        return attr  # dtypes, constants, submodules

    cupy.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return cupy
