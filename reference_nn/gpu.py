"""The ``gpu`` style's layer: finding CuPy and a CUDA device (with a reason when either is
missing), and running the vectorised code there with one read back per call."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from types import ModuleType
from typing import Any, TypeVar

from reference_nn.arrays import array_module
from reference_nn.recipe import Recipe, recipe_for

R = TypeVar("R")


class GpuUnavailableError(RuntimeError):
    """The ``gpu`` style needs CuPy and a CUDA device; the message says which is missing."""


def require_cupy() -> ModuleType:
    """The cupy module, once it is known to see at least one CUDA device."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise GpuUnavailableError(
            "style 'gpu' needs CuPy, which is not installed "
            "(pip install 'reference-nn[gpu]' for CUDA 12, 'reference-nn[gpu-cuda13]' for CUDA 13)"
        ) from exc
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CuPy raises its own CUDARuntimeError, or others without a driver
        raise GpuUnavailableError(
            f"style 'gpu' needs a CUDA device; CuPy is installed but found none ({exc})"
        ) from exc
    if count == 0:
        raise GpuUnavailableError("style 'gpu' needs a CUDA device; CuPy found 0 devices")
    try:  # CuPy compiles its kernels at first use, with NVRTC from a CUDA toolkit
        probe = cupy.arange(3, dtype=cupy.float64)
        float((probe * probe).sum())
    except Exception as exc:
        raise GpuUnavailableError(
            f"style 'gpu' needs CuPy to run a kernel on the CUDA device, which failed ({exc}); "
            "without a local CUDA toolkit, install CuPy with its [ctk] extra"
        ) from exc
    return cupy


def gpu_unavailable_reason() -> str | None:
    """None when the ``gpu`` style can run here, else why it cannot."""
    try:
        require_cupy()
    except GpuUnavailableError as exc:
        return str(exc)
    return None


def read_back_once(fn: Callable[..., R]) -> Callable[..., R]:
    """``fn(*arrays, recipe)``, a function of ``vectorized`` on CuPy arrays, reading back from
    the device once per call instead of at each of the recipe's input checks (every read
    back waits for the GPU, and costs as much as a small layer's work).

    ``fn`` runs with the recipe's unchecked math, which hands each Z_k and the labels to
    this layer on the way (the only arrays the primitives check); one transfer then brings
    back the sum of every Z_k (a NaN or an infinity carries into it) and the labels' range.
    Where a check could fail, ``fn`` runs again with the checks, each read back where it is
    made, and raises the vectorised style's error; where none fails then (a sum that
    overflowed, a published variant's own NaN), the first result stands. A recipe that is
    not ``recipe_for`` its derivation (functions replaced by hand) runs as given, checked.
    """

    @wraps(fn)
    def call(*args: Any) -> R:
        *arrays, recipe = args
        if recipe != recipe_for(recipe.derivation):
            return fn(*args)
        Zs: list[Any] = []
        labels: list[tuple[Any, int]] = []
        result = fn(*arrays, _handing_on(recipe, Zs, labels))
        if _a_check_could_fail(Zs, labels):
            fn(*args)
        return result

    return call


def _handing_on(recipe: Recipe, Zs: list[Any], labels: list[tuple[Any, int]]) -> Recipe:
    """The unchecked ``recipe``, appending each activation's or softmax's input to ``Zs``
    and each one-hot's (labels, num_classes) to ``labels``."""
    unchecked = recipe_for(recipe.derivation, checks=False)

    def activation(Z: Any) -> Any:
        Zs.append(Z)
        return unchecked.activation(Z)

    def softmax(Z: Any) -> Any:
        Zs.append(Z)
        return unchecked.softmax(Z)

    def one_hot(y: Any, num_classes: int, dtype: Any = "float64") -> Any:
        labels.append((y, num_classes))
        return unchecked.one_hot(y, num_classes, dtype)

    return replace(unchecked, activation=activation, softmax=softmax, one_hot=one_hot)


def _a_check_could_fail(Zs: list[Any], labels: list[tuple[Any, int]]) -> bool:
    """Whether a Z holds a NaN or an infinity (or the Zs sum past the float64 range) or a
    label leaves 0..num_classes-1, from one read back of two numbers."""
    if not Zs and not labels:
        return False
    xp = array_module(*Zs, *(y for y, _ in labels))
    total = sum((xp.sum(Z, dtype=xp.float64) for Z in Zs), xp.zeros((), xp.float64))
    outside = sum(
        (xp.sum((y < 0) | (y >= num_classes)) for y, num_classes in labels),
        xp.zeros((), xp.int64),
    )
    z_sum, n_outside = xp.asnumpy(xp.stack([total, outside.astype(xp.float64)]))  # one read back
    return not math.isfinite(z_sum) or n_outside > 0
