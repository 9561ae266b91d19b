"""The primitives of the networks, written from scratch, generic over the array module.

Every function takes arrays of NumPy, CuPy or jax.numpy and returns the same kind.
Matrices hold one example per column: ``Z`` has shape (n, m). Each checks its input and
raises ValueError or TypeError naming the problem; its ``__wrapped__`` is the same math
without the check, for a caller that checked at its own boundary (the ``gpu`` style,
where every check reads a value back from the device).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from reference_nn.arrays import (
    array_module,
    is_traced,
    require_finite,
    require_float,
    require_ndim,
)

__all__ = [
    "cross_entropy",
    "log_softmax",
    "one_hot",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
]

Array = Any


def _checks_input(name: str, ndim: int | None = None) -> Callable[[Callable[..., Array]], Any]:
    """Decorator: raise unless the first argument is a finite float array (of ``ndim``
    dimensions, when given) before the math runs; the math stays as ``__wrapped__``."""

    def decorate(math: Callable[..., Array]) -> Callable[..., Array]:
        @wraps(math)
        def checked(Z: Array, *args: Any) -> Array:
            if ndim is not None:
                require_ndim(Z, ndim, f"{name}: input")
            require_float(Z, f"{name}: input")
            require_finite(Z, f"{name}: input")
            return math(Z, *args)

        return checked

    return decorate


@_checks_input("relu")
def relu(Z: Array) -> Array:
    """max(Z, 0), elementwise; same shape as ``Z``."""
    return array_module(Z).maximum(Z, 0)


@_checks_input("relu_derivative")
def relu_derivative(Z: Array) -> Array:
    """dReLU/dZ elementwise: 1 where Z > 0, else 0 (so 0 at exactly Z = 0); dtype of ``Z``."""
    return (Z > 0).astype(Z.dtype)


@_checks_input("sigmoid")
def sigmoid(Z: Array) -> Array:
    """1 / (1 + exp(-Z)) elementwise, without overflow for any finite ``Z``; same shape."""
    xp = array_module(Z)
    # With E = exp(-|Z|), which never overflows: 1 / (1 + E) for Z >= 0, E / (1 + E) for
    # Z < 0, both equal to 1 / (1 + exp(-Z)).
    E = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1, E) / (1 + E)


@_checks_input("sigmoid_derivative")
def sigmoid_derivative(Z: Array) -> Array:
    """s(Z) (1 - s(Z)) elementwise, with s the sigmoid; same shape as ``Z``."""
    # = E / (1 + E)^2 with E = exp(-|Z|): no cancellation in 1 - s where s is near 1.
    xp = array_module(Z)
    E = xp.exp(-xp.abs(Z))
    return E / (1 + E) ** 2


@_checks_input("log_softmax", ndim=2)
def log_softmax(Z: Array) -> Array:
    """log(softmax(Z)) per column (axis 0), as Z - max - log(sum(exp(Z - max))); shape (n, m)."""
    xp = array_module(Z)
    shifted = Z - xp.max(Z, axis=0, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))


@_checks_input("softmax", ndim=2)
def softmax(Z: Array) -> Array:
    """exp(Z) normalised so that each column (axis 0) sums to 1, stable for large |Z|; (n, m)."""
    xp = array_module(Z)
    E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


def _checks_labels(math: Callable[..., Array]) -> Callable[..., Array]:
    """Decorator for ``one_hot``: raise unless ``labels`` is a 1-D integer array with values
    in 0..num_classes-1 and ``num_classes`` a positive int; the math stays as ``__wrapped__``."""

    @wraps(math)
    def checked(labels: Array, num_classes: int, dtype: Any = "float64") -> Array:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
        label_dtype = getattr(labels, "dtype", None)
        if label_dtype is None or label_dtype.kind not in "iu":
            raise TypeError(f"one_hot: labels must be an integer array, got dtype {label_dtype}")
        require_ndim(labels, 1, "one_hot: labels")
        if labels.size and not is_traced(labels):
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= num_classes:
                raise ValueError(
                    f"one_hot: labels must lie in 0..{num_classes - 1}, found {low}..{high}"
                )
        return math(labels, num_classes, dtype)

    return checked


@_checks_labels
def one_hot(labels: Array, num_classes: int, dtype: Any = "float64") -> Array:
    """Shape (num_classes, m) matrix of ``dtype`` with a single 1 per column, at row ``labels[j]``.

    ``labels`` is an integer array of shape (m,) with values in 0..num_classes-1.
    """
    xp = array_module(labels)
    return (xp.arange(num_classes)[:, None] == labels[None, :]).astype(dtype)


def cross_entropy(Z: Array, labels: Array) -> Array:
    """Mean over the m columns of -log softmax(Z)[labels[j], j]; ``Z`` (n, m), ``labels`` (m,).

    Computed from the logits through log_softmax, so it stays finite for any finite ``Z``.
    Returns a 0-d array of the dtype of ``Z``.
    """
    require_ndim(Z, 2, "cross_entropy: logits")
    require_ndim(labels, 1, "cross_entropy: labels")
    if labels.shape[0] != Z.shape[1]:
        raise ValueError(
            f"cross_entropy: {labels.shape[0]} labels for {Z.shape[1]} columns of logits"
        )
    xp = array_module(Z)
    Y = one_hot(labels, Z.shape[0], Z.dtype)
    return -xp.mean(xp.sum(Y * log_softmax(Z), axis=0))
