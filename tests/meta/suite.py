"""The mutation suite's scores: bugs caught and false alarms per mode of the check, the
diagnosis per kind, and the smallest error caught. ``python -m tests.meta.suite`` prints them;
``nox -s mutants`` runs it with 10 seeds."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles import check_gradients, diagnose
from tests.helpers import equal_up_to_rounding
from tests.meta import layers, structures
from tests.meta.mutants import (
    ARCHITECTURES,
    DIAGNOSES,
    EQUIVALENTS,
    MUTANTS,
    REWRITES,
    SMALL_SHAPES,
    Architecture,
    Array,
    Params,
    gradients,
    init,
    kinks_for,
    loss,
    small_error,
)


@dataclass(frozen=True)
class Score:
    """How the check did on the suite: bugs caught (in all, and per group), and false alarms
    on correct code (``correct_runs``: plain and EQUIVALENTS; ``rewrite_runs``: REWRITES,
    counted apart since they are plain's own operations rearranged)."""

    caught: int
    total: int
    false_alarms: int
    correct_runs: int
    missed: tuple[str, ...]
    alarms: tuple[str, ...]
    by_group: dict[str, tuple[int, int]]
    rewrite_runs: int


def _check(
    arch: Architecture,
    seed: int,
    bug: str | None,
    equivalent: str | None,
    options: dict[str, Any],
) -> bool:
    """True when the check passes this (architecture, seed, bug or equivalent)."""
    params, X, y = init(arch, seed, kinks=kinks_for(arch, seed))
    report = check_gradients(
        partial(loss, X=X, y=y, arch=arch),
        partial(gradients, X=X, y=y, arch=arch, bug=bug, equivalent=equivalent),
        params,
        seed=seed,
        **options,
    )
    return report.passed


def run_suite(
    architectures: Sequence[Architecture] = ARCHITECTURES,
    *,
    seeds: Iterable[int] = (0, 1, 2),
    **options: Any,
) -> Score:
    """Check every applicable bug (must fail) and every equivalent and rewrite (must pass)
    on each architecture and seed; ReLU architectures also get units exactly on the kink."""
    missed: list[str] = []
    alarms: list[str] = []
    groups: dict[str, list[int]] = {}
    total = runs = rewrites = 0
    for arch in architectures:
        for seed in seeds:
            where = f"{arch.name}/seed {seed} ({kinks_for(arch, seed) or 'no kinks'})"
            params, X, y = init(arch, seed, kinks=kinks_for(arch, seed))
            plain = gradients(params, X, y, arch)
            for bug, mutant in MUTANTS.items():
                if mutant.applies(arch):
                    buggy = gradients(params, X, y, arch, bug)
                    if all(equal_up_to_rounding(buggy[k], plain[k]) for k in plain):
                        continue  # here the bug changes nothing (zero biases, say)
                    total += 1
                    tally = groups.setdefault(mutant.group, [0, 0])
                    tally[1] += 1
                    if _check(arch, seed, bug, None, options):
                        missed.append(f"{bug} on {where}")
                    else:
                        tally[0] += 1
            for equivalent in (None, *EQUIVALENTS, *REWRITES):
                if equivalent in REWRITES:
                    rewrites += 1
                else:
                    runs += 1
                if not _check(arch, seed, None, equivalent, options):
                    alarms.append(f"{equivalent or 'plain'} on {where}")
    return Score(
        caught=total - len(missed),
        total=total,
        false_alarms=len(alarms),
        correct_runs=runs,
        missed=tuple(missed),
        alarms=tuple(alarms),
        by_group={group: (c, t) for group, (c, t) in groups.items()},
        rewrite_runs=rewrites,
    )


@dataclass(frozen=True)
class DiagnosisScore:
    """How the diagnosis did: per expected kind (the first of DIAGNOSES[bug]), bugs named
    with a right kind and exactly the parameters they change; and correct or equivalent
    cases that got a defect."""

    by_kind: dict[str, tuple[int, int]]
    wrong: tuple[str, ...]
    alarms: tuple[str, ...]
    correct_runs: int

    @property
    def right(self) -> int:
        """Bugs diagnosed rightly."""
        return sum(r for r, _ in self.by_kind.values())

    @property
    def total(self) -> int:
        """Bugs diagnosed."""
        return sum(t for _, t in self.by_kind.values())


def diagnosis_suite(
    architectures: Sequence[Architecture] = ARCHITECTURES,
    *,
    seeds: Iterable[int] = (0, 1, 2),
) -> DiagnosisScore:
    """Diagnose every applicable bug and every correct, equivalent and rewritten case."""
    by_kind: dict[str, list[int]] = {}
    wrong: list[str] = []
    alarms: list[str] = []
    runs = 0
    for arch in architectures:
        for seed in seeds:
            params, X, y = init(arch, seed, kinks=kinks_for(arch, seed))
            right = gradients(params, X, y, arch)
            where = f"{arch.name}/seed {seed} ({kinks_for(arch, seed) or 'no kinks'})"
            judge = partial(loss, X=X, y=y, arch=arch)
            for equivalent in (None, *EQUIVALENTS, *REWRITES):
                runs += 1
                found = diagnose(judge, partial(gradients, X=X, y=y, arch=arch,
                                                equivalent=equivalent), params)  # fmt: skip
                if not found.correct:
                    alarms.append(f"{equivalent or 'plain'} on {where}: {found}")
            for bug, mutant in MUTANTS.items():
                if not mutant.applies(arch):
                    continue
                buggy = gradients(params, X, y, arch, bug)
                changed = {k for k in right if not equal_up_to_rounding(buggy[k], right[k])}
                if not changed:
                    continue  # here the bug changes nothing (zero biases, say)
                found = diagnose(judge, partial(gradients, X=X, y=y, arch=arch, bug=bug), params)
                named = {p for d in found.defects for p in d.parameters}
                kinds = {d.kind for d in found.defects}
                ok = bool(kinds) and kinds <= set(DIAGNOSES[bug]) and named == changed
                tally = by_kind.setdefault(DIAGNOSES[bug][0], [0, 0])
                tally[0] += ok
                tally[1] += 1
                if not ok:
                    wrong.append(f"{bug} on {where}: {sorted(kinds)} for {sorted(named)}")
    return DiagnosisScore(
        {kind: (r, t) for kind, (r, t) in by_kind.items()}, tuple(wrong), tuple(alarms), runs
    )


RESOLUTION_SIZES = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8)


def _with_small_error(
    params: Params,
    X: Array,
    y: NDArray[np.int64],
    arch: Architecture,
    shape: str,
    size: float,
) -> Params:
    grads = gradients(params, X, y, arch)
    small_error(grads, shape, size, arch.layers)
    return grads


def resolution(
    arch: Architecture, *, seeds: Iterable[int] = (0, 1, 2), **options: Any
) -> tuple[float | None, float | None]:
    """(smallest, first missed): going down RESOLUTION_SIZES, the smallest relative size at
    which every shape of SMALL_SHAPES is caught at every seed, and the next size, where
    some is missed (None when none is)."""
    smallest = None
    for size in RESOLUTION_SIZES:
        for seed in seeds:
            params, X, y = init(arch, seed, kinks=kinks_for(arch, seed))
            for shape in SMALL_SHAPES:
                wrong = partial(_with_small_error, X=X, y=y, arch=arch, shape=shape, size=size)
                report = check_gradients(
                    partial(loss, X=X, y=y, arch=arch), wrong, params, seed=seed, **options
                )
                if report.passed:
                    return smallest, size
        smallest = size
    return smallest, None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the suite's score for each mode, and the smallest relative error it catches on
    each architecture; exit 1 on a missed bug or a false alarm in mode all or directional."""
    parser = argparse.ArgumentParser(prog="python -m tests.meta.suite", description=main.__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per architecture")
    args = parser.parse_args(argv)
    status = 0
    seeds = range(args.seeds)
    for mode in ("all", "directional", "sample"):
        started = time.perf_counter()
        score = run_suite(seeds=seeds, mode=mode, samples=8)
        groups = ", ".join(f"{g} {c}/{t}" for g, (c, t) in score.by_group.items())
        print(
            f"mode {mode:<12} caught {score.caught}/{score.total} ({groups}); false alarms "
            f"{score.false_alarms}/{score.correct_runs + score.rewrite_runs} "
            f"({score.correct_runs} correct and equivalent, {score.rewrite_runs} rewrites) "
            f"({time.perf_counter() - started:.1f} s)"
        )
        for line in score.missed[:10]:
            print(f"  missed: {line}")
        for line in score.alarms[:10]:
            print(f"  false alarm: {line}")
        if mode != "sample" and (score.missed or score.alarms):
            status = 1
    score_d = diagnosis_suite(seeds=seeds)
    kinds = ", ".join(f"{k} {r}/{t}" for k, (r, t) in sorted(score_d.by_kind.items()))
    print(
        f"\ndiagnosis: {score_d.right}/{score_d.total} bugs named with a right kind and exactly "
        f"their parameters ({100 * score_d.right / score_d.total:.0f}%); correct or equivalent "
        f"cases given a defect: {len(score_d.alarms)}/{score_d.correct_runs}\n  by kind: {kinds}"
    )
    for line in score_d.wrong[:12]:
        print(f"  misnamed: {line}")
    for line in score_d.alarms[:5]:
        print(f"  defect on a correct case: {line}")
    if score_d.alarms or score_d.right < 0.9 * score_d.total:
        status = 1
    right, wrong = structures.score()
    print(
        f"diagnosis on users' structures (tests/meta/structures.py): {right}/{right + len(wrong)}"
    )
    for line in wrong:
        print(f"  misnamed: {line}")
    status = status or (1 if wrong else 0)
    named = [layers.score(seed) for seed in seeds]
    right = sum(r for r, _ in named)
    print(f"diagnosis of one layer's backward (tests/meta/layers.py, {len(layers.CASES)} slips x "
          f"{len(seeds)} seeds): {right}/{len(layers.CASES) * len(seeds)}")  # fmt: skip
    for line in sorted({w for _, wrong in named for w in wrong}):
        print(f"  misnamed: {line}")
    print(
        "\nsmallest relative error caught (||error|| / ||gradient|| of the parameter; every "
        f"shape of {', '.join(SMALL_SHAPES)}, seeds 0-{args.seeds - 1}; first size missed)"
    )
    print(f"{'architecture':<16}" + "".join(f"{mode:>22}" for mode in ("all", "directional")))
    for arch in ARCHITECTURES:
        cells = []
        for mode in ("all", "directional"):
            smallest, missed = resolution(arch, seeds=seeds, mode=mode)
            text = "none" if smallest is None else f"{smallest:.0e}"
            cells.append(f"{text} (missed {missed:.0e})" if missed else f"{text} (all)")
        print(f"{arch.name:<16}" + "".join(f"{c:>22}" for c in cells))
    return status


if __name__ == "__main__":
    sys.exit(main())
