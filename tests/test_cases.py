"""Your own network audited as the documents are: oracles.Case, audit_case, the command
``python -m oracles.audit MODULE:FUNCTION``, the reference helper and the control variate."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from oracles import Case, assert_case, audit_case
from oracles.audit.__main__ import main
from oracles.checks import compare_gradients
from oracles.cli.cases import load_cases
from oracles.own_network.control import check_with_control_variate

pytestmark = pytest.mark.jax
jax = pytest.importorskip("jax", reason="the reference network is written in JAX")
from oracles.own_network.meant import mlp_reference, reference_gradient  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "examples" / "two_layer_net.py"


def _run(argv: list[str]) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = main(argv)
    return status, output.getvalue()


def _example():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import two_layer_net
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    return two_layer_net


def _net_case(**options):
    """The example's two-layer net (``TwoLayerNet(6, 5, 3, **options)``) on the data its
    ``cases()`` uses, as a Case named "net"."""
    ex = _example()
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    return ex.case_of(ex.TwoLayerNet(6, 5, 3, **options), X, y, "net")


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    argv = [
        f"{EXAMPLE}:cases",
        "--json",
        str(folder / "a.json"),
        "--markdown",
        str(folder / "a.md"),
        "--plots",
        str(folder / "plots"),
        "--fail-on",
        "wrong",
    ]
    status, out = _run(argv)
    return folder, status, out


def test_the_example_module_gets_correct_inexact_and_wrong(example_run) -> None:
    folder, status, out = example_run
    report = json.loads((folder / "a.json").read_text())
    verdicts = {(v["network"], v["parameter"]): v for v in report["verdicts"]}
    params = ("W1", "b1", "W2", "b2")
    assert {verdicts["as written", p]["verdict"] for p in params} == {"correct"}
    # The guard: right for the network meant (JAX), not exactly for the code's own loss,
    # which plain differences cannot resolve on W2, b2 and the control variate does.
    for p in params:
        v = verdicts["log(p + 1e-8)", p]
        assert (v["verdict"], v["own"], v["meant"]) == ("inexact", False, True)
    rows = {(r["network"], r["formulation"], r["parameter"]): r for r in report["results"]}
    assert rows["log(p + 1e-8)", "own_loss", "W2"]["passed"]
    assert not rows["log(p + 1e-8)", "control_variate", "W2"]["passed"]
    assert rows["as written", "control_variate", "W2"]["passed"]
    slip = {p: verdicts["no ReLU mask", p]["verdict"] for p in params}
    assert slip == {"W1": "wrong", "b1": "wrong", "W2": "correct", "b2": "correct"}
    assert [d["kind"] for d in report["diagnoses"]["no ReLU mask"]] == ["propagation"]
    assert "while layer 2 is right" in report["diagnoses"]["no ReLU mask"][0]["detail"]
    assert report["diagnoses"]["as written"] == [] == report["diagnoses"]["log(p + 1e-8)"]
    assert {p["kind"] for p in report["properties"]} == {"softmax", "relu", "cross_entropy"}
    assert all(p["passed"] for p in report["properties"])
    assert status == 1 and "--fail-on wrong: no ReLU mask\n" in out
    assert "# Gradient audit of your networks" in (folder / "a.md").read_text()
    pngs = sorted(p.name for p in (folder / "plots").iterdir())
    # the heat map of every case, and each parameter your loss's differences fail
    assert {"relative_errors.png", "no_ReLU_mask_yours_W1.png", "no_ReLU_mask_yours_b1.png"} <= set(
        pngs
    ) and not any("as_written" in p for p in pngs)
    assert all((folder / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def _module(folder: Path, name: str, body: str) -> str:
    (folder / f"{name}.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXAMPLE.parent)!r})\n"
        "import numpy as np\nfrom two_layer_net import TwoLayerNet, case_of\n"
        "rng = np.random.default_rng(1)\nX, y = rng.standard_normal((20, 6)), "
        f"rng.integers(0, 3, 20)\n\ndef cases():\n    {body}\n"
    )
    return f"{folder / name}.py:cases"


def test_a_correct_case_exits_0_and_a_guard_fails_only_under_inexact(tmp_path) -> None:
    right = _module(tmp_path, "right", "return case_of(TwoLayerNet(6, 5, 3), X, y, 'net')")
    guard = _module(
        tmp_path, "guard", "return case_of(TwoLayerNet(6, 5, 3, guard=1e-8), X, y, 'net')"
    )
    assert _run([right, "--fail-on", "inexact"])[0] == 0
    assert _run([guard, "--fail-on", "wrong"])[0] == 0
    status, out = _run([guard, "--fail-on", "inexact"])
    assert status == 1 and "--fail-on inexact: net" in out


def test_a_baseline_names_the_parameter_a_refactor_broke(tmp_path) -> None:
    before = _module(tmp_path, "before", "return case_of(TwoLayerNet(6, 5, 3), X, y, 'net')")
    after = _module(
        tmp_path, "after", "return case_of(TwoLayerNet(6, 5, 3, slip=True), X, y, 'net')"
    )
    assert _run([before, "--json", str(tmp_path / "before.json")])[0] == 0
    status, out = _run([after, "--baseline", str(tmp_path / "before.json")])
    assert status == 1
    broken = {
        line.split(":")[1].strip() for line in out.splitlines() if line.startswith("REGRESSION")
    }
    assert "net/yours//finite_difference/own_loss/W1" in broken
    assert "net/yours//jax/reference/b1" in broken
    assert not any(p in line for line in broken for p in ("W2", "b2"))


def test_without_a_reference_the_verdict_is_correct_or_wrong() -> None:
    for slip in (False, True):
        case = _net_case(slip=slip)
        plain = Case(case.loss, None, case.params, name="net")
        audit = audit_case(plain)
        assert {r.oracle for r in audit.rows} == {"finite_difference"}
        assert {v.verdict for v in audit.verdicts} == (
            {"correct", "wrong"} if slip else {"correct"}
        )
        assert all(v.meant is None for v in audit.verdicts)


def test_a_loss_that_is_not_the_network_meant_gives_inexact_and_names_the_factor() -> None:
    """The code sums its loss over the examples (and its gradient is right for that sum);
    the network meant takes the mean: inexact, and the diagnosis names the factor m."""
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(3)}
    meant = mlp_reference(X, y, examples="rows")

    def summed(p):
        value, grads = reference_gradient(meant, p)
        return 8 * value, {k: 8 * g for k, g in grads.items()}

    audit = audit_case(Case(summed, None, params, reference=meant, examples=8))
    assert {(v.verdict, v.own, v.meant) for v in audit.verdicts} == {("inexact", True, False)}
    assert audit.diagnosis is not None
    assert [d.kind for d in audit.diagnosis.defects] == ["scale"]


def test_a_primitive_that_fails_makes_the_case_inexact() -> None:
    case = _net_case()

    def unshifted(Z):
        return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)

    with_bad = Case(
        case.loss,
        None,
        case.params,
        reference=case.reference,
        primitives={"softmax": (unshifted, {"axis": 1})},
    )
    audit = audit_case(with_bad)
    assert {v.verdict for v in audit.verdicts} == {"correct"}
    assert audit.worst() == "inexact" and audit.fails("inexact") and not audit.fails("wrong")


def test_assert_case_raises_with_the_report() -> None:
    assert_case(_net_case(), fail_on="inexact")
    with pytest.raises(AssertionError, match=r"W1, b1: wrong: the derivative of neither"):
        assert_case(_net_case(slip=True))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("examples", ["columns", "rows"])
def test_mlp_reference_is_the_textbook_perceptron(activation: str, examples: str) -> None:
    rng = np.random.default_rng(3)
    rows = examples == "rows"
    X = rng.standard_normal((7, 5) if rows else (5, 7))
    y = rng.integers(0, 4, 7)
    shapes = [(5, 6), (6, 4)] if rows else [(6, 5), (4, 6)]
    p = {
        "W1": rng.standard_normal(shapes[0]),
        "b1": rng.standard_normal(6),
        "W2": rng.standard_normal(shapes[1]),
        "b2": rng.standard_normal((4, 1)),
    }
    g = {
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    }[activation]
    if rows:
        Z2 = g(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"].ravel()
        log_p = Z2 - np.log(np.exp(Z2).sum(axis=1, keepdims=True))
        expected = -log_p[np.arange(7), y].mean()
    else:
        Z2 = p["W2"] @ g(p["W1"] @ X + p["b1"][:, None]) + p["b2"]
        log_p = Z2 - np.log(np.exp(Z2).sum(axis=0, keepdims=True))
        expected = -log_p[y, np.arange(7)].mean()
    value, grads = reference_gradient(
        mlp_reference(X, y, activation=activation, examples=examples, sizes=(5, 6, 4)), p
    )
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in p.items()}


def test_mlp_reference_refuses_what_it_cannot_mean() -> None:
    X, y = np.zeros((5, 7)), np.arange(7) % 4
    p = {"W1": np.zeros((6, 5)), "b1": np.zeros(6), "W2": np.zeros((4, 6)), "b2": np.zeros(4)}
    with pytest.raises(ValueError, match=r"W2 has shape \(4, 6\), sizes \(5, 6, 3\)"):
        reference_gradient(mlp_reference(X, y, sizes=(5, 6, 3)), p)
    with pytest.raises(ValueError, match=r"labels span 0..6, 4 outputs"):
        reference_gradient(mlp_reference(X, np.arange(7)), p)
    with pytest.raises(ValueError, match=r"7 examples in X, y has shape \(6,\)"):
        mlp_reference(X, np.arange(6))
    with pytest.raises(ValueError, match="activation 'selu'"):
        mlp_reference(X, y, activation="selu")
    with pytest.raises(ValueError, match=r"named W1, b1, W2, b2, \.\.\.; got \['w', 'x'\]"):
        reference_gradient(mlp_reference(X, y), {"w": np.zeros((4, 5)), "x": np.zeros(4)})


def test_the_control_variate_resolves_what_plain_differences_cannot() -> None:
    """loss = R + 1e-9 sum(W^2): the gradient of R alone is off by 2e-9 W, a relative 1e-8,
    under plain differences' resolution (1e-6) and far above the control variate's."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
    meant = mlp_reference(X, y, examples="rows")

    def reference(p):
        return reference_gradient(meant, p)[0]

    def loss(p):
        return reference(p) + 1e-9 * float(np.sum(p["W1"] ** 2))

    _, r = reference_gradient(meant, params)
    of_loss = {"W1": r["W1"] + 2e-9 * params["W1"], "b1": r["b1"]}
    judged = check_with_control_variate(loss, reference, r, r, params)
    assert not judged["W1"].passed and judged["b1"].passed
    assert check_with_control_variate(loss, reference, of_loss, r, params).passed


def test_bad_targets_and_cases_get_clear_errors(tmp_path, capsys) -> None:
    (tmp_path / "nothing.py").write_text("def cases():\n    return 3\n")
    with pytest.raises(ValueError, match="expected MODULE:FUNCTION"):
        load_cases("no_colon")
    with pytest.raises(ValueError, match="no function 'other'"):
        load_cases(f"{tmp_path / 'nothing.py'}:other")
    with pytest.raises(TypeError, match="returned 3: expected a Case or a list of Cases"):
        load_cases(f"{tmp_path / 'nothing.py'}:cases")
    assert main([f"{tmp_path / 'nothing.py'}:cases"]) == 2
    assert "expected a Case" in capsys.readouterr().err
    assert main(["no_such_module_here:cases"]) == 2
    with pytest.raises(TypeError, match="loss must be callable"):
        Case(3, None, {"W": np.zeros(2)})
    with pytest.raises(TypeError, match="non-empty dict"):
        Case(lambda p: 0.0, None, {})
    with pytest.raises(ValueError, match=r"unknown primitive kinds \['softmaxx'\]"):
        Case(lambda p: 0.0, None, {"W": np.zeros(2)}, primitives={"softmaxx": np.exp})
    with pytest.raises(SystemExit):
        main(["x:y", "--networks", "relu_10_10"])


def _imported(path: Path) -> list[str]:
    import ast

    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(node.module or "")
    return out


def test_arrows_point_down_from_the_doors_to_the_engine() -> None:
    """Only oracles/audit joins the checker to reference_nn; the engine imports no door."""
    root = Path(__file__).parents[1] / "oracles"
    rooms = ("checks", "own_network", "cli", "reports", "audit")
    for path in root.rglob("*.py"):
        room = path.relative_to(root).parts[0]
        names = _imported(path)
        if room != "audit":
            assert not any(n.split(".")[0] == "reference_nn" for n in names), path
            assert not any(n.startswith("oracles.audit") for n in names), path
        if room == "_engine":
            assert not any(n.split(".")[1:2] in ([r] for r in rooms) for n in names), path


def test_the_users_command_loads_nothing_of_the_five_documents(tmp_path) -> None:
    """``python -m oracles MODULE:FUNCTION`` runs a user's case without reference_nn, tqdm or
    the MNIST loader; a bad target exits 2 with the reason on stderr."""
    import subprocess
    import sys

    probe = tmp_path / "probe.py"
    probe.write_text(
        "import runpy, sys\n"
        "sys.argv = ['oracles', sys.argv[1]]\n"
        "try:\n    runpy.run_module('oracles', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    roots = ('reference_nn', 'tqdm')\n"
        "    loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "    print('LOADED', loaded, 'STATUS', exit.code)\n"
    )
    example = Path(__file__).parents[1] / "examples" / "minimal.py"
    done = subprocess.run([sys.executable, str(probe), f"{example}:cases"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert "mynet" in done.stdout and "LOADED [] STATUS 0" in done.stdout, done.stdout
    bad = subprocess.run([sys.executable, "-m", "oracles", "no_such_module_here:cases"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "no_such_module_here" in bad.stderr


@pytest.mark.parametrize("slip", [None, "prime_of_output_layer"])
def test_a_class_with_lists_that_updates_itself_is_audited_in_a_few_lines(slip) -> None:
    from oracles import attributes, check_gradients, gradients_from_update
    from tests.test_own_code import BATCH, Network, _cost_of

    net = Network([5, 4, 3], slip)
    attrs = attributes(net, ["weights", "biases"])
    loss = attrs(lambda: _cost_of(net))
    grad = gradients_from_update(attrs.update(lambda: net.update_mini_batch(BATCH, 1.0)), lr=1.0)
    X, Y = np.hstack([x for x, _ in BATCH]), np.hstack([y for _, y in BATCH])
    meant = mlp_reference(X, Y, activation="sigmoid", output="sigmoid",
                          loss="half_squared_error", layers=attrs.layers)  # fmt: skip
    audit = audit_case(Case(loss, grad, attrs, reference=meant))  # its params and its layers
    found = {v.parameter: v.verdict for v in audit.verdicts}
    assert bool(check_gradients(loss, grad, attrs)) is (slip is None)
    if slip is None:
        assert set(found.values()) == {"correct"}
        assert audit.loss_gap is not None and audit.loss_gap < 1e-14
    else:
        assert found == {"weights[0]": "wrong", "biases[0]": "wrong",
                         "weights[1]": "correct", "biases[1]": "correct"}  # fmt: skip
        assert audit.diagnosis is not None and audit.diagnosis.defects[0].layer == 1


@pytest.mark.parametrize("dense", ["Dense", "DenseForgettingTheBiasSum"])
def test_layer_objects_that_update_themselves_are_audited_in_a_few_lines(dense) -> None:
    from oracles import attributes, gradients_from_update
    from tests import test_own_code as own

    layers = own._network(getattr(own, dense))
    attrs = attributes(layers, ["weights", "bias"])
    loss = attrs(lambda: own._mse(own.Y_ONE_HOT, own._predict(layers, own.X_COLS)))
    step = attrs.update(lambda: own._train_step(layers, own.X_COLS, own.Y_ONE_HOT, 1.0))
    meant = mlp_reference(own.X_COLS, own.Y_ONE_HOT, activation="tanh", output="tanh",
                          loss="mse", layers=attrs.layers)  # fmt: skip
    case = Case(loss, gradients_from_update(step, lr=1.0), attrs.params, reference=meant,
                layers=attrs.layers)  # fmt: skip
    audit = audit_case(case)
    wrong = {v.parameter for v in audit.verdicts if v.verdict == "wrong"}
    assert wrong == (set() if dense == "Dense" else {"0.bias"})
    assert all(v.verdict == "correct" for v in audit.verdicts if v.parameter not in wrong)


def test_the_readme_example_is_the_module_and_says_what_it_finds() -> None:
    """README's "Auditing your own network": its module verbatim, and its three claims: as
    written inexact (the + 1e-8), without the guard correct, without the mask W1, b1 wrong."""
    source = (EXAMPLE.parent / "minimal.py").read_text()
    assert source in (Path(__file__).parents[1] / "README.md").read_text()

    def verdicts(text: str) -> dict[str, str]:
        namespace: dict[str, object] = {}
        exec(compile(text, "minimal.py", "exec"), namespace)
        audit = audit_case(namespace["cases"]())  # type: ignore[operator]
        return {v.parameter: v.verdict for v in audit.verdicts}

    assert set(verdicts(source).values()) == {"inexact"}
    assert set(verdicts(source.replace(" + 1e-8", "")).values()) == {"correct"}
    unmasked = source.replace(" + 1e-8", "").replace(" * (A1 > 0)", "")
    assert verdicts(unmasked) == {"W1": "wrong", "b1": "wrong", "W2": "correct", "b2": "correct"}


def test_a_float32_gradient_is_judged_at_float32_tolerances_by_every_oracle() -> None:
    from oracles.checks import LowPrecisionGradientWarning

    case = _net_case()

    def in_float32(p):
        value, grads = case.loss(p)
        return value, {k: g.astype(np.float32) for k, g in grads.items()}

    single = Case(in_float32, None, case.params, reference=case.reference)
    with pytest.warns(LowPrecisionGradientWarning, match="float32"):
        audit = audit_case(single)
    assert {v.verdict for v in audit.verdicts} == {"correct"}
    assert {r.report.rtol for r in audit.rows if r.oracle == "jax"} == {2e-3}


def test_a_reference_that_raises_or_cannot_be_differentiated_is_named() -> None:
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)
    params = {"W1": rng.standard_normal((3, 2)), "b1": np.zeros(2)}
    meant = mlp_reference(X, y, examples="rows")

    def loss(p):
        return reference_gradient(meant, p)

    def misnamed(p):
        return meant({"W1": p["weights"], "b1": p["b1"]})

    with pytest.raises(ValueError, match=r"Case 'net': the reference raised KeyError: 'weights'"):
        audit_case(Case(loss, None, params, reference=misnamed, name="net"))

    def branching(p):  # Python control flow on a value: JAX cannot differentiate it
        return meant(p) if float(np.asarray(p["b1"]).sum()) < 1e6 else 0.0

    with pytest.raises(ValueError, match=r"the reference raised TracerArrayConversionError"):
        audit_case(Case(loss, None, params, reference=branching))


@pytest.mark.parametrize("absent", ["hypothesis", "scipy"])
def test_primitives_without_the_properties_extra_are_refused_naming_it(monkeypatch, absent):
    import oracles

    monkeypatch.setitem(sys.modules, absent, None)  # as if not installed: its import fails
    params = {"W": np.zeros(2)}
    assert Case(lambda p: 0.0, None, params).primitives is None  # no primitives: no hypothesis
    install = re.escape("pip install 'reference-nn[properties]'")
    with pytest.raises(ImportError, match=f"primitives needs {absent} does not import.*{install}"):
        Case(lambda p: 0.0, None, params, primitives={"relu": np.abs})
    with pytest.raises(ImportError, match=f"check_primitive checks properties.*{install}"):
        oracles.check_primitive(np.abs, "relu")  # the name imports; the call says what is missing


def test_jax_float64_is_scoped_the_users_process_is_left_as_found() -> None:
    """The reference is differentiated in float64, and JAX's setting is left as it was."""
    import jax
    import jax.numpy as jnp

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        rng = np.random.default_rng(5)
        X, y = rng.standard_normal((4, 6)), rng.integers(0, 3, 6)
        params = {"W1": rng.standard_normal((3, 4)), "b1": np.zeros((3, 1))}
        value, grads = reference_gradient(mlp_reference(X, y), params)
        assert grads["W1"].dtype == np.float64 and np.isfinite(value)
        # in float32 the loss would carry only 7 digits: this one matches float64's to 1e-12
        Z = params["W1"] @ X + params["b1"]
        logp = Z - Z.max(axis=0) - np.log(np.exp(Z - Z.max(axis=0)).sum(axis=0))
        assert abs(value + logp[y, np.arange(6)].mean()) < 1e-12
        assert not jax.config.jax_enable_x64
        assert jnp.ones(1).dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", before)


def test_the_heat_map_labels_missing_parameters_and_draws_the_pass_threshold(tmp_path) -> None:
    """A parameter one network lacks is a cell labelled 'none'; each rtol of a panel is a line
    on its colour bar; a failing cell is marked x."""
    from oracles._engine.records import Row
    from oracles.reports.plots import heatmaps, pyplot

    plt = pyplot()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 5)), rng.integers(0, 2, 5)
    small = {"W1": rng.standard_normal((2, 3)), "b1": np.zeros((2, 1))}
    big = {**small, "W2": rng.standard_normal((2, 2)), "b2": np.zeros((2, 1))}
    rows = []
    for name, params in (("small", small), ("big", big)):
        meant = mlp_reference(X, y, examples="columns")
        grads = reference_gradient(meant, params)[1]
        grads["W1"] = 1.1 * grads["W1"] if name == "big" else grads["W1"]
        report = compare_gradients(grads, reference_gradient(meant, params)[1], oracle="jax")
        rows += [Row(name, "yours", "", "jax", "reference", p) for p in report.parameters]
    closed = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt, "close", closed.append)
        heatmaps(rows, ["small", "big"], ["W1", "b1", "W2", "b2"],
                 [("jax", "reference", "jax")], ["yours"], tmp_path, plt)  # fmt: skip
    fig = closed[0]
    image_ax, bar_ax = fig.axes
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in image_ax.texts}  # fmt: skip
    assert texts[0, 2] == texts[0, 3] == "none" and "none" not in texts[1, 2]
    assert texts[1, 0].endswith(" x") and not texts[0, 0].endswith(" x")
    lines = [ln.get_ydata()[0] for ln in bar_ax.lines]
    assert lines == [pytest.approx(np.log10(1e-10))]
    plt.close(fig)


def test_a_reference_without_jax_names_the_extra(monkeypatch) -> None:
    """The network you meant needs JAX: without it, the error names the pip command."""
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((3, 4)), rng.integers(0, 2, 4)
    params = {"W1": rng.standard_normal((2, 3)), "b1": np.zeros((2, 1))}
    meant = mlp_reference(X, y)
    monkeypatch.setitem(sys.modules, "jax", None)  # as if not installed
    install = re.escape("pip install 'reference-nn[jax]'")
    with pytest.raises(ImportError, match=f"needs JAX: jax does not import.*{install}"):
        reference_gradient(meant, params)


def test_your_command_fails_a_wrong_case_by_default_and_refuses_plots_it_cannot_draw(
    tmp_path, capsys, monkeypatch
) -> None:
    """python -m oracles exits 1 on a wrong gradient without --fail-on; without matplotlib,
    --plots is refused before anything is audited; print(report) is its summary."""
    from oracles import check_gradients
    from oracles.cli.cases import main as cases_main

    module = tmp_path / "onecase.py"
    module.write_text(
        "import numpy as np\nfrom oracles import Case\n\n"
        "def cases():\n"
        "    return Case(lambda p: float(np.sum(p['W'] ** 2)), lambda p: {'W': p['W']},\n"
        "                {'W': np.arange(1.0, 4.0)}, name='halved')\n"
    )
    assert cases_main([f"{module}:cases"]) == 1
    assert "--fail-on wrong: halved" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cases_main([f"{module}:cases", "--plots", str(tmp_path / "p")]) == 2
    out, err = capsys.readouterr()
    assert "pip install 'reference-nn[plot]'" in err and "halved" not in out
    report = check_gradients(lambda p: float(np.sum(p["W"] ** 2)), lambda p: {"W": p["W"]},
                             {"W": np.arange(1.0, 4.0)})  # fmt: skip
    assert str(report) == report.summary() and "WRONG" in str(report)


def test_the_readme_example_without_its_mask_is_diagnosed_against_the_network_meant() -> None:
    """examples/minimal.py with its log(p + 1e-8) guard kept and its ReLU mask dropped: W2 and
    b2 are only inexact (right for the network meant), so the diagnosis, made against that
    network, names the slip entering at layer 1, not an error in every layer."""
    case = load_cases(f"{Path(__file__).parents[1] / 'examples' / 'minimal.py'}:cases")[0]
    X_MIN, Y_MIN = case.loss.__globals__["X"], case.loss.__globals__["Y"]  # the example's data

    def no_mask(p):
        value, grads = case.loss(p)
        A1 = np.maximum(p["W1"] @ X_MIN + p["b1"], 0)
        Z2 = p["W2"] @ A1 + p["b2"]
        P = np.exp(Z2 - Z2.max(axis=0)) / np.exp(Z2 - Z2.max(axis=0)).sum(axis=0)
        dZ1 = p["W2"].T @ ((P - Y_MIN) / X_MIN.shape[1])  # no (A1 > 0)
        return value, {**grads, "W1": dZ1 @ X_MIN.T, "b1": dZ1.sum(axis=1, keepdims=True)}

    audit = audit_case(Case(no_mask, None, case.params, reference=case.reference, name="nomask"))
    verdicts = {v.parameter: v.verdict for v in audit.verdicts}
    assert verdicts == {"W1": "wrong", "b1": "wrong", "W2": "inexact", "b2": "inexact"}
    assert audit.diagnosis is not None
    assert [(d.kind, d.parameters, d.layer) for d in audit.diagnosis.defects] == [
        ("propagation", ("W1", "b1"), 1)
    ]
