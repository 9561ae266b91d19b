"""The loop style: one example at a time in plain NumPy, as document 001 trains.

Each example is a 1-D vector x of length n_0. Its gradient is accumulated with outer
products, and the sum is divided by m once at the end, so the result is the gradient
of the mean loss, as the vectorised style computes it by other means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_nn.recipe import Recipe

Params = dict[str, NDArray[np.floating]]


def _layers(params: Params) -> int:
    return len(params) // 2


def _column(v: NDArray[np.floating]) -> NDArray[np.floating]:
    return v[:, None]


def _example_forward(
    params: Params, x: NDArray[np.floating], recipe: Recipe
) -> tuple[list[NDArray[np.floating]], list[NDArray[np.floating]]]:
    """``(zs, as_)`` for one example: zs[k-1] = z_k (n_k,), as_[0] = x (n_0,), as_[k] = a_k."""
    L = _layers(params)
    zs: list[NDArray[np.floating]] = []
    as_: list[NDArray[np.floating]] = [x]
    for k in range(1, L + 1):
        z = params[f"W{k}"] @ as_[-1] + params[f"b{k}"][:, 0]
        zs.append(z)
        a = recipe.softmax(_column(z))[:, 0] if k == L else recipe.activation(z)
        as_.append(a)
    return zs, as_


def _labels_matrix(
    labels: NDArray[np.integer], n_L: int, recipe: Recipe, dtype: np.dtype[Any]
) -> NDArray[np.floating]:
    Y = recipe.one_hot(labels, n_L)
    if Y.shape != (n_L, labels.shape[0]):
        raise ValueError(
            f"one-hot labels have shape {Y.shape} but the output layer gives "
            f"{(n_L, labels.shape[0])}: the one-hot width ({recipe.derivation.one_hot}) "
            f"differs from the {n_L} output units"
        )
    return np.asarray(Y, dtype=dtype)


def loss_and_gradients(
    params: Params, X: NDArray[np.floating], labels: NDArray[np.integer], recipe: Recipe
) -> tuple[float, Params, NDArray[np.floating]]:
    """``(loss, grads, A_L)`` accumulated over the m columns of X (n_0, m), one at a time."""
    L = _layers(params)
    m = X.shape[1]
    n_L = params[f"W{L}"].shape[0]
    dtype = params["W1"].dtype
    Y = _labels_matrix(labels, n_L, recipe, dtype)
    sums = {name: np.zeros_like(value) for name, value in params.items()}
    A_L = np.empty((n_L, m), dtype=dtype)
    total_loss = 0.0
    for j in range(m):
        zs, as_ = _example_forward(params, X[:, j], recipe)
        y = Y[:, j]
        A_L[:, j] = as_[L]
        total_loss += float(recipe.loss(_column(zs[-1]), _column(as_[L]), _column(y)))
        dz = as_[L] - y
        for k in range(L, 0, -1):
            sums[f"W{k}"] += np.outer(dz, as_[k - 1])
            sums[f"b{k}"] += recipe.bias_gradient(_column(dz))
            if k > 1:
                dz = (params[f"W{k}"].T @ dz) * recipe.activation_derivative(zs[k - 2], as_[k - 1])
    grads = {name: (total / m).astype(dtype) for name, total in sums.items()}
    return total_loss / m, grads, A_L


def loss(
    params: Params, X: NDArray[np.floating], labels: NDArray[np.integer], recipe: Recipe
) -> float:
    """The mean over the m examples of the per-example loss."""
    return loss_and_gradients(params, X, labels, recipe)[0]


def gradients(
    params: Params, X: NDArray[np.floating], labels: NDArray[np.integer], recipe: Recipe
) -> Params:
    """The gradient of the mean loss, summed example by example: keys and shapes of params."""
    return loss_and_gradients(params, X, labels, recipe)[1]


def probabilities(params: Params, X: NDArray[np.floating], recipe: Recipe) -> NDArray[np.floating]:
    """A_L of shape (n_L, m), one column at a time."""
    L = _layers(params)
    columns = [_example_forward(params, X[:, j], recipe)[1][L] for j in range(X.shape[1])]
    return np.stack(columns, axis=1)
