"""Named slips of a hand-written backward, for a softmax cross-entropy MLP.

``slipped_gradients`` is that backward, examples as columns; naming a slip of ``SLIPS`` makes
it at the layers given. Each is an exact hypothesis that ``diagnose_network`` tests.

Shapes: X (n_0, m), y (m,) integer labels, W_k (n_k, n_{k-1}), b_k (n_k, 1).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

__all__ = ["SLIPS", "hypotheses", "layer_words", "slipped_gradients"]

Array = NDArray[np.float64]

# slip -> (words, where it can sit: "hidden" layers 1..L-1, "weights" layers 1..L, "global")
SLIPS: dict[str, tuple[str, str]] = {
    "derivative_formula_on_Z": (
        "the activation's derivative written for A (A(1 - A), 1 - A^2) but applied to Z",
        "hidden",
    ),
    "derivative_at_A": ("the activation's derivative evaluated at A instead of Z", "hidden"),
    "other_activation_derivative": (
        "the derivative of another activation (the ReLU's mask for a sigmoid, the sigmoid's "
        "for a ReLU)",
        "hidden",
    ),
    "missing_derivative": ("the activation's derivative g'(Z) left out", "hidden"),
    "missing_transpose": ("dA_{k-1} = W_k dZ_k instead of W_k^T dZ_k", "square"),
    "dW_product_order": ("dW_k = A_{k-1} dZ_k^T, the product in the wrong order", "square"),
    "dW_from_Z": ("dW_k from Z_{k-1} instead of A_{k-1} = g(Z_{k-1})", "deep"),
    "bias_sum_all": (
        "db_k = sum of every entry of dZ_k (units and examples): one number for every unit",
        "weights",
    ),
    "bias_not_divided_by_m": ("db_k not divided by m", "weights"),
    "output_not_divided_by_m": (
        "dZ_L = A_L - Y without the 1/m: every gradient m times too large",
        "global",
    ),
    "divided_by_m_twice": ("dW_k divided by m twice", "global"),
    "sign_output_error": ("dZ_L = Y - A_L, the sign of the output error flipped", "global"),
    "softmax_elementwise": (
        "dZ_L = (A_L - Y) A_L (1 - A_L): the softmax differentiated as an elementwise sigmoid",
        "global",
    ),
}


def _g(activation: str, Z: Array) -> Array:
    return np.maximum(Z, 0.0) if activation == "relu" else 1 / (1 + np.exp(-Z))


def _g_prime(activation: str, Z: Array) -> Array:
    if activation == "relu":
        return (Z > 0).astype(Z.dtype)
    s = 1 / (1 + np.exp(-Z))
    return s * (1 - s)


def slipped_gradients(
    params: Mapping[str, Array],
    X: Array,
    y: NDArray[np.integer],
    activation: str,
    slip: str | None = None,
    layers: frozenset[int] = frozenset(),
) -> dict[str, Array]:
    """The gradients of the mean cross-entropy of a softmax MLP, with ``slip`` (a key of
    SLIPS) made at the given ``layers`` (1-based; ignored by global slips)."""
    L = len(params) // 2
    m = X.shape[1]
    Zs, As = [], [X]
    with np.errstate(over="ignore"):
        for k in range(1, L + 1):
            Z = params[f"W{k}"] @ As[-1] + params[f"b{k}"]
            Zs.append(Z)
            if k < L:
                As.append(_g(activation, Z))
        E = np.exp(Zs[-1] - Zs[-1].max(axis=0, keepdims=True))
        A_L = E / E.sum(axis=0, keepdims=True)
    Y = np.zeros_like(A_L)
    Y[y, np.arange(m)] = 1.0
    dZ = Y - A_L if slip == "sign_output_error" else A_L - Y
    if slip == "softmax_elementwise":
        dZ = dZ * A_L * (1 - A_L)
    dZ = dZ if slip == "output_not_divided_by_m" else dZ / m
    grads: dict[str, Array] = {}
    for k in range(L, 0, -1):
        here = k in layers
        A_in = Zs[k - 2] if slip == "dW_from_Z" and here else As[k - 1]
        dW = A_in @ dZ.T if slip == "dW_product_order" and here else dZ @ A_in.T
        grads[f"W{k}"] = dW / m if slip == "divided_by_m_twice" else dW
        db = dZ.sum(axis=1, keepdims=True)
        if slip == "bias_sum_all" and here:
            db = np.full_like(db, dZ.sum())
        grads[f"b{k}"] = db * m if slip == "bias_not_divided_by_m" and here else db
        if k == 1:
            break
        W = params[f"W{k}"]
        dA = W @ dZ if slip == "missing_transpose" and k in layers else W.T @ dZ
        Z, A = Zs[k - 2], As[k - 1]
        derivative = _g_prime(activation, Z)
        if k - 1 in layers:
            other = "sigmoid" if activation == "relu" else "relu"
            derivative = {
                "derivative_formula_on_Z": Z * (1 - Z) if activation == "sigmoid" else derivative,
                "derivative_at_A": _g_prime(activation, A),
                "other_activation_derivative": _g_prime(other, Z),
                "missing_derivative": np.ones_like(Z),
            }.get(slip or "", derivative)
        dZ = dA * derivative
    return {name: grads[name] for name in params}


def hypotheses(sizes: tuple[int, ...]) -> Iterator[tuple[str, frozenset[int]]]:
    """Every (slip, layers) to try: each slip at each layer where it can sit, then at all."""
    L = len(sizes) - 1
    where = {
        "hidden": range(1, L),
        "weights": range(1, L + 1),
        "deep": range(2, L + 1),
        "square": [k for k in range(2, L + 1) if sizes[k] == sizes[k - 1]],
    }
    for slip, (_, place) in SLIPS.items():
        if place == "global":
            yield slip, frozenset()
            continue
        layers = list(where[place])
        for k in layers:
            yield slip, frozenset({k})
        if len(layers) > 1:
            yield slip, frozenset(layers)


def layer_words(layers: frozenset[int]) -> str:
    """Where a slip sits, in words."""
    if not layers:
        return "output layer"
    if len(layers) > 1:
        return f"layers {', '.join(map(str, sorted(layers)))}"
    return f"layer {next(iter(layers))}"
