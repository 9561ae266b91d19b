"""A network written once over an array module (numpy, cupy or jax.numpy): the check of
CuPy and jax.numpy parameters (tests/test_array_kinds.py, benchmarks/kinds.py) runs it."""

from __future__ import annotations

import numpy as np


def network(xp, X, Y, slip=None):
    """loss(params) -> (value, grads) of a ReLU perceptron with softmax cross-entropy, examples
    as columns, written with ``xp`` (numpy, cupy or jax.numpy) alone; ``slip="bias_sum"``
    sums each bias gradient over units and examples (documents 003 and 004)."""

    def loss_and_grads(p):
        m = X.shape[1]
        A = [X]
        for k in (1, 2, 3):
            Z = p[f"W{k}"] @ A[-1] + p[f"b{k}"]
            A.append(xp.maximum(Z, 0) if k < 3 else Z)
        shifted = A[3] - xp.max(A[3], axis=0, keepdims=True)
        log_p = shifted - xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))
        value = -xp.sum(Y * log_p) / m
        dZ = (xp.exp(log_p) - Y) / m
        grads = {}
        for k in (3, 2, 1):
            grads[f"W{k}"] = dZ @ A[k - 1].T
            grads[f"b{k}"] = xp.sum(dZ) if slip == "bias_sum" else xp.sum(dZ, axis=1, keepdims=True)
            if k > 1:
                dZ = (p[f"W{k}"].T @ dZ) * (A[k - 1] > 0)
        return value, grads

    return loss_and_grads


def problem(sizes, m, seed=0):
    """(params, X, Y) in NumPy for ``network``: He-scaled weights W_k (n_k, n_{k-1}), biases
    (n_k, 1), X (n_0, m) uniform in [0, 1), Y one-hot (n_L, m)."""
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, len(sizes)):
        n_in, n_out = sizes[k - 1], sizes[k]
        params[f"W{k}"] = rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)
        params[f"b{k}"] = rng.standard_normal((n_out, 1)) * 0.1
    X = rng.random((sizes[0], m))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)].T
    return params, X, Y
