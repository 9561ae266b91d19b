"""Gradient descent as the documents run it, returning its history instead of printing it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_nn.network import Network, Params

# Derivation fields the parameter update never reads: ``train`` evaluates the loss only to log
# it, so two derivations that differ only here train to the same parameters, bit for bit.
NOT_READ_BY_UPDATE = frozenset({"loss"})


@dataclass(frozen=True)
class LogEntry:
    """One logged step: ``iteration`` updates had been applied before this forward pass."""

    iteration: int
    loss: float
    train_accuracy: float


@dataclass(frozen=True)
class TrainResult:
    """The trained parameters (NumPy) and the logged history."""

    params: Params
    history: tuple[LogEntry, ...]

    def history_dicts(self) -> list[dict[str, Any]]:
        """The history as a list of plain dicts (for JSON)."""
        return [asdict(entry) for entry in self.history]


def train(
    net: Network,
    params: Params,
    X: NDArray[np.floating],
    y: NDArray[np.integer],
    *,
    iterations: int | None = None,
    learning_rate: float | None = None,
    log_every: int | None = None,
    on_step: Callable[[int], object] | None = None,
) -> TrainResult:
    """Run plain gradient descent on the mean loss over all m columns of X (784, m).

    Each iteration is one forward pass over the whole training set, the gradient of
    the mean loss (summed example by example in the ``loop`` style), and one update
    W <- W - learning_rate * dW for every parameter, as every document does. The loss
    and training accuracy of that same forward pass (before its update) are logged
    every ``log_every`` iterations and at the last. Defaults come from the spec.
    ``params`` is not changed; the data stay on the style's device throughout.
    """
    training = net.spec.training
    iterations = training.iterations if iterations is None else iterations
    learning_rate = training.learning_rate if learning_rate is None else learning_rate
    log_every = training.log_every if log_every is None else log_every
    if iterations < 0 or log_every < 1:
        raise ValueError(
            f"iterations must be >= 0 and log_every >= 1, got {iterations}, {log_every}"
        )
    p, Xn, yn = net.to_native(params, X, y)
    p = {name: value.copy() for name, value in p.items()}
    xp = net.backend.xp
    history: list[LogEntry] = []
    for t in range(iterations):
        if t % log_every == 0 or t == iterations - 1:
            loss, grads, A_L = net.backend.loss_and_gradients(p, Xn, yn, net.recipe)
            accuracy = float(xp.mean(xp.argmax(A_L, axis=0) == yn))
            history.append(LogEntry(iteration=t, loss=float(loss), train_accuracy=accuracy))
        else:  # the same gradients, without evaluating the loss nobody reads
            grads = net.backend.gradients(p, Xn, yn, net.recipe)
        for name, g in grads.items():
            p[name] -= learning_rate * g
        if on_step is not None:
            on_step(t)
    to_numpy = net.backend.to_numpy
    return TrainResult({name: np.asarray(to_numpy(v)) for name, v in p.items()}, tuple(history))
