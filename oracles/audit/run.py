"""The derivation audit: every document x variant x style x oracle x parameter, measured.

Each network is judged on the first EXAMPLES training columns of its document's protocol at
its document's initialisation (seed 0), in float64: each style's hand-written gradients
against finite differences and JAX, each variant's primitives against the properties the
test suite checks, and each published failure re-measured with one departure reverted.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from oracles import check_gradients
from oracles._engine.optional import missing
from oracles._engine.records import ALL_PARAMETERS, GradientReport, Row
from oracles.audit.judge import Training, decide
from oracles.audit.network_diagnosis import diagnose_network
from oracles.audit.records import (
    DIRECTIONS,
    EXAMPLES,
    MAX_COORDINATES,
    Attribution,
    Audit,
    Consistency,
    Probe,
)
from oracles.checks import compare_gradients
from reference_nn import NETWORKS, VARIANTS
from reference_nn.gpu import gpu_unavailable_reason
from reference_nn.network import Network, build, network
from reference_nn.protocol import prepare
from reference_nn.recipe import Recipe, recipe_for
from reference_nn.spec import Departure, NetworkSpec

REVERSIBLE = ("activation", "activation_derivative", "softmax", "one_hot", "bias_gradient", "loss")


def _rows(
    report: GradientReport, name: str, variant: str, style: str, oracle: str, formulation: str
) -> Iterator[Row]:
    for p in report.parameters:
        yield Row(name, variant, style, oracle, formulation, p)


@contextmanager
def _published_overflow(variant: str) -> Iterator[None]:
    """Published code may overflow exp() as the document's does; that is probed separately."""
    with warnings.catch_warnings():
        if variant == "published":
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            warnings.filterwarnings("ignore", "divide by zero encountered", RuntimeWarning)
        yield


def available_styles() -> tuple[tuple[str, ...], dict[str, str]]:
    """The styles this machine runs, and the reason for each one it cannot."""
    reason = gpu_unavailable_reason()
    if reason is None:
        return ("loop", "vectorized", "gpu"), {}
    return ("loop", "vectorized"), {"gpu": reason}


def run_audit(
    mnist: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    names: tuple[str, ...] = tuple(NETWORKS),
    progress: Callable[[str], None] | None = None,
    consequences: bool = True,
    training: Training | None = None,
) -> Audit:
    """Measure every network x variant x available style x oracle on ``mnist`` and judge each
    parameter (``oracles.audit.judge``). With ``consequences``, each published defect's
    shortened protocol is also trained with and without its cause, starting as soon as the
    network's verdicts are known: in ``training`` when given (the caller collects it), else in
    a ``Training`` of its own, collected before returning."""
    if consequences and training is None:
        with Training(mnist) as own:
            audit = run_audit(mnist, names=names, progress=progress, training=own)
            own.collect(audit)
        return audit
    started = time.perf_counter()
    styles, skipped = available_styles()
    jax_reason = missing("jax")
    if jax_reason:
        skipped["jax"] = jax_reason
    properties_reason = missing("properties")
    if properties_reason:
        skipped["primitive properties"] = properties_reason
    audit = Audit(styles=styles, skipped=skipped)
    memo: Memo = {}  # each distinct primitive's properties, checked once
    for name in names:
        spec = NETWORKS[name]
        audit.modes[name] = (
            "all" if spec.parameter_count <= MAX_COORDINATES else f"directional x{DIRECTIONS}"
        )
        for variant in VARIANTS:
            data = prepare(spec, variant, mnist, seed=0)
            X = data.X_train[:, :EXAMPLES].astype(np.float64)
            y = data.y_train[:EXAMPLES]
            judge = network(name, variant=variant)
            params = {k: v.astype(np.float64) for k, v in judge.init_params(0).items()}
            for style in styles:
                net = network(name, style=style, variant=variant)
                _audit_style(audit, judge, net, params, X, y, with_jax=jax_reason is None)
                if progress:
                    progress(f"{name} {variant} {style}")
            probes = probe_primitives(spec, variant, X, y, params, memo)
            audit.probes.extend(probes)
            if variant == "published":
                # Found from the measurements alone, without the spec's list of departures.
                with _published_overflow(variant):
                    audit.diagnoses[name] = diagnose_network(judge, params, X, y)
                audit.attributions.extend(
                    attribute(audit, spec, probes, X, y, params, memo, with_jax=jax_reason is None)
                )
                if training is not None and consequences:
                    mine = [r for r in audit.rows if r.network == name]
                    training.submit(decide(mine, audit.diagnoses, audit.attributions))
    audit.seconds = time.perf_counter() - started
    audit.verdicts = decide(audit.rows, audit.diagnoses, audit.attributions)
    return audit


def _audit_style(
    audit: Audit,
    judge: Network,
    net: Network,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    with_jax: bool,
) -> None:
    name, variant, style = net.spec.name, net.variant, net.style
    with _published_overflow(variant):
        # Finite differences of the vectorised loss: the loop style's own loss equals it to
        # 1e-12 (tested) and is 30 times slower to evaluate.
        fd = check_gradients(
            lambda p: judge.loss(p, X, y),
            lambda p: net.gradients(p, X, y),
            params,
            mode="all" if net.spec.parameter_count <= MAX_COORDINATES else "directional",
            directions=DIRECTIONS,
        )
        for row in _rows(fd, name, variant, style, "finite_difference", ""):
            (audit.combined if row.parameter == ALL_PARAMETERS else audit.rows).append(row)
        if with_jax:
            from oracles.audit.jax_oracle import FORMULATIONS, jax_gradients

            analytic = fd.gradient
            for formulation in FORMULATIONS:
                trusted = jax_gradients(net, params, X, y, formulation)
                report = compare_gradients(analytic, trusted, oracle=f"jax ({formulation})")
                audit.rows.extend(_rows(report, name, variant, style, "jax", formulation))
                if formulation == "own_forward":
                    where = (name, variant, style)
                    audit.consistency.extend(_consistency(where, fd, report, trusted))


def _consistency(
    where: tuple[str, str, str],
    fd: GradientReport,
    jax: GradientReport,
    trusted: dict[str, np.ndarray],
) -> Iterator[Consistency]:
    """Where finite differences and jax.grad of the same loss disagree on a parameter: is
    the error below the resolution of the oracle that passed? Finite differences passing
    and JAX failing is explained when JAX's gradient, projected on every coordinate or
    direction the differences measured, is within their allowance there (they could not
    see it); JAX passing where finite differences fail is never explained."""
    for p in fd.parameters:
        mine = jax.parameters if p.name == ALL_PARAMETERS else (jax[p.name],)
        jax_passed = all(q.passed for q in mine)
        if p.passed == jax_passed:
            continue
        jax_error = max(q.max_relative_error for q in mine)
        jax_resolution = min(q.resolution for q in mine)
        if p.passed:
            # JAX's error along each coordinate or direction the differences measured, as a
            # fraction of what they resolve there (their allowance): over 1, they saw it.
            c = p.comparisons
            seen = list((np.abs(c.gradient - p.along(trusted)) / c.allowed)[c.judged])
            worst = max((float(r) for r in seen if np.isfinite(r)), default=0.0)
            explained = worst <= 1
            detail = (
                f"along every one of the {len(seen)} coordinates or directions finite "
                f"differences measured, JAX's error stays within their resolution there (at "
                f"most {100 * worst:.2g}% of it), above JAX's own ({jax_resolution:.0e}); "
                f"entrywise it reaches {jax_error:.2g}"
                if explained
                else f"JAX's gradient would fail {sum(r > 1 for r in seen)} of the {len(seen)} "
                "coordinates or directions that finite differences passed: the oracles "
                "contradict each other"
            )
        else:
            explained = False
            detail = (
                f"finite differences fail ({p.max_relative_error:.2g}) where JAX passes at "
                f"resolution {jax_resolution:.2g}: the oracles contradict each other"
            )
        yield Consistency(*where, p.name, p.passed, jax_passed, explained, detail)


# The primitives the shared properties judge (oracles.checks.primitives), by what each concerns.
PRIMITIVE_CONCERNS = {"softmax": "softmax", "cross_entropy": "loss", "one_hot": "one_hot",
                      "relu": "activation", "sigmoid": "activation"}  # fmt: skip
Memo = dict[tuple[Any, ...], Any]


Primitive = tuple[tuple[Any, ...], Callable[..., Any], dict[str, Any]]


def _primitive(recipe: Recipe, kind: str) -> Primitive:
    """(what identifies it, the recipe's function as ``kind`` takes it, its conventions)."""
    if kind == "softmax":
        return (kind, recipe.softmax), recipe.softmax, {"axis": 0}
    if kind == "cross_entropy":

        def loss(Z: np.ndarray, Y: np.ndarray) -> Any:
            return recipe.loss(Z, recipe.softmax(Z), Y)

        key = (kind, recipe.loss, recipe.softmax)
        return key, loss, {"axis": 0, "takes": "logits", "labels": "one_hot"}
    if kind == "one_hot":
        return (kind, recipe.one_hot), recipe.one_hot, {"axis": 0, "num_classes": 10}
    return (kind, recipe.activation), recipe.activation, {}


def _check(recipe: Recipe, kind: str, memo: Memo) -> Any:
    """``check_primitive`` of the recipe's ``kind``, once per distinct function in ``memo``."""
    from oracles.checks.primitives import check_primitive

    key, fn, conventions = _primitive(recipe, kind)
    if key not in memo:
        memo[key] = check_primitive(fn, kind, **conventions)
    return memo[key]


def _kinds(spec: NetworkSpec) -> tuple[str, ...]:
    return ("softmax", "cross_entropy", "one_hot", spec.hidden_activation)


def probe_primitives(
    spec: NetworkSpec,
    variant: str,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, np.ndarray],
    memo: Memo | None = None,
) -> list[Probe]:
    """Each primitive of this variant against its properties (``oracles.check_primitive``, the same
    ones users' primitives are checked against; ``memo`` keeps each function's report), and the
    whole network's loss and gradients at weights x 1e3."""
    memo = {} if memo is None else memo
    recipe = recipe_for(spec.derivation(variant))
    probes: list[Probe] = []
    for kind in _kinds(spec) if missing("properties") is None else ():
        report = _check(recipe, kind, memo)
        failed = {f.property: f for f in report.failures}
        for words in report.checked:
            f = failed.get(words)
            measured = (f"input {_short(f.input)}: expected {f.expected}, got {f.got}" if f
                        else "no breaking input found")  # fmt: skip
            probes.append(Probe(spec.name, variant, f"{kind}: {words}",
                                PRIMITIVE_CONCERNS[kind], f is None, measured))  # fmt: skip

    def huge_weights() -> tuple[bool, str]:
        net = build(spec, variant=variant)
        big = {k: v * 1e3 for k, v in params.items()}
        labels = y.copy()
        labels[0] = 9
        value, grads = net.loss_and_gradients(big, X, labels)
        finite = np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads.values())
        return bool(finite), f"loss {value:.4g} with weights x 1e3"

    passed, measured = _measure(huge_weights)
    probes.append(Probe(spec.name, variant, HUGE_WEIGHTS, "softmax", passed, measured))
    return probes


HUGE_WEIGHTS = "loss and gradients finite for weights x 1e3"


def _short(value: Any) -> str:
    text = np.array2string(value, precision=6) if isinstance(value, np.ndarray) else repr(value)
    return " ".join(text.split())


def _measure(fn: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
    """Run a property measurement; a floating-point warning or error is itself a failure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            passed, measured = fn()
        except (ValueError, FloatingPointError, TypeError) as exc:
            return False, f"raised {type(exc).__name__}: {exc}"
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if runtime:
        return False, f"{measured}; warned: {runtime[0].message}"
    return passed, measured


def _reverted(spec: NetworkSpec) -> Iterator[tuple[Departure, NetworkSpec]]:
    """For each departure that names a primitive, the spec with that primitive reverted."""
    for departure in spec.departures:
        if departure.concerns not in REVERSIBLE:
            continue
        reverted = spec.reverted(departure.what)
        if reverted is not None and reverted.published != spec.published:
            yield departure, reverted


def _gradient_error(
    spec: NetworkSpec,
    check: str,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, np.ndarray],
    with_jax: bool,
) -> tuple[float, bool]:
    """(max relative error, passed) of the published backward of ``spec`` under ``check``."""
    net = build(spec, variant="published")
    with _published_overflow("published"):
        if with_jax:
            from oracles.audit.jax_oracle import Formulation, check_against_jax

            formulation: Formulation = "own_forward" if check == "backward" else "independent"
            report = check_against_jax(net, params, X, y, formulation)
        elif check == "backward":
            report = check_gradients(
                lambda p: net.loss(p, X, y), lambda p: net.gradients(p, X, y), params,
                mode="directional", directions=DIRECTIONS,
            )  # fmt: skip
        else:
            return float("nan"), False
    return max(p.max_relative_error for p in report.parameters), report.passed


def attribute(
    audit: Audit,
    spec: NetworkSpec,
    probes: list[Probe],
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, np.ndarray],
    memo: Memo,
    *,
    with_jax: bool,
) -> list[Attribution]:
    """Which departure causes each published failure: re-measure with each one reverted."""
    out: list[Attribution] = []
    failing = {
        "backward": [
            r for r in audit.rows
            if r.network == spec.name and r.variant == "published" and not r.passed
            and (r.oracle == "finite_difference" or r.formulation == "own_forward")
        ],
        "forward": [
            r for r in audit.rows
            if r.network == spec.name and r.variant == "published" and not r.passed
            and r.formulation == "independent"
        ],
    }  # fmt: skip
    for check, rows in failing.items():
        if not rows:
            continue
        before = max(r.max_relative_error for r in rows)
        for departure, reverted in _reverted(spec):
            after, passed = _gradient_error(reverted, check, X, y, params, with_jax)
            out.append(
                Attribution(
                    spec.name, check, departure.concerns, departure.what, before, after, passed
                )
            )
    for probe in probes:
        if probe.passed:
            continue
        for departure, reverted in _reverted(spec):
            if probe.property == HUGE_WEIGHTS:
                again = probe_primitives(reverted, "published", X, y, params, memo)
                passed = next(p.passed for p in again if p.property == HUGE_WEIGHTS)
            else:
                kind, words = probe.property.split(": ", 1)
                recipe = recipe_for(reverted.derivation("published"))
                failures = _check(recipe, kind, memo).failures
                passed = all(f.property != words for f in failures)
            out.append(
                Attribution(
                    spec.name, probe.property, departure.concerns, departure.what,
                    float("nan"), float("nan"), passed,
                )
            )  # fmt: skip
    return out
