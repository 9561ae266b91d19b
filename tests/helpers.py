"""Helpers shared by the tests: where MNIST is, and how two gradients are compared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reference_nn.data import default_cache_dir, load_mnist


def mnist_dir() -> Path:
    """$MNIST_DIR when set (CI points it at ../shared/data/mnist), else the filled user cache."""
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    load_mnist(progress=False)
    return default_cache_dir()


def relative_difference(a: np.ndarray, b: np.ndarray, floor: float = 1e-14) -> float:
    """||a - b|| / max(||a||, ||b||, floor): norm-wise, so cancellation in one entry can't
    dominate; the floor keeps a gradient that is exactly zero by the math (and rounding noise
    of order 1e-17 in both) from reading as a large relative difference."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), floor)
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b))) / scale
