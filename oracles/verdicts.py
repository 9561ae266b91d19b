"""One verdict per network x variant x parameter, from every oracle's measurements together.

  correct   every oracle passes, in every style.
  inexact   the hand-written gradient is, at its oracle's resolution, the derivative of one of
            the two objectives the audit knows, the code's own forward pass and loss (finite
            differences, jax.grad of its own forward) or the network the document describes
            (jax.grad of an independent formulation), and not of the other: the derivation is
            right, and the two objectives differ in what the code computes forward (an epsilon
            inside a printed loss's log, a shift inside an exp).
  wrong     the derivative of neither: a slip in the derivation.

No threshold on the size of the error enters: the same guard moves the gradient by 1.2e-7
in document 000, 5.8e-6 in 002 (log(p + 1e-8), measured) and 5.9e-3 on another ReLU network
whose probabilities come closer to 1e-8, so a size rule would give one departure different
verdicts. What decides is which objective the gradient is exactly the derivative of, which
does not depend on the data. Without JAX, only finite differences of the code's own loss are
measured: a failure there is ``wrong`` (a guard cannot be told from a bug without the second
objective).

The consequence of a defect is measured by training the document's shortened protocol
(reference_nn.protocol.SHORT_PROTOCOLS, seed 0) twice, as published and with the departure
that causes it reverted, and comparing the final training loss (of the correct objective)
and the test accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from oracles.diagnosis import Diagnosis
from oracles.records import Attribution, Row, Verdict
from reference_nn.network import build, network
from reference_nn.protocol import SHORT_PROTOCOLS, prepare
from reference_nn.spec import NetworkSpec
from reference_nn.training import train

VERDICTS = ("correct", "inexact", "wrong")


def decide(
    rows: Sequence[Row],
    diagnoses: dict[str, Diagnosis],
    attributions: Sequence[Attribution],
    consequences: dict[tuple[str, str], dict[str, Any] | None] | None = None,
) -> list[Verdict]:
    """Every (network, variant, parameter) of ``rows``, judged by the rule above."""
    out = []
    keys = dict.fromkeys((r.network, r.variant, r.parameter) for r in rows)
    for network_name, variant, parameter in keys:
        mine = [
            r
            for r in rows
            if (r.network, r.variant, r.parameter) == (network_name, variant, parameter)
        ]
        verdict, error, check = _rule(mine)
        diagnosis = diagnoses.get(network_name) if variant == "published" else None
        defects = tuple(
            d.kind for d in (diagnosis.defects if diagnosis else ()) if parameter in d.parameters
        )
        cause = None
        if verdict != "correct":
            fixes = [
                a.departure for a in attributions
                if a.network == network_name and a.check == check and a.passed_after
            ]  # fmt: skip
            cause = "; ".join(dict.fromkeys(fixes)) or None
        consequence = None
        if cause is not None and consequences is not None:
            consequence = consequences.get((network_name, cause))
        out.append(
            Verdict(network_name, variant, parameter, verdict, error, defects, cause, consequence)
        )
    return out


def _rule(rows: Sequence[Row]) -> tuple[str, float, str]:
    """(verdict, the largest error behind it, the attribution check that names its cause)."""
    own = [r for r in rows if r.oracle == "finite_difference" or r.formulation == "own_forward"]
    described = [r for r in rows if r.formulation == "independent"]
    largest = max(r.max_relative_error for r in rows)
    if all(r.passed for r in rows):
        return "correct", largest, ""
    if all(r.passed for r in own) and described:
        return "inexact", max(r.max_relative_error for r in described if not r.passed), "forward"
    error = max(r.max_relative_error for r in own if not r.passed)
    if described and all(r.passed for r in described):
        return "inexact", error, "backward"
    return "wrong", error, "backward"


def train_short(spec: NetworkSpec, mnist: Any, *, seed: int = 0) -> tuple[float, float]:
    """(final training loss of the correct objective, test accuracy in percent) after the
    shortened protocol of ``spec``'s document, trained as its published variant."""
    iterations, examples = SHORT_PROTOCOLS[spec.name]
    data = prepare(spec, "published", mnist, seed=seed)
    X, y = data.X_train[:, :examples], data.y_train[:examples]
    net = build(spec, variant="published")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        params = train(net, net.init_params(seed), X, y, iterations=iterations).params
    judge = network(spec.name)  # the correct loss and prediction, for both runs alike
    as_reference = {k: v.astype(judge.dtype) for k, v in params.items()}
    final = float(judge.loss(as_reference, X.astype(judge.dtype), y))
    X_test = data.X_test.astype(judge.dtype)
    accuracy = 100 * float(np.mean(judge.predict(as_reference, X_test) == data.y_test))
    return final, accuracy


def consequence(
    spec: NetworkSpec, reverted: NetworkSpec, mnist: Any, *, seed: int = 0
) -> dict[str, Any]:
    """What the departures between ``reverted`` and ``spec`` do to training: published
    minus reverted, in final training loss and in test accuracy (points)."""
    loss_published, accuracy_published = train_short(spec, mnist, seed=seed)
    loss_reverted, accuracy_reverted = train_short(reverted, mnist, seed=seed)
    return {
        "delta_loss": loss_published - loss_reverted,
        "delta_test_accuracy": accuracy_published - accuracy_reverted,
        "iterations": SHORT_PROTOCOLS[spec.name][0],
        "published": {"loss": loss_published, "test_accuracy": accuracy_published},
        "reverted": {"loss": loss_reverted, "test_accuracy": accuracy_reverted},
    }


def causes_to_measure(verdicts: Iterable[Verdict]) -> set[tuple[str, str]]:
    """The (network, cause) pairs of published parameters that are not correct."""
    return {
        (v.network, v.cause)
        for v in verdicts
        if v.variant == "published" and v.verdict != "correct" and v.cause is not None
    }


def reverted_spec(spec: NetworkSpec, cause: str) -> NetworkSpec | None:
    """``spec`` with the departures named in ``cause`` (joined by "; ") reverted, or None
    when one of them names no primitive that can be swapped for the reference's."""
    published = spec.published
    for what in cause.split("; "):
        departure = next((d for d in spec.departures if d.what == what), None)
        if departure is None or not hasattr(published, departure.concerns):
            return None
        published = replace(
            published, **{departure.concerns: getattr(spec.reference, departure.concerns)}
        )
    return replace(spec, published=published)
