"""One verdict per network x variant x parameter, from every oracle's measurements together:

  correct   every oracle passes, in every style;
  inexact   exactly the derivative of one of the code's two objectives (its own forward and
            loss, or the network the document describes) and not of the other: a guard or a
            shift in the forward, no size threshold (without JAX a failure is ``wrong``);
  wrong     the derivative of neither: a slip in the derivation.

A defect's consequence: the shortened protocol trained as published and with its cause
reverted (seed 0), published minus reverted in final loss and test accuracy.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any

import numpy as np
import threadpoolctl

from oracles._engine.diagnosis import Diagnosis
from oracles._engine.records import Row
from oracles.audit.records import Attribution, Audit, Verdict
from oracles.own_network.verdict import verdict
from reference_nn import NETWORKS
from reference_nn.allocator import keep_freed_memory
from reference_nn.network import build, network
from reference_nn.protocol import SHORT_PROTOCOLS, prepare
from reference_nn.spec import NetworkSpec
from reference_nn.training import NOT_READ_BY_UPDATE, train


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
    own_ok = all(r.passed for r in own)
    found = verdict(own_ok, all(r.passed for r in described) if described else None)
    if found == "correct":
        return found, max(r.max_relative_error for r in rows), ""
    if own_ok:
        return found, max(r.max_relative_error for r in described if not r.passed), "forward"
    return found, max(r.max_relative_error for r in own if not r.passed), "backward"


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


def trains_identically(spec: NetworkSpec, reverted: NetworkSpec) -> bool:
    """True when the two published derivations differ only in what the update never reads."""
    a, b = asdict(spec.published), asdict(reverted.published)
    return all(a[k] == b[k] for k in a if k not in NOT_READ_BY_UPDATE)


def one_blas_thread_per_process() -> None:
    """The audit runs one process per core: each with one BLAS thread. OpenBLAS's idle threads
    spin, and with more threads than cores they spent half the audit's CPU time (136 s of CPU
    against 71 s, 86 s against 56 s on 2 cores); the trained numbers no longer depend on the
    machine's core count either, since a product's summation order follows its threads."""
    threadpoolctl.threadpool_limits(1, user_api="blas")


def _worker_start() -> None:
    """Each training process is a program of its own: one BLAS thread, and it keeps the memory
    NumPy frees (a training step 12-42% faster on the small networks,
    benchmarks/allocator.py)."""
    one_blas_thread_per_process()
    keep_freed_memory()


class Training:
    """The consequence trainings of an audit, in worker processes, started as each network's
    causes become known (``submit``) and collected at the end (``collect``)."""

    def __init__(self, mnist: Any, *, workers: int | None = None) -> None:
        self._mnist = mnist
        context = multiprocessing.get_context("spawn")  # JAX's threads make fork unsafe
        self._pool = ProcessPoolExecutor(
            workers or os.cpu_count() or 1, mp_context=context, initializer=_worker_start
        )
        self._jobs: dict[tuple[str, str], Future[tuple[float, float]]] = {}
        self._reverts: dict[tuple[str, str], NetworkSpec | None] = {}

    def __enter__(self) -> Training:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    def submit(self, verdicts: Sequence[Verdict]) -> None:
        """Start training each cause of a published verdict that is not correct (and, once, the
        published network itself); nothing for a cause that changes only what the update never
        reads (it trains identically) or that names no primitive."""
        for v in verdicts:
            if v.variant != "published" or v.verdict == "correct" or v.cause is None:
                continue
            key = (v.network, v.cause)
            if key in self._reverts:
                continue
            spec = NETWORKS[v.network]
            self._reverts[key] = reverted = spec.reverted(*v.cause.split("; "))
            if reverted is None or trains_identically(spec, reverted):
                continue
            for job, trained in (((v.network, "published"), spec), (key, reverted)):
                if job not in self._jobs:
                    self._jobs[job] = self._pool.submit(train_short, trained, self._mnist)

    @property
    def total(self) -> int:
        """Trainings started."""
        return len(self._jobs)

    def collect(self, audit: Audit, progress: Callable[[str], None] | None = None) -> None:
        """Wait for every training; fill ``audit.consequences`` (published minus reverted) and
        the verdicts' ``consequence``."""
        names = {future: key for key, future in self._jobs.items()}
        for future in as_completed(names):
            future.result()
            if progress:
                progress(" ".join(names[future]))
        for (name, cause), reverted in self._reverts.items():
            iterations = SHORT_PROTOCOLS[name][0]
            if reverted is None:
                audit.consequences[name, cause] = None
            elif (name, cause) not in self._jobs:
                audit.consequences[name, cause] = {
                    "delta_loss": 0.0, "delta_test_accuracy": 0.0, "iterations": iterations,
                    "identical": "the update never reads what this cause changes: "
                    + ", ".join(sorted(NOT_READ_BY_UPDATE)),
                }  # fmt: skip
            else:
                p_loss, p_accuracy = self._jobs[name, "published"].result()
                r_loss, r_accuracy = self._jobs[name, cause].result()
                audit.consequences[name, cause] = {
                    "delta_loss": p_loss - r_loss,
                    "delta_test_accuracy": p_accuracy - r_accuracy,
                    "iterations": iterations,
                    "published": {"loss": p_loss, "test_accuracy": p_accuracy},
                    "reverted": {"loss": r_loss, "test_accuracy": r_accuracy},
                }
        audit.verdicts = decide(audit.rows, audit.diagnoses, audit.attributions,
                                audit.consequences)  # fmt: skip
