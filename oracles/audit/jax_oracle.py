"""The JAX oracle: gradients by ``jax.grad`` in float64, compared per parameter.

Two formulations, two questions:
  ``own_forward``  autodiff of the project's own vectorised forward and loss, run with
                   ``xp = jax.numpy``: is the hand-written backward the derivative of
                   exactly this forward (the document's own, for the published variant)?
  ``independent``  autodiff of a formulation written here from the spec alone, with
                   ``jax.nn`` activations and ``jax.nn.log_softmax``: is the gradient that
                   of the network the document describes? This also catches a forward
                   that departs from the intended math.
Both are judged by ``oracles.compare_gradients``, at autodiff's own precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from oracles._engine.records import GradientReport
from oracles.checks.exact import compare_gradients
from oracles.own_network.meant import float64, jax_modules
from reference_nn import vectorized
from reference_nn.network import Network

Formulation = Literal["own_forward", "independent"]
FORMULATIONS: tuple[Formulation, ...] = ("own_forward", "independent")


def independent_loss(net: Network) -> Any:
    """The mean cross-entropy of the network the spec describes, written in jax.nn:
    ``loss(params, X, y)`` with X (784, m) and y (m,); independent of our own code."""
    jax, jnp = jax_modules()
    spec = net.spec
    activation = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[spec.hidden_activation]

    def loss(params: dict[str, Any], X: Any, y: Any) -> Any:
        A = X
        for k in range(1, spec.num_layers + 1):
            Z = params[f"W{k}"] @ A + params[f"b{k}"]
            A = activation(Z) if k < spec.num_layers else Z
        log_p = jax.nn.log_softmax(A, axis=0)
        return -jnp.mean(jnp.take_along_axis(log_p, y[None, :], axis=0))

    return loss


def jax_gradients(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    formulation: Formulation = "own_forward",
) -> dict[str, NDArray[np.float64]]:
    """``jax.grad`` of the mean loss at ``params`` (W_k (n_k, n_{k-1}), b_k (n_k, 1)), float64.

    X has shape (784, m), examples as columns; y holds m integer labels.
    """
    jax, jnp = jax_modules()
    with float64():
        net.check_params(dict(params))
        net.check_inputs(X)
        net.check_labels(X, y)
        p = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
        Xj, yj = jnp.asarray(X, dtype=jnp.float64), jnp.asarray(y)
        if formulation == "own_forward":
            grads = jax.grad(lambda q: vectorized.loss(q, Xj, yj, net.recipe))(p)
        elif formulation == "independent":
            grads = jax.grad(independent_loss(net))(p, Xj, yj)
        else:
            raise ValueError(f"unknown formulation {formulation!r}; expected one of {FORMULATIONS}")
        return {k: np.asarray(grads[k], dtype=np.float64) for k in params}


def check_against_jax(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    formulation: Formulation = "own_forward",
) -> GradientReport:
    """The network's hand-written gradients judged against ``jax_gradients``."""
    analytic = net.gradients(dict(params), X, y)
    reference = jax_gradients(net, params, X, y, formulation)
    return compare_gradients(analytic, reference, oracle=f"jax ({formulation})")
