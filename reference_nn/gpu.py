"""Finding CuPy and a CUDA device for the ``gpu`` style, with a reason when either is missing."""

from __future__ import annotations

import importlib
from types import ModuleType


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
