"""Resolve a spec's Derivation (names of primitives) to the functions that compute it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference_nn import functional as F
from reference_nn import published as P
from reference_nn.arrays import array_module
from reference_nn.spec import Derivation

Array = Any

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "sigmoid_offset": P.sigmoid_offset,
}
# g'(Z) from the pre-activation Z, or (the published "_of_output" forms) from A = g(Z).
DERIVATIVES_OF_Z: dict[str, Callable[[Array], Array]] = {
    "relu": F.relu_derivative,
    "sigmoid": F.sigmoid_derivative,
}
DERIVATIVES_OF_OUTPUT: dict[str, Callable[[Array, Array], Array]] = {
    "relu_of_output": P.relu_mask_of_output,
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


def _sum_per_unit(dZ: Array) -> Array:
    """sum over the m examples of dZ (n, m): shape (n, 1)."""
    return array_module(dZ).sum(dZ, axis=1, keepdims=True)


BIAS_GRADIENTS: dict[str, Callable[[Array], Array]] = {
    "per_unit": _sum_per_unit,
    "sum_all": P.bias_gradient_sum_all,
}
# Losses of the logits Z_L (through a log_softmax) or of the probabilities A_L.
LOSSES_OF_PROBABILITIES: dict[str, Callable[[Array, Array], Array]] = {
    "log_probs": P.cross_entropy_of_probabilities,
    "log_probs_eps": P.cross_entropy_with_epsilon,
}


@dataclass(frozen=True)
class Recipe:
    """The functions of one variant's math, shared by every style.

    activation(Z) -> A and activation_derivative(Z, A) -> dA/dZ for hidden layers;
    softmax(Z_L) -> A_L; one_hot(labels (m,), n_L, dtype=) -> Y; bias_gradient(dZ (n, m)) ->
    the sum that 1/m scales into db ((n, 1), or a scalar for ``sum_all``); loss(Z_L, A_L, Y)
    -> the mean loss over the m columns.
    """

    derivation: Derivation
    activation: Callable[[Array], Array]
    activation_derivative: Callable[[Array, Array], Array]
    softmax: Callable[[Array], Array]
    one_hot: Callable[..., Array]
    bias_gradient: Callable[[Array], Array]
    loss: Callable[[Array, Array, Array], Array]


# The adapters below are frozen dataclasses, not closures, so that two recipes built from the
# same derivation compare equal (the gpu layer relies on it).


@dataclass(frozen=True)
class _OfZ:
    """g'(Z, A) from a derivative of Z alone."""

    derivative: Callable[[Array], Array]

    def __call__(self, Z: Array, A: Array) -> Array:
        del A
        return self.derivative(Z)


@dataclass(frozen=True)
class _CrossEntropyOfLogits:
    """loss(Z_L, A_L, Y) = -mean over columns of sum(Y * log_softmax(Z_L))."""

    log_softmax: Callable[[Array], Array]

    def __call__(self, Z: Array, A: Array, Y: Array) -> Array:
        del A
        xp = array_module(Z)
        return -xp.mean(xp.sum(Y * self.log_softmax(Z), axis=0))


@dataclass(frozen=True)
class _OfProbabilities:
    """loss(Z_L, A_L, Y) from a loss of the probabilities A_L alone."""

    loss: Callable[[Array, Array], Array]

    def __call__(self, Z: Array, A: Array, Y: Array) -> Array:
        del Z
        return self.loss(A, Y)


def recipe_for(derivation: Derivation, *, checks: bool = True) -> Recipe:
    """The Recipe whose functions compute ``derivation``. With ``checks=False``, the same
    math without the primitives' input checks (their ``__wrapped__``), for a caller that
    checks at its own boundary: the ``gpu`` style, where each check waits for the device."""
    pick: Callable[[Callable[..., Array]], Callable[..., Array]] = (
        (lambda f: f) if checks else inspect.unwrap
    )
    name = derivation.activation_derivative
    derivative: Callable[[Array, Array], Array]
    if name in DERIVATIVES_OF_Z:
        derivative = _OfZ(pick(DERIVATIVES_OF_Z[name]))
    else:
        derivative = DERIVATIVES_OF_OUTPUT[name]
    loss: Callable[[Array, Array, Array], Array]
    if derivation.loss == "log_softmax":
        loss = _CrossEntropyOfLogits(pick(F.log_softmax))
    else:
        loss = _OfProbabilities(LOSSES_OF_PROBABILITIES[derivation.loss])
    return Recipe(
        derivation=derivation,
        activation=pick(ACTIVATIONS[derivation.activation]),
        activation_derivative=derivative,
        softmax=pick(SOFTMAXES[derivation.softmax]),
        one_hot=pick(ONE_HOTS[derivation.one_hot]),
        bias_gradient=BIAS_GRADIENTS[derivation.bias_gradient],
        loss=loss,
    )
