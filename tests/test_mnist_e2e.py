"""End to end on MNIST: every document's protocol, shortened, reaches a measured accuracy.

Run by ``nox -s mnist`` (a few minutes on 2 cores). Each threshold comes from measured
runs of this exact shortened protocol with seeds 0, 1 and 2 (2026-11-23, 2 cores), and
sits about 3 points under the lowest of them, so that it holds on another machine.

What these tests catch is a broken pipeline (data, labels, scaling, protocol) or a training
that diverges or stalls, not a wrong gradient: gradient descent tolerates most backprop bugs.
Measured over the mutation suite (``benchmarks/e2e_power.py``, 2026-12-01: each document's
shortened protocol trained with tests.meta.mutants' backward, each bug that applies), they
catch 45 of 96 (network, bug) pairs of derivation slips and none of the 45 errors of relative
size 1e-3 to 1e-5. Caught wherever they apply: a flipped output error, a missing or doubled
1/m, the softmax treated elementwise, labels off by one, misplaced transposes, the sigmoid's
derivative taken as the sigmoid or applied twice. Never caught: the bias summed over units
and examples into one scalar (the bug of documents 003 and 004: 73.5-78.7% against
thresholds of 67-75), a bias summed over the wrong axis, a forgotten first-layer derivative,
the ReLU mask without the bias, the first example skipped, one column or one entry of dW_1
wrong, dW from the wrong layer's activations. Judging a gradient is the oracles' job
(``nox -s tests`` and ``nox -s audit``). The full protocols and the comparison with the
published figures are ``nox -s reproduce``.
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_nn.protocol import SHORT_PROTOCOLS
from reference_nn.reproduce import run_protocol
from tests.helpers import document_warnings

# name: {variant: (test-accuracy threshold, measured with seeds 0 1 2)}; the protocols
# (iterations, training examples kept) are reference_nn.protocol.SHORT_PROTOCOLS.
THRESHOLDS = {
    "relu_500_150": {"reference": (68.0, "72.38 71.88 71.45"),
                     "published": (67.0, "71.70 70.54 -")},
    "sigmoid_16_16": {"reference": (68.0, "75.50 76.82 71.17"),
                      "published": (68.0, "74.38 76.76 71.56")},
    "relu_532": {"reference": (67.0, "72.34 72.86 70.69"),
                 "published": (67.0, "72.34 72.86 70.69")},
    "relu_10_10": {"reference": (75.0, "79.00 78.70 79.70"),
                   "published": (75.0, "78.70 79.10 79.90")},
    "relu_16_16": {"reference": (74.0, "77.60 80.60 80.20"),
                   "published": (74.0, "78.70 79.80 80.90")},
}  # fmt: skip
CASES = [(name, variant) for name, by_variant in THRESHOLDS.items() for variant in by_variant]


@pytest.mark.e2e
@pytest.mark.mnist
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_shortened_protocol_reaches_its_measured_accuracy(name, variant, mnist) -> None:
    iterations, examples = SHORT_PROTOCOLS[name]
    threshold, measured = THRESHOLDS[name][variant]
    with document_warnings(name, variant):
        run = run_protocol(
            name, variant, mnist, iterations=iterations, train_examples=examples, seed=0
        )
    losses = [entry.loss for entry in run.result.history]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert run.test_accuracy >= threshold, (
        f"{name} {variant}: {run.test_name} accuracy {run.test_accuracy:.2f}% < {threshold}% "
        f"(measured with seeds 0 1 2: {measured})"
    )
    assert 100 * np.trace(run.confusion) / run.confusion.sum() == pytest.approx(run.test_accuracy)
