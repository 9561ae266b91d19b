"""Resolve a spec's Derivation (names of primitives) to the functions that compute it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference_nn import functional as F
from reference_nn import published as P
from reference_nn.arrays import array_module
from reference_nn.memory import reused_out
from reference_nn.spec import Derivation

Array = Any


def _relu_derivative(Z: Array, A: Array) -> Array:
    # Z > 0 as booleans: the same 0/1 factor as F.relu_derivative without a float copy
    # (dZ *= mask is exact); Z was checked finite by relu in the forward pass.
    del A
    xp = array_module(Z)
    return xp.greater(Z, 0, **reused_out(xp, Z.shape, bool))


def _relu_and_mask(Z: Array) -> tuple[Array, Array]:
    mask = _relu_derivative(Z, None)  # taken before relu writes A over Z
    return F.relu(Z, overwrite_z=True), mask


def _relu_and_mask_of_output(Z: Array) -> tuple[Array, Array]:
    A = F.relu(Z, overwrite_z=True)
    return A, P.relu_mask_of_output(A, A)  # Z's memory now holds A; the mask reads A only


def _sigmoid_and_derivative(Z: Array) -> tuple[Array, Array]:
    return F.sigmoid_and_derivative(Z, overwrite_z=True)


def _sigmoid_derivative(Z: Array, A: Array) -> Array:
    del A
    return F.sigmoid_derivative(Z)


def _per_unit_sum(dZ: Array) -> Array:
    # The sum over examples as dZ times a column of ones: a BLAS product on every core,
    # like dW's own sums over examples (500 x 10000 float32: 1.2 -> 0.25 ms).
    xp = array_module(dZ)
    return dZ @ xp.ones((dZ.shape[1], 1), dZ.dtype)


def _cross_entropy_of_logits(Z: Array, A: Array, Y: Array) -> Array:
    del A
    xp = array_module(Z)
    picked = F.log_softmax(Z)
    picked *= Y
    return -xp.mean(xp.sum(picked, axis=0))


def _of_probabilities(loss: Callable[[Array, Array], Array]) -> Callable[..., Array]:
    def from_output(Z: Array, A: Array, Y: Array) -> Array:
        del Z
        return loss(A, Y)

    return from_output


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "sigmoid_offset": P.sigmoid_offset,
}
ACTIVATION_DERIVATIVES: dict[str, Callable[[Array, Array], Array]] = {
    "relu": _relu_derivative,
    "relu_of_output": P.relu_mask_of_output,
    "sigmoid": _sigmoid_derivative,
    "sigmoid_of_output": P.sigmoid_of_output,
}
SOFTMAXES: dict[str, Callable[[Array], Array]] = {
    "stable": F.softmax,
    "unshifted": P.softmax_unshifted,
    "offset": P.softmax_offset,
}
ONE_HOTS: dict[str, Callable[..., Array]] = {
    "num_classes": F.one_hot,
    "batch_max": P.one_hot_batch_max,
}
BIAS_GRADIENTS: dict[str, Callable[[Array], Array]] = {
    "per_unit": _per_unit_sum,
    "sum_all": P.bias_gradient_sum_all,
}
# (activation, activation_derivative) pairs with one function computing both, sharing work
# and writing one of the two over Z.
ACTIVATIONS_WITH_DERIVATIVE: dict[tuple[str, str], Callable[[Array], tuple[Array, Array]]] = {
    ("relu", "relu"): _relu_and_mask,
    ("relu", "relu_of_output"): _relu_and_mask_of_output,
    ("sigmoid", "sigmoid"): _sigmoid_and_derivative,
}
LOSSES: dict[str, Callable[[Array, Array, Array], Array]] = {
    "log_softmax": _cross_entropy_of_logits,
    "log_probs": _of_probabilities(P.cross_entropy_of_probabilities),
    "log_probs_eps": _of_probabilities(P.cross_entropy_with_epsilon),
}


@dataclass(frozen=True)
class Recipe:
    """The functions of one variant's math, shared by every style.

    activation(Z) -> A and activation_derivative(Z, A) -> dA/dZ for hidden layers, and
    activation_and_derivative(Z) -> (A, dA/dZ), the same values from one call (shared work
    where a pair has it, else the two functions in turn), which may write one of them over
    Z (NumPy, CuPy): callers pass a Z they no longer need; softmax(Z_L) -> A_L;
    one_hot(labels (m,), n_L, dtype=) -> Y; bias_gradient(dZ (n, m)) -> the sum that 1/m scales
    into db ((n, 1), or a scalar for ``sum_all``); loss(Z_L, A_L, Y) -> the mean loss over
    the m columns.
    """

    derivation: Derivation
    activation: Callable[[Array], Array]
    activation_derivative: Callable[[Array, Array], Array]
    activation_and_derivative: Callable[[Array], tuple[Array, Array]]
    softmax: Callable[[Array], Array]
    one_hot: Callable[..., Array]
    bias_gradient: Callable[[Array], Array]
    loss: Callable[[Array, Array, Array], Array]


def _in_turn(
    activation: Callable[[Array], Array], derivative: Callable[[Array, Array], Array]
) -> Callable[[Array], tuple[Array, Array]]:
    def both(Z: Array) -> tuple[Array, Array]:
        A = activation(Z)
        return A, derivative(Z, A)

    return both


def recipe_for(derivation: Derivation) -> Recipe:
    """The Recipe whose functions compute ``derivation``."""
    activation = ACTIVATIONS[derivation.activation]
    derivative = ACTIVATION_DERIVATIVES[derivation.activation_derivative]
    pair = (derivation.activation, derivation.activation_derivative)
    return Recipe(
        derivation=derivation,
        activation=activation,
        activation_derivative=derivative,
        activation_and_derivative=ACTIVATIONS_WITH_DERIVATIVE.get(
            pair, _in_turn(activation, derivative)
        ),
        softmax=SOFTMAXES[derivation.softmax],
        one_hot=ONE_HOTS[derivation.one_hot],
        bias_gradient=BIAS_GRADIENTS[derivation.bias_gradient],
        loss=LOSSES[derivation.loss],
    )
