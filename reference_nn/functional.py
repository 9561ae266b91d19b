"""The primitives of the networks, written from scratch, generic over the array module.

Every function takes arrays of NumPy, CuPy or jax.numpy and returns the same kind.
Matrices hold one example per column: ``Z`` has shape (n, m).
Bad input raises ValueError or TypeError naming the problem. Intermediates are updated in
place (augmented assignments, ``exp_in_place``) on NumPy and CuPy, where each new array
costs page faults; under JAX the same lines rebind. Inside ``memory.reusing(arena)`` the
new NumPy arrays of a training step are written into memory kept from the previous step.
"""

from __future__ import annotations

from typing import Any

from reference_nn.arrays import (
    array_module,
    check_later,
    deferring,
    exp_in_place,
    is_traced,
    over,
    require_finite,
    require_float,
    require_ndim,
)
from reference_nn.memory import reused_out

__all__ = [
    "cross_entropy",
    "log_softmax",
    "one_hot",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_and_derivative",
    "sigmoid_derivative",
    "softmax",
]

Array = Any


def _checked(Z: Array, name: str) -> Array:
    require_float(Z, f"{name}: input")
    require_finite(Z, f"{name}: input")
    return Z


def relu(Z: Array, overwrite_z: bool = False) -> Array:
    """max(Z, 0), elementwise; same shape as ``Z``. With ``overwrite_z``, written over ``Z``
    where its module allows (NumPy, CuPy): for a caller that no longer needs Z."""
    xp = array_module(Z)
    _checked(Z, "relu")
    # A row of zeros broadcast down Z rather than the scalar 0: NumPy's maximum takes its
    # SIMD loop only when both operands step through memory (500 x 10000 float32 in place:
    # 2.5 -> 0.7 ms).
    zero = xp.zeros(Z.shape[-1:], Z.dtype)
    return xp.maximum(Z, zero, **over(Z, overwrite_z))


def relu_derivative(Z: Array) -> Array:
    """dReLU/dZ elementwise: 1 where Z > 0, else 0 (so 0 at exactly Z = 0); dtype of ``Z``."""
    return (_checked(Z, "relu_derivative") > 0).astype(Z.dtype)


def _exp_of_minus_abs(Z: Array, overwrite_z: bool = False) -> Array:
    """exp(-|Z|), in (0, 1] for finite Z: a new array, or Z's own memory with
    ``overwrite_z`` where its module allows."""
    xp = array_module(Z)
    E = xp.abs(Z, **over(Z, overwrite_z))
    E *= -1
    return exp_in_place(E)


def _sigmoid_numerator(E: Array, nonnegative: Array) -> Array:
    """E where Z < 0 and 1 where Z >= 0 (``nonnegative``, boolean), as a new array: the
    maximum of E and the mask, exact since 0 <= E <= 1. One pass; where() would branch on
    the data, which costs 4x the whole quotient on random signs."""
    xp = array_module(E)
    return xp.maximum(E, nonnegative, **reused_out(xp, E.shape, E.dtype))


def sigmoid(Z: Array) -> Array:
    """1 / (1 + exp(-Z)) elementwise, without overflow for any finite ``Z``; same shape."""
    # With E = exp(-|Z|), which never overflows: 1 / (1 + E) for Z >= 0, E / (1 + E) for
    # Z < 0, both equal to 1 / (1 + exp(-Z)).
    E = _exp_of_minus_abs(_checked(Z, "sigmoid"))
    numerator = _sigmoid_numerator(E, Z >= 0)
    E += 1
    numerator /= E
    return numerator


def sigmoid_derivative(Z: Array) -> Array:
    """s(Z) (1 - s(Z)) elementwise, with s the sigmoid; same shape as ``Z``."""
    # = e / (1 + e)^2 with e = exp(-|Z|): no cancellation in 1 - s where s is near 1.
    E = _exp_of_minus_abs(_checked(Z, "sigmoid_derivative"))
    D = 1 + E
    D *= D
    E /= D
    return E


def sigmoid_and_derivative(Z: Array, overwrite_z: bool = False) -> tuple[Array, Array]:
    """(sigmoid(Z), sigmoid_derivative(Z)) from one exp(-|Z|), equal bit for bit to the two
    functions' values; each the shape of ``Z``. Forward passes that backpropagate use it,
    with ``overwrite_z``: the derivative is then written over ``Z`` where its module allows."""
    xp = array_module(Z)
    # Z >= 0, taken before Z is overwritten.
    nonnegative = xp.greater_equal(_checked(Z, "sigmoid"), 0, **reused_out(xp, Z.shape, bool))
    E = _exp_of_minus_abs(Z, overwrite_z)
    A = _sigmoid_numerator(E, nonnegative)
    D = xp.add(E, 1, **reused_out(xp, E.shape, E.dtype))
    A /= D
    D *= D
    E /= D
    return A, E


def log_softmax(Z: Array) -> Array:
    """log(softmax(Z)) per column (axis 0), as Z - max - log(sum(exp(Z - max))); shape (n, m)."""
    require_ndim(Z, 2, "log_softmax: input")
    xp = array_module(Z)
    shifted = _checked(Z, "log_softmax") - xp.max(Z, axis=0, keepdims=True)
    shifted -= xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))
    return shifted


def softmax(Z: Array) -> Array:
    """exp(Z) normalised so that each column (axis 0) sums to 1, stable for large |Z|; (n, m)."""
    require_ndim(Z, 2, "softmax: input")
    xp = array_module(Z)
    shifted = xp.subtract(
        _checked(Z, "softmax"),
        xp.max(Z, axis=0, keepdims=True),
        **reused_out(xp, Z.shape, Z.dtype),
    )
    E = exp_in_place(shifted)
    E /= xp.sum(E, axis=0, keepdims=True)
    return E


def one_hot(labels: Array, num_classes: int, dtype: Any = "float64") -> Array:
    """Shape (num_classes, m) matrix of ``dtype`` with a single 1 per column, at row ``labels[j]``.

    ``labels`` is an integer array of shape (m,) with values in 0..num_classes-1.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    xp = array_module(labels)
    label_dtype = getattr(labels, "dtype", None)
    if label_dtype is None or label_dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be an integer array, got dtype {label_dtype}")
    require_ndim(labels, 1, "one_hot: labels")
    if not is_traced(labels) and labels.size:
        if deferring(labels):
            # The largest label read as unsigned, so that a negative one is huge: the root
            # of the room it leaves below num_classes is NaN when it leaves none.
            high = labels.view(f"u{labels.dtype.itemsize}").max().astype(xp.float64)
            check_later(xp.sqrt(num_classes - 1 - high))
        else:
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= num_classes:
                raise ValueError(
                    f"one_hot: labels must lie in 0..{num_classes - 1}, found {low}..{high}"
                )
    Y = xp.equal(
        xp.arange(num_classes)[:, None],
        labels[None, :],
        **reused_out(xp, (num_classes, labels.shape[0]), dtype),
    )
    return Y.astype(dtype, copy=False)


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
