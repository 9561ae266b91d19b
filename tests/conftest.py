"""Fixtures shared by the tests: MNIST, loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest

from reference_nn.data import load_mnist
from tests.helpers import mnist_dir


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as load_mnist returns them."""
    return load_mnist(mnist_dir(), progress=False)
