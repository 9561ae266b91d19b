"""The audit end to end, through its command line: rows, findings, reports, exit status."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from oracles.audit.__main__ import main
from reference_nn import recipe
from tests.helpers import mnist_dir

NAME = "relu_10_10"  # the smallest network: every coordinate is checked
# Under pytest-xdist (--dist loadgroup) the tests sharing the audit fixture below run on one
# worker, so that it is computed once (it costs most of a minute).
SHARED_AUDIT = pytest.mark.xdist_group("audit-fixture")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    """One audit of relu_10_10 with every output, against a baseline that claims the
    published b1 (wrong, as measured) once passed."""
    folder = tmp_path_factory.mktemp("audit")
    baseline = folder / "baseline.json"
    claimed = {
        "network": NAME,
        "variant": "published",
        "style": "vectorized",
        "oracle": "finite_difference",
        "formulation": "",
        "parameter": "b1",
        "max_relative_error": 1e-9,
        "passed": True,
    }
    baseline.write_text(json.dumps({"results": [claimed]}))
    argv = ["--networks", NAME, "--mnist-dir", str(mnist_dir())]
    argv += ["--json", str(folder / "a.json"), "--markdown", str(folder / "a.md")]
    argv += ["--plots", str(folder / "plots"), "--baseline", str(baseline), "--fail-on", "wrong"]
    return folder, argv


@pytest.fixture(scope="module")
def run(audited):
    folder, argv = audited
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = main(argv)
    return folder, status, output.getvalue()


@SHARED_AUDIT
@pytest.mark.mnist
def test_audit_rows_reports_and_regression(run) -> None:
    folder, status, out = run
    report = json.loads((folder / "a.json").read_text())
    rows = report["results"]
    styles = {r["style"] for r in rows}
    assert {"loop", "vectorized"} <= styles
    oracles = {(r["oracle"], r["formulation"]) for r in rows}
    jax_ran = "jax" not in report["settings"]["skipped"]
    expected = {("finite_difference", "")} | (
        {("jax", "own_forward"), ("jax", "independent")} if jax_ran else set()
    )
    assert oracles == expected
    for row in rows:
        for key in ("network", "variant", "style", "oracle", "parameter"):
            assert isinstance(row[key], str)
        assert isinstance(row["max_relative_error"], float) and isinstance(row["passed"], bool)
    keys = {(r["variant"], r["style"], r["oracle"], r["formulation"], r["parameter"]) for r in rows}
    assert len(keys) == len(rows) == 2 * len(styles) * len(expected) * 4
    assert report["reference_passed"] is True
    failing = {(r["variant"], r["parameter"]) for r in rows if not r["passed"]}
    assert failing == {("published", "b1"), ("published", "b2")}
    assert report["settings"]["finite_difference_modes"] == {NAME: "all"}
    finding = report["findings"][NAME]["published"][0]
    assert "b1, b2" in finding["what"]
    assert "np.sum(dZ2)" in finding["causes"][0]["passage"]
    assert finding["attribution"] == "reverting it alone passes"
    markdown = (folder / "a.md").read_text()
    assert "# Derivation audit" in markdown and "np.sum(dZ2)" in markdown
    pngs = sorted(p.name for p in (folder / "plots").iterdir())
    assert "relative_errors.png" in pngs and f"{NAME}_published_b1.png" in pngs
    assert all((folder / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    # The baseline claimed the published b1 passed: the audit names it and fails.
    assert status == 1
    assert f"REGRESSION: {NAME}/published/vectorized/finite_difference//b1" in out
    assert "1 rows that passed now fail" in out
    assert "reference gradients: all pass" in out
    assert f"--fail-on wrong: {NAME}" in out
    assert all(isinstance(r["resolution"], float) and r["resolution"] > 0 for r in rows)
    verdicts = {(v["variant"], v["parameter"]): v for v in report["verdicts"]}
    assert set(verdicts) == {(v, p) for v in ("reference", "published") for p in
                             ("W1", "b1", "W2", "b2")}  # fmt: skip
    for key, v in verdicts.items():
        assert set(v) >= {"network", "variant", "parameter", "verdict", "max_relative_error",
                          "defects", "cause", "consequence"}  # fmt: skip
        wrong = key in {("published", "b1"), ("published", "b2")}
        assert v["verdict"] == ("wrong" if wrong else "correct")
        assert (v["consequence"] is None) != wrong
    b1 = verdicts["published", "b1"]
    assert "summed over every entry of dZ" in b1["cause"]
    if jax_ran:
        assert set(b1["defects"]) == {"bias_sum_over_units", "slip"}
    assert set(b1["consequence"]) >= {"delta_loss", "delta_test_accuracy", "iterations"}
    assert b1["consequence"]["iterations"] == 300
    assert f"wrong derivations: {NAME} (b1, b2; largest error" in out
    assert "inexact (numerical guards): none" in out
    # The primitives' properties are the shared ones users' primitives are checked against.
    from oracles.checks.primitives import check_primitive

    shared = check_primitive(recipe.ONE_HOTS["batch_max"], "one_hot", num_classes=10)
    probes = {(p["variant"], p["property"]): p for p in report["properties"]}
    one_hot = probes["published", f"one_hot: {shared.failures[0].property}"]
    assert not one_hot["passed"]
    assert "expected shape (10, 1), got shape (1, 1)" in one_hot["measured"]
    assert probes["reference", f"one_hot: {shared.failures[0].property}"]["passed"]
    softmax = "softmax: finite, without warnings, for logits up to +-1e3"
    assert not probes["published", softmax]["passed"] and probes["reference", softmax]["passed"]


@SHARED_AUDIT
@pytest.mark.mnist
def test_a_baseline_compares_row_by_row(run) -> None:
    from oracles.cli.baseline import regressions

    folder, _, _ = run
    report = json.loads((folder / "a.json").read_text())
    now = json.loads((folder / "a.json").read_text())["results"]
    assert regressions(now, report) == []
    for row in report["results"]:
        if row["variant"] == "published" and row["parameter"] == "b2":
            row["passed"] = True
    named = regressions(now, report)
    assert len(named) == len(
        {(r["style"], r["oracle"], r["formulation"]) for r in report["results"]}
    )
    assert all(
        line.startswith(f"{NAME}/published/") and line.split(": ")[0].endswith("/b2")
        for line in named
    )


@pytest.mark.mnist
def test_a_broken_reference_gradient_fails_the_audit(monkeypatch, capsys) -> None:
    """The refactor scenario: a bias gradient summed over the wrong axis."""

    def broken(dZ):
        return np.broadcast_to(dZ.sum(axis=0).mean(), (dZ.shape[0], 1))

    monkeypatch.setitem(recipe.BIAS_GRADIENTS, "per_unit", broken)
    status = main(["--networks", NAME, "--mnist-dir", str(mnist_dir()), "--no-training"])
    out = capsys.readouterr().out
    assert status == 1
    assert "REFERENCE GRADIENT WRONG" in out and "SOME ARE WRONG" in out


def test_a_bad_baseline_is_named(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["--networks", NAME, "--baseline", str(bad)]) == 2
    assert "not a readable audit JSON" in capsys.readouterr().err


@pytest.mark.mnist
def test_the_audit_names_each_published_defect_without_the_departures_list(monkeypatch) -> None:
    """With every spec's departures emptied, the audit still names what is wrong with each
    published derivation that has a defect: it finds it from the measurements alone."""
    import importlib
    from dataclasses import replace

    from oracles.audit.findings import findings
    from oracles.audit.run import run_audit
    from reference_nn import NETWORKS
    from reference_nn.data import load_mnist

    names = ("relu_10_10", "sigmoid_16_16", "relu_532")
    emptied = {name: replace(spec, departures=()) for name, spec in NETWORKS.items()}
    for module in ("oracles.audit.run", "oracles.audit.report", "oracles.audit.findings",
                   "oracles.audit.judge", "reference_nn.network"):  # fmt: skip
        monkeypatch.setattr(importlib.import_module(module), "NETWORKS", emptied)
    audit = run_audit(load_mnist(mnist_dir(), progress=False), names=names)
    assert audit.attributions == []  # nothing to revert: no departure is known
    found = findings(audit)
    expected = {
        "relu_10_10": {"bias_sum_over_units", "slip"},
        "sigmoid_16_16": {"forward"},
        "relu_532": {"numerical_guard"},
    }
    for name, kinds in expected.items():
        diagnosis = audit.diagnoses[name]
        assert {d.kind for d in diagnosis.defects} == kinds, str(diagnosis)
        gradient_items = [i for i in found[name]["published"] if i["kind"] != "property"]
        assert gradient_items and all(i["diagnosis"] for i in gradient_items)
        assert all(i["causes"] == [] for i in gradient_items)  # no departure to name
    slip = next(d for d in audit.diagnoses["relu_10_10"].defects if d.kind == "slip")
    assert slip.slip == "bias_sum_all" and slip.parameters == ("b1", "b2")


def _audit_of(monkeypatch, spec):
    """run_audit of ``spec`` alone, as if it were the registry's entry for its name."""
    import importlib

    from oracles.audit.run import run_audit
    from reference_nn import NETWORKS
    from reference_nn.data import load_mnist

    patched = {**NETWORKS, spec.name: spec}
    for module in ("oracles.audit.run", "oracles.audit.report", "oracles.audit.findings",
                   "oracles.audit.judge", "reference_nn.network"):  # fmt: skip
        monkeypatch.setattr(importlib.import_module(module), "NETWORKS", patched)
    mnist = load_mnist(mnist_dir(), progress=False)
    return run_audit(mnist, names=(spec.name,), consequences=False)


@pytest.mark.jax
@pytest.mark.mnist
def test_a_numerical_guard_is_inexact_and_a_derivation_bug_is_wrong(monkeypatch) -> None:
    """The same network, published once with only a guard inside the printed loss's log and
    once with only the bias gradient summed over every entry."""
    from dataclasses import replace

    from reference_nn import NETWORKS
    from reference_nn.spec import Departure

    base = NETWORKS["relu_16_16"]
    guard = replace(
        base,
        published=replace(base.reference, loss="log_probs_eps"),
        departures=(Departure("loss", "log(Y_hat + 1e-8) in the loss", "test"),),
    )
    bug = replace(
        base,
        published=replace(base.reference, bias_gradient="sum_all"),
        departures=(Departure("bias_gradient", "db = np.sum(dZ) / m", "test"),),
    )
    verdicts = {v.parameter: v for v in _audit_of(monkeypatch, guard).verdicts
                if v.variant == "published"}  # fmt: skip
    assert {v.verdict for v in verdicts.values()} == {"inexact"}
    assert all(v.cause == "log(Y_hat + 1e-8) in the loss" for v in verdicts.values())
    assert all(v.defects == ("numerical_guard",) for v in verdicts.values())
    verdicts = {v.parameter: v for v in _audit_of(monkeypatch, bug).verdicts
                if v.variant == "published"}  # fmt: skip
    assert {p for p, v in verdicts.items() if v.verdict == "wrong"} == {"b1", "b2", "b3"}
    assert {p for p, v in verdicts.items() if v.verdict == "correct"} == {"W1", "W2", "W3"}
    assert verdicts["b1"].cause == "db = np.sum(dZ) / m"


@pytest.mark.jax
@pytest.mark.mnist
def test_a_disagreement_that_resolution_does_not_explain_fails_the_audit(monkeypatch, capsys):
    """A JAX oracle off by 1e-3 (a harness bug): finite differences resolve 1e-6 along the
    directions they measure, so they could not have passed such an error; the audit says
    the oracles contradict each other and exits 1, though every gradient is right."""
    import oracles.audit.jax_oracle

    right = oracles.audit.jax_oracle.jax_gradients

    def off(net, params, X, y, formulation="own_forward"):
        grads = right(net, params, X, y, formulation)
        return (
            {k: g * (1 + 1e-3) for k, g in grads.items()} if formulation == "own_forward" else grads
        )

    monkeypatch.setattr(oracles.audit.jax_oracle, "jax_gradients", off)
    status = main(["--networks", "relu_16_16", "--mnist-dir", str(mnist_dir()),
                   "--no-training"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    assert "HARNESS BUG (exit status 1): the oracles disagree on relu_16_16 reference" in out
    assert "the oracles contradict each other" in out


def test_only_a_cause_the_update_never_reads_goes_untrained() -> None:
    """000's and 002's guard sits in the printed loss: their reverted variants train to the
    same parameters (tests/test_networks.py), so the audit trains nothing for them; a slip in
    the backward (003's bias sum) or the forward (001's shifted sigmoid) is trained."""
    from oracles.audit.judge import trains_identically
    from reference_nn import NETWORKS

    expected = {"relu_500_150": True, "relu_532": True, "relu_10_10": False,
                "sigmoid_16_16": False}  # fmt: skip
    for name, identical in expected.items():
        spec = NETWORKS[name]
        concerns = "loss" if identical else ("activation" if "sigmoid" in name else "bias_gradient")
        (cause,) = [d.what for d in spec.departures if d.concerns == concerns]
        reverted = spec.reverted(cause)
        assert reverted is not None and reverted.published != spec.published
        assert trains_identically(spec, reverted) is identical, name
    assert NETWORKS["relu_10_10"].reverted("no such departure") is None
