"""The public gradient check and the JAX oracle, on toy functions and on every network."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pytest

from oracles import (
    assert_gradients,
    check_gradients,
)
from oracles._engine.differences import estimates
from oracles._engine.measure import SCREEN
from oracles._engine.moves import CHUNK, Moves, unit_signs
from oracles.checks import (
    AUTODIFF_TOLERANCES,
    TOLERANCES,
    LowPrecisionGradientWarning,
    compare_gradients,
)
from reference_nn import NETWORKS, VARIANTS, network
from reference_nn.protocol import prepare
from tests.helpers import document_warnings
from tests.meta.mutants import Architecture, gradients, init, loss

# -- toy functions with known gradients ---------------------------------------------------------


def _tanh_loss(p):
    """An analytic loss written with complex-safe operations: sum(tanh(W x + b)^2) + sum(W^3)."""
    x = np.linspace(-1.0, 1.0, 5)
    Z = p["W"] @ x + p["b"][:, 0]
    return np.sum(np.tanh(Z) ** 2) + np.sum(p["W"] ** 3)


def _tanh_grad(p):
    x = np.linspace(-1.0, 1.0, 5)
    T = np.tanh(p["W"] @ x + p["b"][:, 0])
    dZ = 2 * T * (1 - T**2)
    return {"W": np.outer(dZ, x) + 3 * p["W"] ** 2, "b": dZ[:, None]}


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.standard_normal((3, 5)), "b": rng.standard_normal((3, 1))}


@pytest.mark.parametrize("method", ["central", "richardson", "complex_step"])
@pytest.mark.parametrize("mode", ["all", "sample", "directional"])
def test_a_correct_gradient_passes_in_every_method_and_mode(method, mode) -> None:
    report = check_gradients(_tanh_loss, _tanh_grad, _params(), method=method, mode=mode, samples=4)
    assert report.passed, report.summary()
    assert report.method == method and report.mode == mode
    counts = {p.name: p.checked for p in report.parameters}
    if mode == "all":
        assert counts == {"W": 15, "b": 3}
    elif mode == "sample":
        assert counts == {"W": 4, "b": 3}
    else:  # a right gradient: the screened directions suffice
        assert counts == {"W": SCREEN, "b": SCREEN, "(all)": SCREEN}
    if method == "complex_step":
        assert max(p.max_relative_error for p in report.parameters) < 1e-12


@pytest.mark.parametrize("method", ["central", "richardson", "complex_step"])
def test_one_wrong_entry_fails_and_the_message_says_where(method) -> None:
    def wrong(p):
        g = _tanh_grad(p)
        g["W"][1, 2] *= 1.001
        return g

    with pytest.raises(AssertionError) as info:
        assert_gradients(_tanh_loss, wrong, _params(), method=method, mode="all")
    text = str(info.value)
    assert "gradient of W disagrees" in text
    assert "mode all detects every coordinate" in text
    assert "(1, 2):" in text and "WRONG" in text
    assert f"{TOLERANCES[np.dtype(np.float64)].rtol:.1e}" in text
    report = check_gradients(_tanh_loss, wrong, _params(), method=method, mode="all")
    assert report.failed == ("W",)
    assert report["W"].worst_index == (1, 2)
    assert report["W"].analytic == pytest.approx(1.001 * _tanh_grad(_params())["W"][1, 2])
    assert report["W"].numerical == pytest.approx(_tanh_grad(_params())["W"][1, 2], rel=1e-6)


def test_a_smooth_slice_is_judged_at_its_own_step_not_a_looser_smaller_one() -> None:
    """A smaller step's rounding allowance is 8 times looser: an error that the central
    difference resolves at step h must not pass at h/8 when the slice is smooth at h."""
    x = np.linspace(-1.0, 1.0, 5)

    def loss(p):
        return 1e3 + float(np.sum(np.tanh(p["W"] @ x)))  # |f| large: rounding matters

    def grad(p, error=0.0):
        g = np.outer(1 - np.tanh(p["W"] @ x) ** 2, x)
        g[0, 0] += error
        return {"W": g}

    params = {"W": np.random.default_rng(0).standard_normal((2, 5)) / 3}
    assert check_gradients(loss, grad, params, mode="all").passed
    # allowed at h: about rtol |a| + 16 eps (|f| + 1) / h = 1.6e-6; at h/8, 5.8e-6
    report = check_gradients(loss, lambda p: grad(p, error=3e-6), params, mode="all")
    assert report.failed == ("W",) and report["W"].worst_index == (0, 0)
    assert report["W"].kinks == 0


@pytest.mark.parametrize(
    ("factor", "passed", "checked"),
    [(1.0, True, SCREEN), (1 + 7e-7, True, 16), (1.5, False, SCREEN)],
    ids=["right", "near-the-resolution", "wrong"],
)
def test_directional_screens_then_checks_every_direction_near_the_resolution(
    factor, passed, checked
) -> None:
    """SCREEN directions settle a right gradient and a wrong one; an error close to the
    tolerance (here 0.7 rtol: within it, so right) gets all 16 directions."""

    def scaled(p):
        g = _tanh_grad(p)
        return {"W": g["W"] * factor, "b": g["b"]}

    report = check_gradients(_tanh_loss, scaled, _params(), mode="directional")
    assert report.passed is passed
    assert report["W"].checked == checked and report["b"].checked == SCREEN


def test_auto_mode_checks_every_coordinate_until_the_limit() -> None:
    assert check_gradients(_tanh_loss, _tanh_grad, _params()).mode == "all"
    report = check_gradients(_tanh_loss, _tanh_grad, _params(), max_coordinates=10)
    assert report.mode == "directional" and report.passed


def test_the_callers_arrays_are_not_changed_and_float32_gradients_warn() -> None:
    params = {k: v.astype(np.float32) for k, v in _params().items()}
    before = {k: v.copy() for k, v in params.items()}

    def grad32(p):
        return {k: v.astype(np.float32) for k, v in _tanh_grad(p).items()}

    with pytest.warns(LowPrecisionGradientWarning, match="float32"):
        report = check_gradients(_tanh_loss, grad32, params)
    assert report.passed and report.gradient_dtype == "float32"
    assert report["W"].rtol == TOLERANCES[np.dtype(np.float32)].rtol
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        assert params[k].dtype == np.float32


# -- kinks --------------------------------------------------------------------------------------


def _relu_problem():
    """A ReLU layer with pre-activations exactly 0: b = 0 and an all-zero input column."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((4, 6))
    X[:, 0] = 0.0
    c = rng.standard_normal(3)
    params = {"W": rng.standard_normal((3, 4)), "b": np.zeros((3, 1))}

    def loss(p):
        return float(np.mean(c @ np.maximum(p["W"] @ X + p["b"], 0.0)))

    def grad(p, ge=False):
        Z = p["W"] @ X + p["b"]
        mask = (Z >= 0) if ge else (Z > 0)
        dZ = (c[:, None] * mask) / X.shape[1]
        return {"W": dZ @ X.T, "b": dZ.sum(axis=1, keepdims=True)}

    return loss, grad, params


@pytest.mark.parametrize("ge", [False, True], ids=["mask z>0", "mask z>=0"])
def test_a_correct_relu_gradient_on_the_kink_passes_and_the_kinks_are_counted(ge) -> None:
    loss, grad, params = _relu_problem()
    report = check_gradients(loss, lambda p: grad(p, ge), params, mode="all")
    assert report.passed, report.summary()
    assert report["b"].kinks == 3


def test_a_wrong_gradient_next_to_kinks_still_fails() -> None:
    loss, grad, params = _relu_problem()

    def wrong(p):
        g = grad(p)
        g["W"] = g["W"] * 1.01
        return g

    report = check_gradients(loss, wrong, params, mode="all")
    assert report.failed == ("W",)


# -- a kink never excuses a wrong gradient -----------------------------------------------------
# The reproduction of issue 19: a 12-16-16-5 ReLU network whose unit 0 of layer 1 has a zero
# row of W1 and b1[0] = 0, so that it sits exactly on its kink for every example.
ARCH_19 = Architecture((12, 16, 16, 5), "relu", name="issue_19")


def _on_the_kink():
    params, X, y = init(ARCH_19, 1, kinks="dead_unit")
    return params, X, y, partial(loss, X=X, y=y, arch=ARCH_19)


def _one_sided(loss_fn, params, name, index):
    """(g'(0-), g'(0+)) of the loss along one coordinate, by one-sided differences."""

    def g(t):
        p = {k: v.copy() for k, v in params.items()}
        p[name][index] += t
        return loss_fn(p)

    est = estimates(g, loss_fn(params), 1e-7)
    return est.backward, est.forward


def test_the_one_sided_pair_alone_cannot_judge_units_moving_apart() -> None:
    """Along W1[0, c] the dead unit's kinks move in opposite directions (X has both signs),
    and a right gradient (ReLU'(0) = 0 or 1) can lie outside [g'(0-), g'(0+)]: a check
    that judged a kink on that pair alone would flag it. The checks below pass it."""
    params, X, y, loss_fn = _on_the_kink()
    outside = 0
    for equivalent in (None, "relu_mask_ge"):
        right = gradients(params, X, y, ARCH_19, equivalent=equivalent)
        for c in range(12):
            lo, hi = sorted(_one_sided(loss_fn, params, "W1", (0, c)))
            outside += not lo - 1e-9 <= right["W1"][0, c] <= hi + 1e-9
    assert outside >= 6


@pytest.mark.parametrize("mode", ["all", "sample", "directional"])
@pytest.mark.parametrize("equivalent", [None, "relu_mask_ge", "relu_derivative_half_at_zero"])
def test_a_right_gradient_on_the_kink_passes_in_every_mode(mode, equivalent) -> None:
    params, X, y, loss_fn = _on_the_kink()
    report = check_gradients(
        loss_fn, partial(gradients, X=X, y=y, arch=ARCH_19, equivalent=equivalent), params,
        mode=mode,
    )  # fmt: skip
    assert report.passed, report.summary()
    assert sum(p.set_aside for p in report.parameters) == 0


def _b1_doubled(g):
    g["b1"] *= 2


def _two_b1_entries_shifted(g):
    g["b1"][1:3] += 0.3


def _b1_0_is(value):
    def wrong(g):
        g["b1"][0] = value

    return wrong


WRONG_ON_THE_KINK = {
    "b1 doubled": _b1_doubled,
    "b1[1:3] + 0.3": _two_b1_entries_shifted,
    "b1[0] = 0.3": _b1_0_is(0.3),
    "b1[0] = -0.3": _b1_0_is(-0.3),
    "b1[0] = 1.0": _b1_0_is(1.0),
}


@pytest.mark.parametrize("only_at_the_point", [False, True], ids=["everywhere", "at-the-point"])
@pytest.mark.parametrize("mode", ["all", "sample", "directional"])
@pytest.mark.parametrize("bug", sorted(WRONG_ON_THE_KINK))
def test_a_wrong_gradient_on_the_kink_fails_in_every_mode(bug, mode, only_at_the_point) -> None:
    """Wrong at every point (a bug in the code) or only at the point itself (where the unit
    is on its kink): no ReLU'(0) makes these values right, and every mode says so."""
    params, X, y, loss_fn = _on_the_kink()
    lo, hi = sorted(_one_sided(loss_fn, params, "b1", (0, 0)))
    assert not any(lo - 1e-3 <= v <= hi + 1e-3 for v in (0.3, -0.3, 1.0))  # outside, clearly

    def wrong(p):
        g = gradients(p, X, y, ARCH_19)
        if not only_at_the_point or all(np.array_equal(p[k], params[k]) for k in p):
            WRONG_ON_THE_KINK[bug](g)
        return g

    report = check_gradients(loss_fn, wrong, params, mode=mode)
    assert not report.passed, report.summary()
    assert "b1" in report.failed
    assert sum(p.set_aside for p in report.parameters) == 0


def test_a_failure_found_off_the_kink_says_so() -> None:
    params, X, y, loss_fn = _on_the_kink()

    def wrong(p):
        g = gradients(p, X, y, ARCH_19)
        g["W1"][0] *= 1.001  # the dead unit's row: 0 on the kink, so wrong only near it
        return g

    report = check_gradients(loss_fn, wrong, params, mode="all")
    assert report.failed == ("W1",)
    assert report["W1"].worst_nearby and report["W1"].worst_index[0] == 0
    assert "(near the point, off its kink)" in report.summary()


# -- the JAX oracle's own precision, and what it cannot judge ----------------------------------


def test_an_exact_oracle_judges_at_autodiff_precision() -> None:
    """An error of 1e-8 relative is below finite differences' resolution but not autodiff's."""
    right = {"W": np.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": np.array([[0.5], [0.0], [-2.0]])}
    assert compare_gradients(
        {k: v * (1 + 1e-13) for k, v in right.items()}, right, oracle="exact"
    ).passed
    report = compare_gradients({k: v * (1 + 1e-8) for k, v in right.items()}, right, oracle="exact")
    assert report.failed == ("W", "b")
    assert report["W"].rtol == AUTODIFF_TOLERANCES[np.dtype(np.float64)].rtol == 1e-10


def test_entries_an_exact_oracle_cannot_judge_are_counted_and_nothing_judged_is_no_pass() -> None:
    analytic = {"W": np.ones((2, 3)), "b": np.ones((2, 1))}
    reference = {"W": np.ones((2, 3)), "b": np.full((2, 1), np.nan)}
    reference["W"][0, 0] = np.nan
    report = compare_gradients(analytic, reference, oracle="exact")
    assert report["W"].passed and report["W"].set_aside == 1 and report["W"].judged == 5
    assert not report["b"].passed and report["b"].set_aside == 2 and report["b"].judged == 0
    assert report.failed == ("b",) and report.undecided == ("b",)
    text = report.summary()
    assert "set aside" in text and "3 set aside" in text
    assert "gradient of b could not be judged at all" in text
    assert "UNJUDGED" in text


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "grad", "params", "error", "message"),
    [
        (_tanh_loss, _tanh_grad, {}, TypeError, "non-empty dict"),
        (_tanh_loss, _tanh_grad, {"W": np.ones((3, 5), int)}, TypeError, "float array"),
        (_tanh_loss, _tanh_grad, {**_params(), "W": np.full((3, 5), np.nan)}, ValueError, "NaN"),
        (_tanh_loss, lambda p: {"W": p["W"]}, _params(), ValueError, "no gradient for b"),
        # db = dZ / m, not summed over the examples: (3, 2) for b (3, 1), which no update applies
        (
            _tanh_loss,
            lambda p: {**_tanh_grad(p), "b": np.ones((3, 2))},
            _params(),
            ValueError,
            r"grad\['b'\] has shape \(3, 2\), params\['b'\] \(3, 1\): the update",
        ),
        (
            _tanh_loss,
            lambda p: {**_tanh_grad(p), "b": p["b"] * np.nan},
            _params(),
            ValueError,
            r"grad\['b'\] contains NaN",
        ),
        (lambda p: np.nan, _tanh_grad, _params(), ValueError, "finite loss"),
    ],
)
def test_bad_input_is_named(loss, grad, params, error, message) -> None:
    with pytest.raises(error, match=message):
        check_gradients(loss, grad, params)


def test_unknown_mode_or_method_is_named() -> None:
    with pytest.raises(ValueError, match="unknown mode 'every'"):
        check_gradients(_tanh_loss, _tanh_grad, _params(), mode="every")
    with pytest.raises(ValueError, match="unknown method 'forward'"):
        check_gradients(_tanh_loss, _tanh_grad, _params(), method="forward")


# -- every network, style and variant -----------------------------------------------------------

# Measured (seed 0, the first 64 training examples of each protocol): the parameters whose
# hand-written gradient disagrees with finite differences of the variant's own loss. Only the
# published 003/004 derivations, whose bias gradients are one scalar sum over all of dZ, fail
# (and so do the directions over all parameters at once, the row "(all)").
FD_FINDINGS = {
    ("relu_10_10", "published"): ("b1", "b2", "(all)"),
    ("relu_16_16", "published"): ("b1", "b2", "b3", "(all)"),
}
# Measured likewise against jax.grad, at autodiff's own tolerance (float64 rounding, rtol
# 1e-10). own_forward: autodiff of the variant's own forward and loss; the published
# losses of 000 and 002 take log(Y_hat + 1e-8), whose derivative the hand-written A - Y is
# not (relative difference about 1e-7 for 000, up to 2.5e-5 for 002). independent:
# autodiff of the spec's network written in jax.nn; 001's published sigmoid and softmax
# carry 1e-5 offsets.
JAX_FINDINGS = {
    ("relu_500_150", "published", "own_forward"): ("W1", "b1", "W2", "b2", "W3", "b3"),
    ("relu_10_10", "published", "own_forward"): ("b1", "b2"),
    ("relu_10_10", "published", "independent"): ("b1", "b2"),
    ("relu_16_16", "published", "own_forward"): ("b1", "b2", "b3"),
    ("relu_16_16", "published", "independent"): ("b1", "b2", "b3"),
    ("relu_532", "published", "own_forward"): ("W1", "b1", "W2", "b2"),
    ("sigmoid_16_16", "published", "independent"): ("W1", "b1", "W2", "b2", "W3", "b3"),
}
CASES = list(itertools.product(sorted(NETWORKS), VARIANTS))


@pytest.fixture(scope="module")
def batches(mnist):
    out = {}
    for name, variant in CASES:
        data = prepare(NETWORKS[name], variant, mnist, seed=0)
        out[name, variant] = (data.X_train[:, :64].astype(np.float64), data.y_train[:64])
    return out


@pytest.mark.mnist
@pytest.mark.parametrize(
    "style", ["loop", "vectorized", pytest.param("gpu", marks=pytest.mark.gpu)]
)
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_finite_differences_judge_every_network_as_measured(name, variant, style, batches) -> None:
    net = network(name, style=style, variant=variant)
    X, y = batches[name, variant]
    params = net.init_params(0)
    with document_warnings(name, variant):
        report = check_gradients(
            lambda p: net.loss(p, X, y), lambda p: net.gradients(p, X, y), params,
            mode="directional", directions=8,
        )  # fmt: skip
    assert report.failed == FD_FINDINGS.get((name, variant), ()), report.summary()


@pytest.mark.mnist
def test_every_coordinate_of_relu_10_10_passes(batches) -> None:
    net = network("relu_10_10")
    X, y = batches["relu_10_10", "reference"]
    report = check_gradients(  # mode all named: auto weighs the loss's speed on this machine
        lambda p: net.loss(p, X, y),
        lambda p: net.gradients(p, X, y),
        net.init_params(0),
        mode="all",
    )
    assert report.mode == "all" and report.passed, report.summary()
    assert sum(p.checked for p in report.parameters) == NETWORKS["relu_10_10"].parameter_count


@pytest.mark.jax
@pytest.mark.mnist
@pytest.mark.parametrize("formulation", ["own_forward", "independent"])
@pytest.mark.parametrize(
    "style", ["loop", "vectorized", pytest.param("gpu", marks=pytest.mark.gpu)]
)
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_jax_judges_every_network_as_measured(name, variant, style, formulation, batches) -> None:
    from oracles.audit.jax_oracle import check_against_jax

    net = network(name, style=style, variant=variant)
    X, y = batches[name, variant]
    params = {k: v.astype(np.float64) for k, v in net.init_params(0).items()}
    with document_warnings(name, variant):
        report = check_against_jax(net, params, X, y, formulation)
    assert report.failed == JAX_FINDINGS.get((name, variant, formulation), ()), report.summary()
    if report.passed:
        assert max(p.max_relative_error for p in report.parameters) < 1e-10


@pytest.mark.jax
def test_jax_oracle_catches_a_wrong_forward_that_own_forward_cannot() -> None:
    """A recipe whose forward and backward are consistently wrong passes own_forward
    but fails against the independent formulation."""
    from oracles.audit.jax_oracle import check_against_jax

    net = network("sigmoid_16_16", variant="published")
    rng = np.random.default_rng(0)
    X, y = rng.random((784, 32)), rng.integers(0, 10, 32)
    params = net.init_params(0)
    assert check_against_jax(net, params, X, y, "own_forward").passed
    assert not check_against_jax(net, params, X, y, "independent").passed


@pytest.mark.parametrize("size", [5, 8, 8 * CHUNK, 8 * CHUNK + 13, 3 * 8 * CHUNK - 3])
def test_moved_points_and_products_written_a_chunk_at_a_time_are_those_of_whole_arrays(size):
    """x + t v, written from the bits a chunk at a time, is x + (t v) in whole arrays bit for
    bit, for t of either sign and sizes that end inside a byte or a chunk; the direction's
    product with a gradient agrees to rounding."""
    rng = np.random.default_rng(size)
    x = {"W": rng.standard_normal((size,)), "b": rng.standard_normal((3, 1))}
    direction = unit_signs(rng, {k: v.shape for k, v in x.items()})
    v, moves = direction.v, Moves()
    seen = []
    g = moves.along(lambda p: seen.append({k: a.copy() for k, a in p.items()}) or 0.0, x,
                    direction)  # fmt: skip
    for t in (1e-3, -1e-3, 0.37):
        g(t)
        for k in x:
            np.testing.assert_array_equal(seen[-1][k], x[k] + t * v[k])
    gradient = {k: rng.standard_normal(a.shape) for k, a in x.items()}
    exact = sum(float(np.dot(gradient[k].ravel(), v[k].ravel())) for k in x)
    np.testing.assert_allclose(moves.dot(direction, gradient), exact, rtol=1e-12)
