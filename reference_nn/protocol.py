"""A document's data protocol: which examples train and test, and how pixels become inputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reference_nn.spec import NetworkSpec

KAGGLE_POOL = 42000

# Each document's protocol shortened to a few seconds or minutes on 2 cores: (iterations,
# training examples kept). ``nox -s mnist`` trains these to measured accuracies, and the
# audit trains them to measure what a defect does to training.
SHORT_PROTOCOLS: dict[str, tuple[int, int]] = {
    "relu_500_150": (250, 2000),
    "sigmoid_16_16": (200, 10000),
    "relu_532": (30, 10000),
    "relu_10_10": (300, 10000),
    "relu_16_16": (300, 10000),
}


@dataclass(frozen=True)
class Dataset:
    """Inputs X of shape (784, m), examples as columns, scaled and typed; labels (m,) int64."""

    X_train: NDArray[np.floating]
    y_train: NDArray[np.int64]
    X_test: NDArray[np.floating]
    y_test: NDArray[np.int64]
    test_name: str


def _columns(images: NDArray[np.uint8], scale: float, dtype: str) -> NDArray[np.floating]:
    # Scaled in float64 first, then cast: np.array(x, float32) / 255 rounds the same way.
    return np.ascontiguousarray((images.reshape(len(images), -1).T * scale).astype(dtype))


def prepare(
    spec: NetworkSpec,
    variant: str,
    mnist: tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]],
    seed: int = 0,
) -> Dataset:
    """Split and scale ``mnist`` (as load_mnist returns it) as ``spec``'s document does.

    The published variant's test set uses its ``test_input_scale`` where the document
    feeds the test set differently. ``seed`` drives the shuffle of the Kaggle pool.
    """
    protocol = spec.data
    derivation = spec.derivation(variant)
    x_train, y_train, x_test, y_test = mnist
    if protocol.source == "keras":
        train_images, train_labels, test_images, test_labels = x_train, y_train, x_test, y_test
    else:
        order = (
            np.random.default_rng(seed).permutation(KAGGLE_POOL)
            if protocol.shuffle
            else np.arange(KAGGLE_POOL)
        )
        pool_images, pool_labels = x_train[order], y_train[order]
        if protocol.train is None or protocol.test is None:
            raise ValueError(f"{spec.name}: a kaggle_pool protocol needs train and test ranges")
        train_images, train_labels = (a[slice(*protocol.train)] for a in (pool_images, pool_labels))
        test_images, test_labels = (a[slice(*protocol.test)] for a in (pool_images, pool_labels))
    test_scale = (
        protocol.input_scale if derivation.test_input_scale is None else derivation.test_input_scale
    )
    return Dataset(
        X_train=_columns(train_images, protocol.input_scale, derivation.input_dtype),
        y_train=train_labels.astype(np.int64),
        X_test=_columns(test_images, test_scale, derivation.input_dtype),
        y_test=test_labels.astype(np.int64),
        test_name=protocol.test_name,
    )
