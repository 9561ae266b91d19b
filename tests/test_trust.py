"""No outcome misleads: a failing report is falsy; a loss computed in float32 inside is judged at
its own precision; a loss that ignores its parameters, or draws a dropout mask inside, is named
before any verdict; degenerate points and shape bugs are said, not judged or hidden.

The networks are written in the styles of public from-scratch code (my own code, in their
shapes): a notebook whose hidden state is float32, a recurrent net kept in float32, a book's
layer objects sharing their arrays with a ``params`` list, dropout drawn in the forward pass,
and a per-example class with column biases.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import find
from hypothesis.errors import NoSuchExample

from oracles import (
    assert_at_points,
    attributes,
    check_at_points,
    check_gradients,
    diagnose,
    gradients_from_update,
)
from oracles._engine.degenerate import degenerate
from oracles.checks import (
    GradientShapeWarning,
    LossIgnoresParameters,
    LossNotRepeatable,
    compare_gradients,
)
from oracles.checks.strategies import params_like
from tests.meta.mutants import ARCHITECTURES, gradients, init, loss

RNG = np.random.default_rng(11)
X = RNG.standard_normal((5, 8))  # 8 examples as columns
Y_LABELS = RNG.integers(0, 3, 8)
Y = np.eye(3)[Y_LABELS].T


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


# -- a notebook whose hidden state is float32 (float64 parameters) -----------------------------


def _notebook_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": 0.5 * rng.standard_normal((4, 5)), "b1": np.full((4, 1), 0.1),
            "W2": 0.5 * rng.standard_normal((3, 4)), "b2": np.zeros((3, 1))}  # fmt: skip


def _notebook_forward(p):
    A1 = np.tanh((p["W1"] @ X + p["b1"]).astype(np.float32))  # the notebook's float32 state
    return A1, _softmax(p["W2"] @ A1 + p["b2"])


def notebook_loss(p):
    _, P = _notebook_forward(p)
    return -np.mean(np.log(P[Y_LABELS, np.arange(8)]))


def notebook_grads(p, factor=1.0):
    A1, P = _notebook_forward(p)
    dZ2 = (P - Y) / 8
    dZ1 = (p["W2"].T @ dZ2) * (1 - A1**2)
    return {"W1": factor * dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True),
            "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}  # fmt: skip


@pytest.mark.parametrize("mode", ["all", "directional"])
def test_a_loss_with_a_float32_hidden_state_is_judged_at_its_own_precision(mode) -> None:
    report = check_gradients(notebook_loss, notebook_grads, _notebook_params(), mode=mode)
    assert report, report.summary()
    assert sum(p.set_aside for p in report.parameters) == 0
    assert sum(p.kinks for p in report.parameters) == 0  # rounding steps are not kinks
    # Along W2 and b2 the loss is float64's (A1 is fixed there): judged at float64's rtol.
    assert report["W2"].rtol == report["b2"].rtol == 1e-6
    assert report["W1"].rtol > 1e-6
    assert "about float32 precision along W1, b1" in report.summary()


@pytest.mark.parametrize("mode", ["all", "directional"])
def test_a_wrong_gradient_of_a_float32_loss_is_named_wrong(mode) -> None:
    report = check_gradients(notebook_loss, lambda p: notebook_grads(p, 1.05),
                             _notebook_params(), mode=mode)  # fmt: skip
    assert not report
    assert set(report.failed) <= {"W1", "(all)"} and "W1" in report.failed
    assert report["W1"].mismatched > 0 and report["W1"].set_aside == 0


def cast_loss(p):
    """Everything cast to float32, a ReLU, and a float32 value returned: the loss moves in
    steps of float32's rounding of its value, and W1 has units near their kinks."""
    return float(_cast_forward(p)[2])


def _cast_forward(p):
    W1, b1, W2, b2 = (p[k].astype(np.float32) for k in ("W1", "b1", "W2", "b2"))
    A1 = np.maximum(W1 @ X.astype(np.float32) + b1, 0)
    P = _softmax(W2 @ A1 + b2)
    return A1, P, -np.mean(np.log(P[Y_LABELS, np.arange(8)]))


def cast_grads(p, factor=1.0):
    A1, P, _ = _cast_forward(p)
    dZ2 = (P - Y) / 8
    dZ1 = (p["W2"].T @ dZ2) * (A1 > 0)
    return {"W1": factor * dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True),
            "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}  # fmt: skip


@pytest.mark.parametrize("mode", ["all", "directional"])
def test_a_loss_cast_to_float32_is_judged_at_its_precision_at_every_seed(mode) -> None:
    """The noise is measured along random directions: at no seed does one the loss cannot
    feel (one sign over a softmax's bias) leave a parameter judged at float64's precision."""
    params = _notebook_params(4)
    for seed in range(6):
        right = check_gradients(cast_loss, cast_grads, params, mode=mode, seed=seed)
        assert right and sum(p.set_aside for p in right.parameters) == 0, right.summary()
        wrong = check_gradients(cast_loss, lambda p: cast_grads(p, 1.05), params, mode=mode,
                                seed=seed)  # fmt: skip
        assert not wrong and "W1" in wrong.failed, wrong.summary()


@pytest.mark.jax
def test_a_case_with_a_float32_hidden_state_is_correct_and_its_slip_wrong() -> None:
    """Against the network meant (float64 throughout), the notebook's gradient differs by its
    float32 rounding: every oracle judges it at float32's precision, never a false wrong."""
    from oracles import Case, audit_case
    from oracles.own_network.meant import mlp_reference

    meant = mlp_reference(X, Y_LABELS, activation="tanh", output="softmax", examples="columns")
    right = audit_case(Case(notebook_loss, notebook_grads, _notebook_params(), reference=meant))
    assert right and {v.verdict for v in right.verdicts} == {"correct"}
    slipped = audit_case(Case(notebook_loss, lambda p: notebook_grads(p, 1.05),
                              _notebook_params(), reference=meant))  # fmt: skip
    assert {v.parameter: v.verdict for v in slipped.verdicts} == {
        "W1": "wrong", "b1": "correct", "W2": "correct", "b2": "correct"}  # fmt: skip


# -- a recurrent net whose state is kept in float32, trained through time ----------------------

T_STEPS, H, D_IN = 5, 4, 3
XS = RNG.standard_normal((T_STEPS, D_IN))
TARGET = RNG.standard_normal(H)


def _rnn_params(seed=1):
    rng = np.random.default_rng(seed)
    return {"Wx": 0.5 * rng.standard_normal((H, D_IN)), "Wh": 0.5 * rng.standard_normal((H, H)),
            "b": np.zeros(H)}  # fmt: skip


def _rnn_states(p):
    Wx, Wh, b = (p[k].astype(np.float32) for k in ("Wx", "Wh", "b"))
    hs = [np.zeros(H, np.float32)]
    for t in range(T_STEPS):
        hs.append(np.tanh(Wx @ XS[t].astype(np.float32) + Wh @ hs[-1] + b))
    return hs


def rnn_loss(p):
    return float(0.5 * np.sum((_rnn_states(p)[-1] - TARGET) ** 2))


def rnn_grads(p, through_time=True):
    hs = _rnn_states(p)
    Wh = p["Wh"].astype(np.float32)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dh = hs[-1] - TARGET
    for t in reversed(range(T_STEPS)):
        dz = dh * (1 - hs[t + 1] ** 2)
        g["Wx"] += np.outer(dz, XS[t])
        g["Wh"] += np.outer(dz, hs[t])
        g["b"] += dz
        if not through_time:
            break
        dh = Wh.T @ dz
    return g


def test_a_recurrent_net_in_float32_is_right_as_written_and_wrong_without_time() -> None:
    right = check_gradients(rnn_loss, rnn_grads, _rnn_params())
    assert right, right.summary()
    assert "about float32 precision" in right.summary()
    assert sum(p.set_aside for p in right.parameters) == 0
    last_step_only = check_gradients(rnn_loss, lambda p: rnn_grads(p, False), _rnn_params())
    assert not last_step_only and set(last_step_only.failed) == {"Wx", "Wh", "b"}


# -- a book's layer objects holding float32 arrays that a params list also holds ---------------


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return self.W @ x + self.b

    def backward(self, dout):
        self.dW, self.db = dout @ self.x.T, dout.sum(axis=1, keepdims=True)
        return self.W.T @ dout


class Tanh:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out**2)


class BookNet:
    """Layers keep their own W and b; ``params`` lists the very same float32 arrays."""

    def __init__(self, seed=2):
        rng = np.random.default_rng(seed)
        W1, W2 = (rng.standard_normal(shape).astype(np.float32) for shape in ((4, 5), (3, 4)))
        b1, b2 = np.zeros((4, 1), np.float32), np.zeros((3, 1), np.float32)
        self.layers = [Affine(W1, b1), Tanh(), Affine(W2, b2)]
        self.params = [a for layer in self.layers[::2] for a in (layer.W, layer.b)]

    def loss(self):
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        self.P = _softmax(out)
        return float(-np.mean(np.log(self.P[Y_LABELS, np.arange(8)])))

    def gradient(self):
        self.loss()
        dout = (self.P - Y) / 8
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return [g for layer in self.layers[::2] for g in (layer.dW, layer.db)]


def test_arrays_shared_by_layers_and_a_params_list_are_written_where_the_layers_read_them():
    net = BookNet()
    before = [a.copy() for a in net.params]
    attrs = attributes(net, ["params"])
    grads = attrs(lambda: dict(zip(attrs.params, net.gradient(), strict=True)))
    report = check_gradients(attrs(net.loss), grads, attrs.params)
    assert report, report.summary()
    assert all(a.dtype == np.float32 for a in net.params)
    assert all(np.array_equal(a, b) for a, b in zip(net.params, before, strict=True))
    assert net.params[0] is net.layers[0].W


def test_a_loss_that_reads_copies_is_named_before_any_verdict() -> None:
    params = _notebook_params()
    frozen = {k: v.copy() for k, v in params.items()}  # the loss closes over a copy

    def stale_loss(p):
        return notebook_loss({**p, "W1": frozen["W1"], "b1": frozen["b1"]})

    with pytest.raises(LossIgnoresParameters, match=r"does not read W1, b1.*copies"):
        check_gradients(stale_loss, notebook_grads, params)


# -- dropout drawn inside the forward pass -----------------------------------------------------


def _dropout_loss(p, mask=None):
    A1 = np.maximum(p["W1"] @ X + p["b1"], 0)
    if mask is None:
        mask = np.random.default_rng().random(A1.shape) < 0.5  # a fresh mask on every call
    A1 = A1 * mask / 0.5
    return -np.mean(np.log(_softmax(p["W2"] @ A1 + p["b2"])[Y_LABELS, np.arange(8)])), A1, mask


def test_a_loss_that_draws_its_dropout_mask_inside_is_named() -> None:
    params = _notebook_params()

    def grads(p):  # whatever it returns, the loss must be looked at first
        return {k: np.zeros_like(v) for k, v in p.items()}

    with pytest.raises(LossNotRepeatable, match=r"different values at the same point.*dropout"):
        check_gradients(lambda p: _dropout_loss(p)[0], grads, params)


def test_a_stated_nondeterminism_is_judged_at_that_noise() -> None:
    """Summation order that varies from call to call (as on a GPU): 1e-12 of noise."""
    rng = np.random.default_rng(5)

    def noisy(p):
        return notebook_loss(p) + 1e-12 * rng.standard_normal()

    with pytest.raises(LossNotRepeatable, match="nondet_tol"):
        check_gradients(noisy, notebook_grads, _notebook_params())
    right = check_gradients(noisy, notebook_grads, _notebook_params(), nondet_tol=1e-11)
    assert right and "nondeterminism allowed" in right.summary(), right.summary()
    wrong = check_gradients(noisy, lambda p: notebook_grads(p, 1.05), _notebook_params(),
                            nondet_tol=1e-11)  # fmt: skip
    assert not wrong and "W1" in wrong.failed


# -- a per-example class with column biases, and a (D,) gradient -------------------------------


class PerExampleNet:
    """Weights (n_out, n_in) and biases (n_out, 1); backprop one example at a time."""

    def __init__(self, slip=False):
        rng = np.random.default_rng(3)
        self.weights = [rng.standard_normal((4, 5)), rng.standard_normal((3, 4))]
        self.biases = [rng.standard_normal((4, 1)), rng.standard_normal((3, 1))]
        self.slip = slip

    def cost(self):
        total = 0.0
        for j in range(8):
            a = X[:, [j]]
            for W, b in zip(self.weights, self.biases, strict=True):
                a = np.tanh(W @ a + b)
            total += 0.5 * float(np.sum((a - Y[:, [j]]) ** 2))
        return total / 8

    def gradients(self):
        nb = [np.zeros(b.shape) for b in self.biases]
        nw = [np.zeros(W.shape) for W in self.weights]
        for j in range(8):
            acts = [X[:, [j]]]
            for W, b in zip(self.weights, self.biases, strict=True):
                acts.append(np.tanh(W @ acts[-1] + b))
            delta = (acts[-1] - Y[:, [j]]) * (1 - acts[-1] ** 2)
            for layer in (1, 0):
                nb[layer] += delta / 8
                nw[layer] += delta @ acts[layer].T / 8
                delta = (self.weights[layer].T @ delta) * (1 - acts[layer] ** 2)
        if self.slip:
            nb[0] = nb[0].ravel()  # a (4,) gradient for a (4, 1) bias
        return {"weights[0]": nw[0], "weights[1]": nw[1], "biases[0]": nb[0],
                "biases[1]": nb[1]}  # fmt: skip


def test_a_gradient_shape_that_the_update_would_broadcast_is_a_shape_bug() -> None:
    net = PerExampleNet(slip=True)
    attrs = attributes(net, ["weights", "biases"])
    with pytest.warns(GradientShapeWarning, match=r"biases\[0\] = biases\[0\] - lr \* g"):
        report = check_gradients(attrs(net.cost), attrs(net.gradients), attrs.params)
    assert report  # its entries are right
    line = next(s for s in report.summary().splitlines() if s.startswith("shape bug:"))
    assert "(4,)" in line and "(4, 4)" in line and "-= lr * g raises" in line
    with pytest.warns(GradientShapeWarning):
        failing = check_gradients(attrs(net.cost), attrs(lambda: {**net.gradients(),
                                  "weights[0]": 2 * net.gradients()["weights[0]"]}),
                                  attrs.params)  # fmt: skip
    assert not failing and "shape bug:" in failing.summary()
    clean = PerExampleNet()
    attrs = attributes(clean, ["weights", "biases"])
    report = check_gradients(attrs(clean.cost), attrs(clean.gradients), attrs.params)
    assert report and "shape bug" not in report.summary()


# -- degenerate points -------------------------------------------------------------------------


def _relu_net(p, masked=True):
    A1 = np.maximum(p["W1"] @ X + p["b1"], 0)
    P = _softmax(p["W2"] @ A1 + p["b2"])
    dZ2 = (P - Y) / 8
    dZ1 = (p["W2"].T @ dZ2) * ((A1 > 0) if masked else 1.0)
    loss_value = -np.mean(np.log(P[Y_LABELS, np.arange(8)]))
    return loss_value, {"W1": dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True),
                        "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}  # fmt: skip


def _ones_below():
    """W1 and b1 all ones (where hypothesis shrinks to), W2 and b2 as drawn."""
    return {k: np.ones_like(v) if k in ("W1", "b1") else v for k, v in _notebook_params().items()}


def test_the_diagnosis_names_no_defect_from_a_degenerate_point() -> None:
    ones = _ones_below()
    found = diagnose(lambda p: _relu_net(p, masked=False), None, ones)
    assert [d.kind for d in found.defects] == ["degenerate"]
    assert "every entry of W1 is 1" in str(found)
    # At a random point the same slip is named.
    named = diagnose(lambda p: _relu_net(p, masked=False), None, _notebook_params())
    assert "degenerate" not in {d.kind for d in named.defects}


def test_no_defect_is_named_where_a_whole_layer_is_off() -> None:
    """Every ReLU off: the loss does not move with W1 and b1 at all, so a missing mask's
    gradient is wrong there, but what it says of the code is nothing."""
    dead = {**_notebook_params(), "b1": np.full((4, 1), -100.0)}
    with pytest.raises(LossIgnoresParameters, match=r"W1.*switched off here.*another point"):
        diagnose(lambda p: _relu_net(p, masked=False), None, dead)
    found = diagnose(lambda p: _relu_net(p, masked=False), None, dead,
                     reference=lambda p: _relu_net(p)[1])  # fmt: skip
    assert [d.kind for d in found.defects] == ["degenerate"]
    assert found.defects[0].parameters == ("W1", "b1")
    assert "does not change with W1, b1 at all" in str(found)


def test_check_at_points_says_when_its_failing_point_is_degenerate() -> None:
    ones = _ones_below()
    found = check_at_points(lambda p: _relu_net(p, masked=False), None, ones, count=1,
                            scales=(1.0,))  # fmt: skip
    assert not found and "degenerate point" in found.summary()
    with pytest.raises(AssertionError, match=r"\[degenerate\]"):
        assert_at_points(lambda p: _relu_net(p, masked=False), None, ones, count=1,
                         scales=(1.0,))  # fmt: skip


def test_params_like_draws_no_degenerate_point() -> None:
    with pytest.raises(NoSuchExample):
        find(params_like(_notebook_params()), lambda p: bool(degenerate(p)))


RELU_SQUARE = next(a for a in ARCHITECTURES if a.name == "relu_square")


@pytest.mark.parametrize("mode", ["all", "directional"])
@pytest.mark.parametrize("equivalent", [None, "relu_mask_ge", "relu_derivative_half_at_zero"])
def test_a_right_gradient_at_zero_weights_is_never_called_wrong(equivalent, mode) -> None:
    """Zero initialisation puts every unit of the layer on its kink for every example; there
    the nearby points' range can miss a valid ReLU'(0) (seed 2 did, by 1.08e-6 relative)."""
    for seed in range(3):
        params, Xs, ys = init(RELU_SQUARE, seed)
        zeroed = {k: np.zeros_like(v) if k in ("W1", "b1", "W2", "b2") else v
                  for k, v in params.items()}  # fmt: skip
        report = check_gradients(partial(loss, X=Xs, y=ys, arch=RELU_SQUARE),
                                 partial(gradients, X=Xs, y=ys, arch=RELU_SQUARE,
                                         equivalent=equivalent),
                                 zeroed, mode=mode)  # fmt: skip
        assert report, report.summary()
        assert report.degenerate == ("every entry of W1 is 0", "every entry of W2 is 0")


def test_a_zero_gradient_read_off_an_update_suggests_another_point() -> None:
    dead = {**_notebook_params(), "b1": np.full((4, 1), -100.0)}  # every ReLU off

    def update(p):
        _, g = _relu_net(p)
        for k in p:
            p[k] -= 0.1 * g[k] * (k in ("W1", "b1"))

    grad = gradients_from_update(update, lr=0.1)
    with pytest.raises(ValueError, match=r"gradient is zero here.*another point"):
        check_gradients(lambda p: _relu_net(p)[0], grad, dead)


# -- a report's truth value is its verdict -----------------------------------------------------


def test_every_report_is_falsy_when_its_check_fails() -> None:
    p = {"w": np.array([1.0, 2.0])}

    def f(q):
        return float(np.sum(q["w"] ** 2))

    right, wrong = (lambda q: {"w": 2 * q["w"]}), (lambda q: {"w": 3 * q["w"]})
    assert check_gradients(f, right, p) and not check_gradients(f, wrong, p)
    assert check_gradients(f, right, p)["w"] and not check_gradients(f, wrong, p)["w"]
    assert check_at_points(f, right, p) and not check_at_points(f, wrong, p)
    exact = {"w": 2 * p["w"]}
    assert compare_gradients(exact, exact, oracle="x")
    assert not compare_gradients({"w": 3 * p["w"]}, exact, oracle="x")
    with pytest.raises(AssertionError, match="scale"):
        assert_at_points(f, wrong, p)


def test_a_primitive_report_and_a_case_audit_are_falsy_when_they_fail() -> None:
    from oracles import Case, audit_case, check_primitive

    assert check_primitive(lambda z: np.maximum(z, 0), "relu")
    assert not check_primitive(lambda z: np.abs(z), "relu")
    params = _notebook_params()
    assert audit_case(Case(lambda p: _relu_net(p), None, params, name="ok"))
    assert not audit_case(Case(lambda p: _relu_net(p, masked=False), None, params, name="no"))


@pytest.mark.parametrize("mode", ["all", "sample", "directional"])
def test_a_parameter_given_in_fortran_order_is_moved_and_judged(mode) -> None:
    """W = W.T (an F-ordered array): its coordinates are moved like any other's. Before, mode
    all moved a copy and measured 0 for every entry: a right gradient judged WRONG."""
    W = np.random.default_rng(0).standard_normal((3, 4)).T
    assert W.flags["F_CONTIGUOUS"] and not W.flags["C_CONTIGUOUS"]
    report = check_gradients(lambda p: float(np.sum(np.sin(p["W"]))),
                             lambda p: {"W": np.cos(p["W"])}, {"W": W}, mode=mode)  # fmt: skip
    assert report, report.summary()

    def slipped(p):
        return {"W": 1.01 * np.cos(p["W"])}

    assert not check_gradients(
        lambda p: float(np.sum(np.sin(p["W"]))), slipped, {"W": W}, mode=mode
    )


def test_mode_auto_weighs_the_loss_own_cost() -> None:
    """A loss of milliseconds over 1,000 coordinates: mode auto compares directions (about 50
    evaluations) rather than every coordinate (2,000: seconds), and says why; a fast loss of
    the same size keeps mode all."""
    import time

    W = np.random.default_rng(1).standard_normal((40, 25))

    def slow(p):
        time.sleep(0.002)  # a naive loop's forward
        return float(np.sum(np.sin(p["W"])))

    report = check_gradients(slow, lambda p: {"W": np.cos(p["W"])}, {"W": W})
    assert report and report.mode == "directional"
    assert any("every one of the 1000 coordinates would take about" in r for r in report.readings)
    fast = check_gradients(lambda p: float(np.sum(np.sin(p["W"]))),
                           lambda p: {"W": np.cos(p["W"])}, {"W": W})  # fmt: skip
    assert fast and fast.mode == "all"
    assert not check_gradients(slow, lambda p: {"W": 1.001 * np.cos(p["W"])}, {"W": W})
