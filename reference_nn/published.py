"""The documents' own primitives, re-expressed exactly as published, departures included.

Nothing here is corrected or guarded: these functions are under audit, not trusted.
Each docstring quotes the passage it follows. Arrays may be NumPy, CuPy or jax.numpy;
matrices hold one example per column.
"""

from __future__ import annotations

from typing import Any

from reference_nn.arrays import array_module

Array = Any

OFFSET_001 = 1e-5
LOG_EPSILON = 1e-8


def sigmoid_offset(Z: Array) -> Array:
    """001: ``A1 = 1/(1+np.exp(-Z1+1e-5))``; exp overflows (to inf, A = 0) for Z < -709."""
    xp = array_module(Z)
    return 1 / (1 + xp.exp(-Z + OFFSET_001))


def sigmoid_of_output(Z: Array, A: Array) -> Array:
    """001: ``dz2 = A2*(1 - A2)*da2``: the sigmoid's derivative taken from its output."""
    del Z
    return A * (1 - A)


def relu_mask_of_output(Z: Array, A: Array) -> Array:
    """002: ``* (hidden_output > 0)``: the ReLU mask taken on A = relu(Z)."""
    del Z
    return A > 0


def softmax_unshifted(Z: Array) -> Array:
    """003: ``np.exp(Z) / sum(np.exp(Z))``, columns (axis 0), no shift by the maximum."""
    xp = array_module(Z)
    E = xp.exp(Z)
    return E / xp.sum(E, axis=0, keepdims=True)


def softmax_offset(Z: Array) -> Array:
    """001: ``y = np.exp(Z3+1e-5); y /= sum(y)``, no shift by the maximum."""
    xp = array_module(Z)
    E = xp.exp(Z + OFFSET_001)
    return E / xp.sum(E, axis=0, keepdims=True)


def one_hot_batch_max(labels: Array, num_classes: int, dtype: Any = "float64") -> Array:
    """003: ``np.zeros((Y.size, Y.max() + 1))``, ones at the labels, transposed.

    The width is the largest label in the batch plus one; ``num_classes`` is ignored,
    as in the document. Shape (labels.max() + 1, m), of ``dtype``.
    """
    del num_classes
    xp = array_module(labels)
    width = int(labels.max()) + 1
    return (xp.arange(width)[:, None] == labels[None, :]).astype(dtype)


def bias_gradient_sum_all(dZ: Array) -> Array:
    """003: ``np.sum(dZ2)``: every entry of dZ, units and examples, summed to one scalar."""
    return array_module(dZ).sum(dZ)


def cross_entropy_of_probabilities(A: Array, Y: Array) -> Array:
    """003/004: J = -sum_i y_i log(y_hat_i), averaged over the m columns."""
    xp = array_module(A)
    return -xp.mean(xp.sum(Y * xp.log(A), axis=0))


def cross_entropy_with_epsilon(A: Array, Y: Array) -> Array:
    """000/002: ``-mean(sum(E * log(Y_hat + 1e-8), axis=0))``."""
    xp = array_module(A)
    return -xp.mean(xp.sum(Y * xp.log(A + LOG_EPSILON), axis=0))
