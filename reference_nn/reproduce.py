"""Run a document's published protocol end to end and compare with what it reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_nn.network import network
from reference_nn.networks import NETWORKS
from reference_nn.protocol import prepare
from reference_nn.training import TrainResult, train

TOLERANCE_POINTS = 1.5


@dataclass(frozen=True)
class Run:
    """One protocol run: what was trained, for how long, and what it reached (percent)."""

    network: str
    variant: str
    iterations: int
    train_examples: int
    test_name: str
    train_accuracy: float
    test_accuracy: float
    seconds: float
    result: TrainResult
    confusion: NDArray[np.int64]
    seed: int = 0

    def row(self) -> dict[str, Any]:
        """The table row: published against measured, in percent."""
        published = NETWORKS[self.network].published_result
        out: dict[str, Any] = {
            "network": self.network,
            "variant": self.variant,
            "seed": self.seed,
            "iterations": self.iterations,
            "train_examples": self.train_examples,
            "test_name": self.test_name,
            "published_train_accuracy": published.train_accuracy,
            "published_test_accuracy": published.test_accuracy,
            "train_accuracy": round(self.train_accuracy, 2),
            "test_accuracy": round(self.test_accuracy, 2),
            "seconds": round(self.seconds, 1),
        }
        if published.test_accuracy is not None:
            gap = self.test_accuracy - published.test_accuracy
            out["test_gap_points"] = round(gap, 2)
            out["within_tolerance"] = abs(gap) <= TOLERANCE_POINTS
        return out


def confusion_matrix(
    truth: NDArray[np.integer], predicted: NDArray[np.integer], classes: int
) -> NDArray[np.int64]:
    """Counts (classes, classes) with true labels as rows, as sklearn's confusion_matrix."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def run_protocol(
    name: str,
    variant: str,
    mnist: tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]],
    *,
    iterations: int | None = None,
    train_examples: int | None = None,
    seed: int = 0,
    style: str = "vectorized",
    log_every: int | None = None,
    on_step: Callable[[int], object] | None = None,
) -> Run:
    """Train ``name`` as its document does (optionally shortened) and measure accuracies.

    ``train_examples`` keeps only the first that many training columns of the protocol
    (for the short runs of the test suite); None keeps the document's own set.
    """
    spec = NETWORKS[name]
    net = network(name, style=style, variant=variant)
    data = prepare(spec, variant, mnist, seed=seed)
    X, y = data.X_train, data.y_train
    if train_examples is not None:
        X, y = X[:, :train_examples], y[:train_examples]
    iterations = spec.training.iterations if iterations is None else iterations
    started = time.perf_counter()
    result = train(
        net, net.init_params(seed), X, y,
        iterations=iterations, log_every=log_every, on_step=on_step,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    predicted = net.predict(result.params, data.X_test)
    return Run(
        network=name,
        variant=variant,
        iterations=iterations,
        train_examples=int(X.shape[1]),
        test_name=data.test_name,
        train_accuracy=100 * net.accuracy(result.params, X, y),
        test_accuracy=100 * float(np.mean(predicted == data.y_test)),
        seconds=seconds,
        result=result,
        confusion=confusion_matrix(data.y_test, predicted, spec.sizes[-1]),
        seed=seed,
    )


def printed_loss_agreement(run: Run) -> dict[str, Any] | None:
    """Our logged loss against the document's printed log, at the same number of updates.

    None when the document prints no losses or the run logged none of those points.
    Differences are ours minus printed; the initialisation and (for 000) the exact
    pixel pipeline are the document's own random draws, so agreement is in trend and size.
    """
    published = NETWORKS[run.network].published_result
    ours = {entry.iteration: entry.loss for entry in run.result.history}
    pairs = [
        (printed, ours[i - published.loss_log_lag])
        for i, printed in published.loss_log
        if i - published.loss_log_lag in ours
    ]
    if not pairs:
        return None
    printed, mine = np.array(pairs).T
    relative = np.abs(mine - printed) / np.abs(printed)
    return {
        "points": len(pairs),
        "first_printed": float(printed[0]),
        "first_ours": float(mine[0]),
        "last_printed": float(printed[-1]),
        "last_ours": float(mine[-1]),
        "median_relative_difference": float(np.median(relative)),
        "max_relative_difference": float(np.max(relative)),
    }


@dataclass(frozen=True)
class Spread:
    """The test accuracy (percent) of one network and variant over several seeds."""

    network: str
    variant: str
    seeds: tuple[int, ...]
    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean test accuracy over the seeds."""
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        """Sample standard deviation over the seeds (0 for one seed)."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0

    def covers(self, published: float) -> bool:
        """True when ``published`` lies within the range the seeds reached."""
        return min(self.accuracies) <= published <= max(self.accuracies)


def spreads(runs: list[Run] | tuple[Run, ...]) -> list[Spread]:
    """One Spread per (network, variant) that was run with more than one seed."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.network, run.variant), []).append(run)
    return [
        Spread(name, variant, tuple(r.seed for r in group),
               tuple(r.test_accuracy for r in group))
        for (name, variant), group in groups.items()
        if len({r.seed for r in group}) > 1
    ]  # fmt: skip
