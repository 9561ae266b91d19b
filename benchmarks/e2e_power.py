"""What the end-to-end MNIST tests can catch: each mutation-suite bug trained end to end.

For every document, the shortened protocol of ``tests/test_mnist_e2e.py`` (the same data,
initialisation, learning rate and iterations) is trained with the mutation suite's
backward pass (``tests.meta.mutants.gradients``, the document's sizes and activation): once
correct, and once with each bug that applies. A bug is caught when the test accuracy falls
under that test's threshold or the loss does not fall. ``nox -s bench`` does not run it
(about 15 minutes on 2 cores): ``python -m benchmarks.e2e_power`` with MNIST_DIR set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from reference_nn import NETWORKS, network
from reference_nn.data import load_mnist
from reference_nn.protocol import SHORT_PROTOCOLS, prepare
from tests.meta.mutants import MUTANTS, Architecture, forward, gradients, loss
from tests.test_mnist_e2e import THRESHOLDS


def run(name: str, bug: str | None, mnist: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
    """(first loss, last loss, test accuracy in percent) of the shortened protocol."""
    spec = NETWORKS[name]
    iterations, examples = SHORT_PROTOCOLS[name]
    arch = Architecture(spec.sizes, spec.hidden_activation, name=name)
    data = prepare(spec, "reference", mnist, seed=0)
    X = data.X_train[:, :examples].astype(np.float64)
    y = data.y_train[:examples].astype(np.int64)
    p = {k: v.astype(np.float64) for k, v in network(name).init_params(0).items()}
    rate = spec.training.learning_rate
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        first = loss(p, X, y, arch)
        for _ in range(iterations):
            for k, g in gradients(p, X, y, arch, bug).items():
                p[k] = p[k] - rate * g
        last = loss(p, X, y, arch)
        _, As = forward(p, data.X_test.astype(np.float64), arch)
    accuracy = 100 * float(np.mean(np.argmax(As[-1], axis=0) == data.y_test))
    return first, last, accuracy


def main() -> None:
    """Train every document's shortened protocol with each bug; write a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="reports/bench", help="output folder")
    parser.add_argument("--networks", nargs="*", default=list(SHORT_PROTOCOLS))
    args = parser.parse_args()
    mnist = load_mnist(progress=False)
    rows = []
    for name in args.networks:
        spec = NETWORKS[name]
        threshold = THRESHOLDS[name]["reference"][0]
        arch = Architecture(spec.sizes, spec.hidden_activation, name=name)
        bugs = [b for b, m in MUTANTS.items() if m.applies(arch) and m.group != "kink"]
        for bug in [None, *bugs]:
            started = time.perf_counter()
            first, last, accuracy = run(name, bug, mnist)
            caught = not (accuracy >= threshold and last < first)
            rows.append(
                {"network": name, "bug": bug, "first_loss": first, "last_loss": last,
                 "test_accuracy": accuracy, "threshold": threshold, "caught": caught}
            )  # fmt: skip
            print(f"{name:<14} {bug or '(correct)':<40} loss {first:8.4f} -> {last:8.4f} "
                  f"accuracy {accuracy:6.2f} (threshold {threshold}) "
                  f"{'CAUGHT' if caught else 'passes'} {time.perf_counter() - started:5.1f} s",
                  flush=True)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "e2e_power.json").write_text(json.dumps(rows, indent=1))
    for name in args.networks:
        mine = [r for r in rows if r["network"] == name and r["bug"] is not None]
        caught = [r["bug"] for r in mine if r["caught"]]
        print(f"{name}: {len(caught)}/{len(mine)} caught: {', '.join(caught)}")


if __name__ == "__main__":
    main()
