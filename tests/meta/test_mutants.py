"""The harness tested on itself: every injected backprop bug is caught, from gross slips down
to errors of relative size 1e-5 and bugs confined to units on the ReLU kink, and no correct
or equivalent implementation is flagged, ReLU units sitting exactly on the kink included.
``nox -s mutants`` runs this over more seeds (MUTANT_SEEDS) and prints the score."""

from __future__ import annotations

import os
from functools import partial

import pytest

from oracles import check_gradients
from tests.helpers import assert_equal_up_to_rounding, equal_up_to_rounding
from tests.meta.mutants import (
    ARCHITECTURES,
    EQUIVALENTS,
    KINKS,
    MUTANTS,
    ON_THE_KINK,
    REWRITES,
    SMALL_SIZES,
    gradients,
    init,
    kinks_for,
    loss,
)
from tests.meta.suite import resolution, run_suite

SEEDS = range(int(os.environ.get("MUTANT_SEEDS", "1")))
RELU = next(a for a in ARCHITECTURES if a.activation == "relu")


def test_the_suite_has_every_group_of_bugs_and_each_applies_somewhere() -> None:
    groups = {m.group for m in MUTANTS.values()}
    assert groups == {"derivation", "small", "kink"}
    assert sum(m.group == "derivation" for m in MUTANTS.values()) >= 20
    assert min(SMALL_SIZES) <= 1e-5 and max(SMALL_SIZES) >= 1e-3
    for name, mutant in MUTANTS.items():
        assert any(mutant.applies(arch) for arch in ARCHITECTURES), name


@pytest.mark.parametrize("bug", sorted(MUTANTS))
def test_each_bug_really_changes_the_gradient(bug: str) -> None:
    arch = next(a for a in ARCHITECTURES if MUTANTS[bug].applies(a))
    params, X, y = init(arch, 0, kinks=kinks_for(arch, 0))
    right, wrong = gradients(params, X, y, arch), gradients(params, X, y, arch, bug)
    assert not all(equal_up_to_rounding(wrong[k], right[k]) for k in right)


@pytest.mark.parametrize("mode", ["all", "directional"])
def test_every_bug_is_caught_and_no_correct_implementation_is_flagged(mode: str) -> None:
    score = run_suite(seeds=SEEDS, mode=mode)
    print(
        f"\nmode {mode}: caught {score.caught}/{score.total} {score.by_group}, "
        f"false alarms {score.false_alarms}/{score.correct_runs + score.rewrite_runs}"
    )
    assert score.missed == ()
    assert score.alarms == ()
    assert score.caught == score.total > 0
    assert set(score.by_group) == {"derivation", "small", "kink"}


@pytest.mark.parametrize("kinks", sorted(KINKS))
@pytest.mark.parametrize("equivalent", [None, "relu_mask_ge", "relu_derivative_half_at_zero"])
@pytest.mark.parametrize("mode", ["all", "directional"])
def test_correct_gradients_with_units_on_their_kinks_pass(kinks, equivalent, mode) -> None:
    """Whatever ReLU'(0) in [0, 1] the code takes, and whichever units sit on the kink (some
    moving in opposite directions along a random direction), it passes, judged rather than
    set aside."""
    params, X, y = init(RELU, 0, kinks=kinks)
    report = check_gradients(
        lambda p: loss(p, X, y, RELU),
        lambda p: gradients(p, X, y, RELU, equivalent=equivalent),
        params,
        mode=mode,
    )
    assert report.passed, report.summary()
    if equivalent != "relu_derivative_half_at_zero":
        # ReLU'(0) = 1/2 gives the mean of the one-sided derivatives, which is what the
        # central difference measures on the kink: no kink to handle there.
        assert report["b1"].kinks >= 1
    assert sum(p.set_aside for p in report.parameters) == 0


@pytest.mark.parametrize("mode", ["all", "sample", "directional"])
@pytest.mark.parametrize("bug", sorted(b for b, m in MUTANTS.items() if m.group == "kink"))
def test_a_bug_confined_to_units_on_their_kinks_fails_in_every_mode(bug, mode) -> None:
    for kinks in KINKS:
        params, X, y = init(RELU, 0, kinks=kinks)
        report = check_gradients(
            partial(loss, X=X, y=y, arch=RELU),
            partial(gradients, X=X, y=y, arch=RELU, bug=bug),
            params,
            mode=mode,
        )
        assert not report.passed, f"{kinks}\n{report.summary()}"


def test_rewrites_give_the_plain_numbers_up_to_rounding_and_kink_equivalents_do_not() -> None:
    """A rewrite, and an equivalent written away from the kink (a loop over examples, an
    unshifted softmax, a product with ones), gives the plain backward's numbers up to rounding
    (not bit for bit: OpenBLAS's Haswell kernel sums the transposed product in another order);
    each ReLU'(0) equivalent differs by more than rounding somewhere in the suite, else it would
    not put the check to the test on the kink."""
    beyond_rounding = dict.fromkeys(ON_THE_KINK, False)
    for arch in ARCHITECTURES:
        params, X, y = init(arch, 0, kinks=kinks_for(arch, 0))
        plain = gradients(params, X, y, arch)
        for name in (*REWRITES, *EQUIVALENTS):
            other = gradients(params, X, y, arch, equivalent=name)
            if name in ON_THE_KINK:
                beyond_rounding[name] |= not all(
                    equal_up_to_rounding(other[k], plain[k]) for k in plain
                )
            else:
                for k in plain:
                    assert_equal_up_to_rounding(other[k], plain[k], err_msg=f"{name} {k}")
    assert all(beyond_rounding.values()), beyond_rounding


def test_the_resolution_is_finer_than_the_smallest_bug() -> None:
    smallest, missed = resolution(RELU, seeds=(0,), mode="all")
    assert smallest is not None and smallest < min(SMALL_SIZES)
    assert missed is not None  # far enough below, rounding hides an error: the sweep ends


def test_equivalents_and_rewrites_are_listed_with_their_reason() -> None:
    assert "relu_mask_ge" in EQUIVALENTS and all(EQUIVALENTS.values())
    assert all(REWRITES.values()) and not set(REWRITES) & set(EQUIVALENTS)
    assert set(EQUIVALENTS) > ON_THE_KINK


def test_the_diagnosis_names_each_users_structure() -> None:
    """One-entry parameters, a factor that is or is not m, one layer's mask, batch norm."""
    from tests.meta import structures

    right, wrong = structures.score()
    assert not wrong and right == len(structures.CASES), "\n".join(wrong)


def test_the_diagnosis_names_each_layers_slip() -> None:
    """check_backward's corpus: pooling, an embedding, batch norm, a tanh RNN through time."""
    from tests.meta import layers

    right, wrong = layers.score()
    assert not wrong and right == len(layers.CASES), "\n".join(wrong)
