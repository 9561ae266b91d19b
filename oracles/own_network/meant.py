"""The network a user meant, written in JAX (needs the ``jax`` extra): a reference objective
whose exact gradient (``jax.grad``, float64) judges a hand-written one.

``mlp_reference`` builds the common case, a multilayer perceptron, from the same few choices a
tutorial makes; any other network is a function ``reference(params) -> scalar`` written with
``jax.numpy`` and ``jax.nn``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.optional import missing

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "identity")
OUTPUTS = ("softmax", "sigmoid", "tanh", "identity")
LOSSES = ("cross_entropy", "mse", "half_squared_error")
Reference = Callable[[Mapping[str, Any]], Any]


def jax_modules() -> tuple[ModuleType, ModuleType]:
    """(jax, jax.numpy), or an ImportError naming the extra that installs them."""
    reason = missing("jax")
    if reason:
        raise ImportError(f"a reference network needs JAX: {reason}")
    return importlib.import_module("jax"), importlib.import_module("jax.numpy")


def float64() -> AbstractContextManager[Any]:
    """JAX in float64 inside the block only (a reference is exact only in float64); the
    process's own setting is left as it was found."""
    jax, _ = jax_modules()
    return jax.enable_x64(True)  # type: ignore[no-any-return]


def reference_gradient(
    reference: Reference, params: Mapping[str, NDArray[Any]]
) -> tuple[float, dict[str, NDArray[np.float64]]]:
    """(value, gradient) of ``reference`` at ``params`` by ``jax.value_and_grad``, in float64,
    each gradient of its parameter's shape."""
    jax, jnp = jax_modules()
    with float64():
        p = {k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
        value, grads = jax.value_and_grad(lambda q: jnp.asarray(reference(q)).reshape(()))(p)
        return float(value), {k: np.asarray(grads[k], dtype=np.float64) for k in params}


def _layers(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(weight, bias) names of each layer from W1, b1, W2, b2, ... (a clear error otherwise)."""
    numbers = sorted(int(m.group(1)) for k in params if (m := re.fullmatch(r"W(\d+)", k)))
    if not numbers or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise ValueError(
            f"mlp_reference reads parameters named W1, b1, W2, b2, ...; got {sorted(params)} "
            "(pass layers=[('w_in', 'b_in'), ...] to name them)"
        )
    return [(f"W{n}", f"b{n}") for n in numbers]


def mlp_reference(
    X: NDArray[Any],
    y: NDArray[Any],
    *,
    activation: str = "relu",
    output: str = "softmax",
    loss: str | Callable[[Any, Any], Any] = "cross_entropy",
    examples: str = "columns",
    sizes: Sequence[int] | None = None,
    layers: Sequence[tuple[str, str]] | None = None,
    slope: float = 0.01,
) -> Reference:
    """The mean loss over the m examples of the perceptron you meant, as ``reference(params)``.

    ``examples="columns"``: X (n_0, m), Z_k = W_k A_{k-1} + b_k with W_k (n_k, n_{k-1});
    ``"rows"``: X (m, n_0), Z_k = A_{k-1} W_k + b_k with W_k (n_{k-1}, n_k); a bias may have
    any shape holding n_k entries. ``activation`` (hidden layers) is one of ACTIVATIONS,
    ``output`` one of OUTPUTS. ``loss``: ``cross_entropy`` (from the logits: softmax
    cross-entropy, or binary cross-entropy after a sigmoid output) or ``mse`` (the mean over
    every entry of (A_L - Y)^2), ``half_squared_error`` (the mean over the examples of
    1/2 sum (A_L - Y)^2, Nielsen's quadratic cost), or ``loss(A_L, Y) -> scalar`` written in
    jax.numpy. ``y``: m integer labels, or targets shaped as the output.
    ``sizes`` (n_0, ..., n_L), when given, is checked against the parameters' shapes;
    ``layers`` names each layer's (weight, bias) when they are not W1, b1, ...
    """
    jax, jnp = jax_modules()
    for what, value, allowed in (("activation", activation, ACTIVATIONS),
                                 ("output", output, OUTPUTS),
                                 ("loss", loss if isinstance(loss, str) else LOSSES[0], LOSSES),
                                 ("examples", examples, ("columns", "rows"))):  # fmt: skip
        if value not in allowed:
            raise ValueError(f"mlp_reference: {what} {value!r}; expected one of {allowed}")
    if loss == "cross_entropy" and output not in ("softmax", "sigmoid"):
        raise ValueError("mlp_reference: cross_entropy needs a softmax or sigmoid output")
    rows = examples == "rows"
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"mlp_reference: X must be 2-D (examples as {examples}); got {X.shape}")
    m = X.shape[0] if rows else X.shape[1]
    y = np.asarray(y)
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    if (y.ndim == 1 and y.shape[0] != m) or (y.ndim == 2 and y.shape[0 if rows else 1] != m):
        raise ValueError(f"mlp_reference: {m} examples in X, y has shape {y.shape}")
    hidden = {
        "relu": jax.nn.relu,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "leaky_relu": lambda z: jax.nn.leaky_relu(z, slope),
        "identity": lambda z: z,
    }[activation]
    class_axis = 1 if rows else 0

    def targets(n_out: int) -> Any:
        if not labels:
            return jnp.asarray(y, dtype=jnp.float64).reshape((m, n_out) if rows else (n_out, m))
        if int(y.min()) < 0 or int(y.max()) >= n_out:
            raise ValueError(f"mlp_reference: labels span {y.min()}..{y.max()}, {n_out} outputs")
        eye = jnp.eye(n_out)[jnp.asarray(y)]
        return eye if rows else eye.T

    def reference(params: Mapping[str, Any]) -> Any:
        names = list(layers) if layers is not None else _layers(params)
        A = jnp.asarray(X)
        for k, (w, b) in enumerate(names, start=1):
            W = params[w]
            n_in, n_out = (W.shape[0], W.shape[1]) if rows else (W.shape[1], W.shape[0])
            if sizes is not None and (len(sizes) != len(names) + 1
                                      or (n_in, n_out) != (sizes[k - 1], sizes[k])):  # fmt: skip
                raise ValueError(f"mlp_reference: {w} has shape {W.shape}, sizes {tuple(sizes)}")
            Z = A @ W + params[b].reshape(1, n_out) if rows else W @ A + params[b].reshape(n_out, 1)
            A = hidden(Z) if k < len(names) else Z
        Y = targets(A.shape[class_axis])
        if loss == "cross_entropy" and output == "softmax":
            return -jnp.sum(Y * jax.nn.log_softmax(A, axis=class_axis)) / m
        if loss == "cross_entropy":
            return -jnp.sum(Y * jax.nn.log_sigmoid(A) + (1 - Y) * jax.nn.log_sigmoid(-A)) / m
        squash = {"softmax": lambda z: jax.nn.softmax(z, axis=class_axis),
                  "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "identity": lambda z: z}  # fmt: skip
        out = squash[output](A)
        if callable(loss):
            return loss(out, Y)
        if loss == "half_squared_error":
            return 0.5 * jnp.sum((out - Y) ** 2) / m
        return jnp.mean((out - Y) ** 2)

    return reference
