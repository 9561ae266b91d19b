"""Helpers shared by the tests: where MNIST is, and how two gradients are compared."""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reference_nn.data import _holds_all, default_cache_dir, load_mnist
from reference_nn.download import DownloadError

# The one reason every test that needs MNIST gives when it cannot have it.
MNIST_UNAVAILABLE = (
    "MNIST is not available: set MNIST_DIR to a folder holding the four IDX files (CI uses "
    "../shared/data/mnist), or let the loader download them once"
)


def mnist_required() -> bool:
    """True where the tests that need MNIST must run, never skip: REQUIRE_MNIST=1, or CI=true
    (as CI services set it) unless REQUIRE_MNIST=0."""
    default = "1" if os.environ.get("CI", "").lower() == "true" else "0"
    return os.environ.get("REQUIRE_MNIST", default) not in ("", "0")


@functools.cache
def mnist_unavailable_reason() -> str | None:
    """Why the tests cannot read MNIST, None when they can; decided once per process (the root
    conftest decides it once per session, for pytest-xdist's workers too).

    $MNIST_DIR, when set, must hold the four files: the tests then read it and nothing else.
    Otherwise the user cache must hold them, or be filled by one download attempt."""
    folder = os.environ.get("MNIST_DIR")
    if folder:
        held = _holds_all(Path(folder))
        return None if held else f"{MNIST_UNAVAILABLE} (MNIST_DIR={folder} does not hold them)"
    if _holds_all(default_cache_dir()):
        return None
    try:
        load_mnist(progress=False)
    except (DownloadError, OSError):
        return MNIST_UNAVAILABLE
    return None


def mnist_dir() -> Path:
    """$MNIST_DIR when set (CI points it at ../shared/data/mnist), else the user cache. A test
    that calls it is marked ``mnist``, so that it runs only where MNIST is; when it is not, it
    is skipped here with the reason (failed where mnist_required)."""
    folder = Path(os.environ.get("MNIST_DIR") or default_cache_dir())
    if not _holds_all(folder):
        stop = pytest.fail if mnist_required() else pytest.skip
        stop(f"{MNIST_UNAVAILABLE} ({folder} does not hold them)")
    return folder


def relative_difference(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> float:
    """||a - b|| / max(||a||, ||b||, floor), norm-wise, so that cancellation in one entry
    cannot dominate. ``floor`` is the scale below which a gradient counts as zero: a bias
    gradient that is exactly zero by the math (published 003's summed output bias) holds
    rounding noise of order 1e-17 in both styles, which is meaningless relative to itself."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), floor)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b))) / scale


def gradient_scale(grads: dict[str, np.ndarray]) -> float:
    """1e-3 of the largest gradient norm of a network: the floor for relative_difference."""
    return 1e-3 * max(float(np.linalg.norm(g)) for g in grads.values())


# Two formulations of one computation (a product transposed, a sum over examples in a loop)
# agree only up to rounding: which order a BLAS kernel sums in depends on the CPU (OpenBLAS's
# Haswell kernel gives (A @ dZ.T).T and dZ @ A.T 1.4e-17 apart where SkylakeX gives the same
# bits). So they are compared at a few units in the last place of each entry (rtol), or of the
# array's largest entry (atol), since an entry made small by cancellation carries the rounding
# of the large terms it was summed from. The mutation suite's rewrites and equivalents differ
# by at most 3.2 such ulps (seeds 0-5, kernels Haswell, Prescott, SandyBridge, SkylakeX); a
# ReLU'(0) taken otherwise on the kink moves its entries by some 1e15 of them.
ROUNDING_ULPS = 8


def rounding_tolerance(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """rtol and atol of ROUNDING_ULPS ulps of the entry, and of the largest entry of either."""
    eps = float(np.finfo(np.result_type(a, b, np.float32)).eps)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return {"rtol": ROUNDING_ULPS * eps, "atol": ROUNDING_ULPS * eps * scale}


def equal_up_to_rounding(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` differ nowhere by more than rounding_tolerance."""
    return a.shape == b.shape and bool(np.allclose(a, b, **rounding_tolerance(a, b)))


def assert_equal_up_to_rounding(actual: np.ndarray, desired: np.ndarray, err_msg: str = "") -> None:
    """np.testing.assert_allclose at rounding_tolerance: the count of mismatches, the worst."""
    __tracebackhide__ = True
    tolerance = rounding_tolerance(actual, desired)
    np.testing.assert_allclose(actual, desired, err_msg=err_msg, **tolerance)


@contextlib.contextmanager
def document_warnings(name: str, variant: str) -> Iterator[None]:
    """Allow the one floating-point warning a document's own code raises, and no other:
    001's published sigmoid, 1/(1+exp(-Z+1e-5)), overflows exp() for Z < -709, which raw
    0..255 pixels reach. That is a finding for the audit, not a test failure."""
    with warnings.catch_warnings():
        if (name, variant) == ("sigmoid_16_16", "published"):
            warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
        yield
