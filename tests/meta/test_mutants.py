"""The harness tested on itself: every injected backprop bug is caught, and no correct or
equivalent implementation is flagged, ReLU units sitting exactly on the kink included.
``nox -s mutants`` runs this over more seeds (MUTANT_SEEDS) and prints the score."""

from __future__ import annotations

import os

import pytest

from oracles import check_gradients
from oracles.mutants import ARCHITECTURES, EQUIVALENTS, MUTANTS, gradients, init, loss, run_suite

SEEDS = range(int(os.environ.get("MUTANT_SEEDS", "1")))


def test_the_suite_has_at_least_twenty_bugs_and_each_applies_somewhere() -> None:
    assert len(MUTANTS) >= 20
    for name, mutant in MUTANTS.items():
        assert any(mutant.applies(arch) for arch in ARCHITECTURES), name


@pytest.mark.parametrize("bug", sorted(MUTANTS))
def test_each_bug_really_changes_the_gradient(bug: str) -> None:
    arch = next(a for a in ARCHITECTURES if MUTANTS[bug].applies(a))
    params, X, y = init(arch, 0, kink_units=2 if arch.activation == "relu" else 0)
    right, wrong = gradients(params, X, y, arch), gradients(params, X, y, arch, bug)
    assert any(abs(right[k] - wrong[k]).max() > 1e-6 for k in right)


@pytest.mark.parametrize("mode", ["all", "directional"])
def test_every_bug_is_caught_and_no_correct_implementation_is_flagged(mode: str) -> None:
    score = run_suite(seeds=SEEDS, mode=mode)
    print(
        f"\nmode {mode}: caught {score.caught}/{score.total}, "
        f"false alarms {score.false_alarms}/{score.correct_runs}"
    )
    assert score.missed == ()
    assert score.alarms == ()
    assert score.caught == score.total > 0


def test_relu_units_on_the_kink_are_set_aside_not_failed() -> None:
    arch = next(a for a in ARCHITECTURES if a.activation == "relu")
    params, X, y = init(arch, 0, kink_units=2)
    for equivalent in (None, "relu_mask_ge"):
        report = check_gradients(
            lambda p: loss(p, X, y, arch),
            lambda p, e=equivalent: gradients(p, X, y, arch, equivalent=e),
            params,
            mode="all",
        )
        assert report.passed, report.summary()
        assert report["b1"].kinks >= 2


def test_equivalents_are_listed_with_their_reason() -> None:
    assert "relu_mask_ge" in EQUIVALENTS and all(EQUIVALENTS.values())
