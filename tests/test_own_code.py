"""Users' code as they write it: each style checked in a few lines of glue, right and slipped.

The networks here are small from-scratch networks written in the styles public tutorials and
courses use: a class whose ``loss()`` returns both (params in a dict, examples as rows, biases
of shape (H,)), functions with caches returning ``dW1``/``db1`` beside ``dA1``, a class with
lists of weights that updates itself per mini-batch, and layer objects whose ``backward``
applies the update in place.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracles import (
    assert_gradients,
    attributes,
    check_gradients,
    diagnose,
    gradients_from_update,
)
from oracles.checks import GradientShapeWarning

RNG = np.random.default_rng(3)
X_ROWS = RNG.standard_normal((8, 5))  # 8 examples as rows
Y_LABELS = RNG.integers(0, 3, 8)


# -- a class whose loss() returns (loss, grads), params in a dict ----------------------------


class TwoLayerNet:
    def __init__(self, slip: str | None = None, reg: float = 0.1) -> None:
        rng = np.random.default_rng(0)
        self.params = {
            "W1": rng.standard_normal((5, 4)) * 0.5, "b1": rng.standard_normal(4) * 0.1,
            "W2": rng.standard_normal((4, 3)) * 0.5, "b2": rng.standard_normal(3) * 0.1,
        }  # fmt: skip
        self.slip, self.reg = slip, reg

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h = np.maximum(X @ W1 + b1, 0)
        scores = h @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.log(probs[np.arange(n), y]).mean()
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(n), y] -= 1
        dscores /= n
        grads = {"W2": h.T @ dscores + self.reg * W2, "b2": dscores.sum(axis=0)}
        dh = (dscores @ W2.T) * (h > 0)
        grads["W1"] = X.T @ dh + self.reg * W1
        grads["b1"] = np.sum(dh) if self.slip == "scalar_bias" else dh.sum(axis=0)
        if self.slip == "bias_as_row":  # (1, H) for a (H,) parameter: the update applies it
            grads["b1"] = dh.sum(axis=0, keepdims=True)
        return loss, grads


def test_a_class_whose_loss_returns_both_checks_in_two_lines() -> None:
    net = TwoLayerNet()
    before = {k: v.copy() for k, v in net.params.items()}
    attrs = attributes(net, ["params"])
    report = check_gradients(attrs(lambda: net.loss(X_ROWS, Y_LABELS)), None, attrs.params)
    assert report.passed, report.summary()
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


def test_a_scalar_bias_gradient_is_judged_as_the_update_applies_it() -> None:
    """db = np.sum(dh): one number the update subtracts from every unit; judged, not refused."""
    net = TwoLayerNet("scalar_bias")
    attrs = attributes(net, ["params"])
    found = diagnose(attrs(lambda: net.loss(X_ROWS, Y_LABELS)), None, attrs.params)
    assert [(d.kind, d.parameters) for d in found.defects] == [("bias_sum_over_units", ("b1",))]
    report = check_gradients(attrs(lambda: net.loss(X_ROWS, Y_LABELS)), None, attrs.params)
    assert report.failed == ("b1",)
    assert "grad['b1'] of shape () applied to b1 (4,)" in report.summary()


def test_a_bias_gradient_as_a_row_for_a_vector_is_read_and_said() -> None:
    """Judged by its entries, and said to be a shape bug: the user's own b1 - lr * db1 would
    make b1 (1, 4), and b1 -= lr * db1 raises."""
    net = TwoLayerNet("bias_as_row")
    attrs = attributes(net, ["params"])
    with pytest.warns(GradientShapeWarning, match=r"b1 = b1 - lr \* g silently makes b1 \(1, 4\)"):
        report = check_gradients(attrs(lambda: net.loss(X_ROWS, Y_LABELS)), None, attrs.params)
    assert report.passed, report.summary()
    assert "grad['b1'] of shape (1, 4) read as b1's (4,)" in report.summary()
    assert "shape bug: grad['b1'] has shape (1, 4), b1 (4,)" in report.summary()


# -- functions with caches, returning dW1, db1 and dA1 ------------------------------------------


def _forward(X, parameters):
    caches, A = [], X
    L = len(parameters) // 2
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        caches.append((A, Z))
        A = 1 / (1 + np.exp(-Z)) if l == L else np.tanh(Z)
    return A, caches


def _cost(AL, Y):
    return float(-np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))


def _backward(AL, Y, caches, parameters, slip=None):
    grads, m, L = {}, Y.shape[1], len(caches)
    dZ = AL - Y
    for l in range(L, 0, -1):
        A_prev, _ = caches[l - 1]
        grads[f"dW{l}"] = dZ @ A_prev.T / m
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        grads[f"dA{l - 1}"] = parameters[f"W{l}"].T @ dZ
        if l > 1:
            tanh_prime = 1 - A_prev**2 if slip != "tanh_without_square" else 1 - A_prev
            dZ = grads[f"dA{l - 1}"] * tanh_prime
    return grads


def _parameters():
    rng = np.random.default_rng(1)
    return {"W1": rng.standard_normal((4, 5)) * 0.5, "b1": np.zeros((4, 1)),
            "W2": rng.standard_normal((1, 4)) * 0.5, "b2": np.zeros((1, 1))}  # fmt: skip


X_COLS, Y_BINARY = X_ROWS.T, (Y_LABELS[None, :] == 1).astype(float)


@pytest.mark.parametrize("slip", [None, "tanh_without_square"])
def test_functions_returning_dW1_and_dA1_check_in_one_call(slip) -> None:
    def grad(p):
        AL, caches = _forward(X_COLS, p)
        return _backward(AL, Y_BINARY, caches, p, slip)

    report = check_gradients(lambda p: _cost(_forward(X_COLS, p)[0], Y_BINARY), grad, _parameters())
    assert report.passed is (slip is None), report.summary()
    text = report.summary()
    assert "grad['d' + name] read as the gradient of W1, b1," in text
    assert "ignored, not parameters: dA0, dA1" in text


def test_a_parameter_with_no_gradient_is_named() -> None:
    with pytest.raises(ValueError, match=r"no gradient for b2 \(looked for each name and 'd'"):
        check_gradients(
            lambda p: _cost(_forward(X_COLS, p)[0], Y_BINARY),
            lambda p: {"dW1": p["W1"], "db1": p["b1"], "dW2": p["W2"]},
            _parameters(),
        )


# -- a class with lists of weights that updates itself per mini-batch ----------------------------


class Network:
    """Sigmoid layers, quadratic cost, weights[k] of shape (n_{k+1}, n_k), one example a column."""

    def __init__(self, sizes, slip=None):
        rng = np.random.default_rng(2)
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
        self.weights = [rng.standard_normal((n, k)) for k, n in zip(sizes[:-1], sizes[1:])]
        self.slip = slip

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = 1 / (1 + np.exp(-(w @ a + b)))
        return a

    def update_mini_batch(self, batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in batch:
            delta_b, delta_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_w)]
        self.weights = [w - (eta / len(batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(1 / (1 + np.exp(-zs[-1])))
        s = activations[-1]
        delta = (s - y) * s * (1 - s)
        nabla_b, nabla_w = [delta], [delta @ activations[-2].T]
        for layer in range(2, len(self.weights) + 1):
            s = activations[-layer]
            prime = s * (1 - s) if self.slip != "prime_of_output_layer" else 1.0
            delta = (self.weights[-layer + 1].T @ delta) * prime
            nabla_b.insert(0, delta)
            nabla_w.insert(0, delta @ activations[-layer - 1].T)
        return nabla_b, nabla_w


BATCH = [(X_ROWS[i][:, None], np.eye(3)[Y_LABELS[i]][:, None]) for i in range(8)]


def _cost_of(net):
    return np.mean([0.5 * np.sum((net.feedforward(x) - y) ** 2) for x, y in BATCH])


@pytest.mark.parametrize("slip", [None, "prime_of_output_layer"])
def test_a_class_that_updates_itself_checks_in_four_lines(slip) -> None:
    net = Network([5, 4, 3], slip)
    weights, first = net.weights, net.weights[0].copy()
    attrs = attributes(net, ["weights", "biases"])
    loss = attrs(lambda: _cost_of(net))
    grad = gradients_from_update(attrs.update(lambda: net.update_mini_batch(BATCH, 1.0)), lr=1.0)
    if slip is None:
        assert assert_gradients(loss, grad, attrs.params, layers=attrs.layers).passed
    else:
        with pytest.raises(AssertionError) as info:
            assert_gradients(loss, grad, attrs.params, layers=attrs.layers)
        assert "[propagation] weights[0], biases[0]: layer 1 and every layer below" in str(
            info.value
        )
    assert attrs.layers == [("weights[0]", "biases[0]"), ("weights[1]", "biases[1]")]
    assert net.weights is weights and np.array_equal(net.weights[0], first)  # restored


# -- layer objects whose backward applies the update in place ------------------------------------


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.weights = rng.standard_normal((n_out, n_in)) * 0.5
        self.bias = rng.standard_normal((n_out, 1)) * 0.1

    def forward(self, inputs):
        self.inputs = inputs
        return self.weights @ inputs + self.bias

    def backward(self, output_gradient, learning_rate):
        weights_gradient = output_gradient @ self.inputs.T
        input_gradient = self.weights.T @ output_gradient
        self.weights -= learning_rate * weights_gradient
        self.bias -= learning_rate * np.sum(output_gradient, axis=1, keepdims=True)
        return input_gradient


class Tanh:
    def forward(self, inputs):
        self.out = np.tanh(inputs)
        return self.out

    def backward(self, output_gradient, learning_rate):
        return output_gradient * (1 - self.out**2)


class DenseForgettingTheBiasSum(Dense):
    def backward(self, output_gradient, learning_rate):
        weights_gradient = output_gradient @ self.inputs.T
        input_gradient = self.weights.T @ output_gradient
        self.weights -= learning_rate * weights_gradient
        self.bias -= learning_rate * output_gradient[:, :1]  # the first example's only
        return input_gradient


def _network(dense=Dense):
    rng = np.random.default_rng(4)
    return [dense(5, 4, rng), Tanh(), Dense(4, 3, rng), Tanh()]


def _predict(layers, X):
    for layer in layers:
        X = layer.forward(X)
    return X


def _mse(y, p):
    return np.mean((y - p) ** 2)


def _train_step(layers, X, Y, lr):
    error = 2 * (_predict(layers, X) - Y) / Y.size
    for layer in reversed(layers):
        error = layer.backward(error, lr)


Y_ONE_HOT = np.eye(3)[Y_LABELS].T


@pytest.mark.parametrize("dense", [Dense, DenseForgettingTheBiasSum])
def test_layer_objects_that_update_themselves_check_in_four_lines(dense) -> None:
    layers = _network(dense)
    kept = layers[0].weights
    attrs = attributes(layers, ["weights", "bias"])
    loss = attrs(lambda: _mse(Y_ONE_HOT, _predict(layers, X_COLS)))
    grad = gradients_from_update(attrs.update(lambda: _train_step(layers, X_COLS, Y_ONE_HOT, 1.0)),
                                 lr=1.0)  # fmt: skip
    found = diagnose(loss, grad, attrs.params, layers=attrs.layers)
    if dense is Dense:
        assert found.correct, str(found)
    else:
        assert [(d.kind, d.parameters) for d in found.defects] == [("bias_reduction", ("0.bias",))]
    assert attrs.layers == [("0.weights", "0.bias"), ("2.weights", "2.bias")]
    assert layers[0].weights is kept  # written in place and restored, never replaced


# -- updates that are not plain gradient descent ---------------------------------------------


def test_an_update_with_momentum_is_refused() -> None:
    velocity = {}

    def momentum(p):
        for k, v in p.items():
            velocity[k] = 0.9 * velocity.get(k, 0.0) - 0.1 * 2 * v  # the gradient of sum(p^2)
            p[k] = v + velocity[k]

    with pytest.raises(ValueError, match="not plain gradient descent"):
        check_gradients(lambda p: np.sum(p["w"] ** 2), gradients_from_update(momentum, lr=0.1),
                        {"w": np.ones(3)})  # fmt: skip


def test_an_update_that_changes_nothing_or_a_shape_is_refused() -> None:
    params = {"w": np.ones((3, 1))}
    with pytest.raises(ValueError, match="changed no parameter"):
        check_gradients(lambda p: 0.0, gradients_from_update(lambda p: None, lr=1.0), params)
    with pytest.raises(ValueError, match=r"changed the shape of w from \(3, 1\) to \(3, 3\)"):
        check_gradients(
            lambda p: float(np.sum(p["w"])),
            gradients_from_update(lambda p: {"w": p["w"] - np.ones(3)}, lr=1.0),
            params,
        )


def test_weight_decay_in_the_update_reads_as_an_l2_term() -> None:
    """Not detectable from the update: the gradient it applies is g + lambda p, and the
    diagnosis names the coefficient."""

    def decayed(p):
        p["w"] -= 0.5 * (np.cos(p["w"]) + 0.01 * p["w"])

    grad = gradients_from_update(decayed, lr=0.5)
    found = diagnose(lambda p: float(np.sum(np.sin(p["w"]))), grad, {"w": np.linspace(1, 2, 6)})
    assert [d.kind for d in found.defects] == ["regularisation"]
    assert found.defects[0].value == pytest.approx(0.01, rel=1e-6)


# -- the diagnosis on structures from users' code --------------------------------------------


def test_a_parameter_of_one_entry_gets_no_factor() -> None:
    """A conv bias of one channel: any factor would fit its single entry, so none is claimed."""
    X, t = RNG.standard_normal((6, 3)), RNG.standard_normal(6)

    def loss(p):
        return 0.5 * float(np.sum((X @ p["w"] + p["c"] - t) ** 2))

    def grad(p):
        r = X @ p["w"] + p["c"] - t
        return {"w": X.T @ r, "c": 1.27 * np.sum(r, keepdims=True)}

    found = diagnose(loss, grad, {"w": np.ones(3), "c": np.array([0.3])})
    assert [(d.kind, d.parameters) for d in found.defects] == [("unexplained", ("c",))]


@pytest.mark.parametrize(("factor", "examples", "words"), [
    (8.0, 8, "the batch size m = 8, so a missing division by m"),
    (8.0, None, "a stray constant factor 8"),
    (3.0, 8, "a stray constant factor 3"),  # the number of classes, not of examples
])  # fmt: skip
def test_a_factor_is_called_the_batch_size_only_when_it_is(factor, examples, words) -> None:
    net = TwoLayerNet(reg=0.0)
    attrs = attributes(net, ["params"])

    def scaled(p):
        value, grads = attrs(lambda: net.loss(X_ROWS, Y_LABELS))(p)
        return value, {k: factor * g for k, g in grads.items()}

    found = diagnose(scaled, None, attrs.params, examples=examples)
    (defect,) = found.defects
    assert defect.kind == "scale" and words in defect.detail, str(found)


def test_wrong_entries_of_one_layer_are_one_defect() -> None:
    """Unit 1 of layer 2 masked in dW2 and db2 (a mask taken from another layer): one place."""
    net = TwoLayerNet(reg=0.0)
    attrs = attributes(net, ["params"])

    def masked(p):
        value, grads = attrs(lambda: net.loss(X_ROWS, Y_LABELS))(p)
        grads["W2"][:, 1] = 0.0
        grads["b2"][1] = 0.0
        return value, grads

    found = diagnose(masked, None, attrs.params)
    assert [(d.kind, d.parameters, d.layer) for d in found.defects] == [
        ("localized", ("W2", "b2"), 2)
    ], str(found)


def _batch_norm(slip=None):
    """X (m, 5) -> affine -> batch norm (gamma, beta) -> ReLU -> affine -> softmax."""
    m, eps = X_ROWS.shape[0], 1e-5

    def both(p):
        Z1 = X_ROWS @ p["W1"] + p["b1"]
        mu, var = Z1.mean(axis=0), Z1.var(axis=0)
        xhat = (Z1 - mu) / np.sqrt(var + eps)
        Zn = p["gamma"] * xhat + p["beta"]
        A1 = np.maximum(Zn, 0)
        Z2 = A1 @ p["W2"] + p["b2"]
        E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        P = E / E.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(P[np.arange(m), Y_LABELS]))
        dZ2 = (P - np.eye(3)[Y_LABELS]) / m
        g = {"W2": (Zn if slip == "Zn_for_A1" else A1).T @ dZ2, "b2": dZ2.sum(axis=0)}
        dZn = (dZ2 @ p["W2"].T) * (Zn > 0)
        g["gamma"], g["beta"] = (dZn * xhat).sum(axis=0), dZn.sum(axis=0)
        dxhat = dZn * p["gamma"]
        last = 0.0 if slip == "bn_without_last_term" else xhat * (dxhat * xhat).sum(axis=0)
        dZ1 = (m * dxhat - dxhat.sum(axis=0) - last) / (m * np.sqrt(var + eps))
        g["W1"], g["b1"] = X_ROWS.T @ dZ1, dZ1.sum(axis=0)
        return loss, g

    rng = np.random.default_rng(5)
    params = {"W1": rng.standard_normal((5, 4)), "b1": rng.standard_normal(4),
              "gamma": 1 + 0.1 * rng.standard_normal(4), "beta": 0.1 * rng.standard_normal(4),
              "W2": rng.standard_normal((4, 3)), "b2": rng.standard_normal(3)}  # fmt: skip
    return both, params


LAYERS = [("W1", "b1", "gamma", "beta"), ("W2", "b2")]


def test_batch_norm_is_declared_in_layers_and_checks() -> None:
    both, params = _batch_norm()
    assert diagnose(both, None, params, layers=LAYERS).correct


def test_a_bias_whose_right_gradient_is_zero_is_no_witness() -> None:
    """b1 feeds batch norm: its right gradient is 0, and a wrong dZ1 still sums to 0 there. So a
    right db1 says nothing of dZ1: W1 is not blamed on dW1's own product. gamma and beta, above
    the slip, are right: the error lies inside layer 1, between them and W1."""
    both, params = _batch_norm("bn_without_last_term")
    found = diagnose(both, None, params, layers=LAYERS)
    assert [(d.kind, d.parameters, d.layer) for d in found.defects] == [
        ("propagation", ("W1",), 1)
    ], str(found)
    assert (
        "in layer 1, gamma, beta are right while W1 is wrong: the error enters inside layer 1"
        in str(found)
    )
    # A wrong input to dW2 is still found from its right bias b2.
    both, params = _batch_norm("Zn_for_A1")
    found = diagnose(both, None, params, layers=LAYERS)
    assert [(d.kind, d.parameters) for d in found.defects] == [("weight_product", ("W2",))]


# -- many points ------------------------------------------------------------------------------


def _relu6_net(clip_in_derivative):
    """ReLU6 hidden units, A = min(max(Z, 0), 6); the slip forgets the 6 in the derivative."""
    X, t = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 2))

    def both(p):
        Z = X @ p["W1"]
        A = np.minimum(np.maximum(Z, 0), 6)
        r = A @ p["W2"] - t
        dA = r @ p["W2"].T
        prime = (Z > 0) & (Z < 6) if clip_in_derivative else (Z > 0)
        return 0.5 * float(np.sum(r**2)), {"W1": X.T @ (dA * prime), "W2": A.T @ r}

    rng = np.random.default_rng(6)
    return both, {"W1": rng.standard_normal((4, 5)) * 0.3, "W2": rng.standard_normal((5, 2))}


def test_a_gradient_wrong_only_for_large_activations_is_found_at_a_larger_scale() -> None:
    from oracles import check_at_points

    both, params = _relu6_net(clip_in_derivative=False)
    assert check_gradients(both, None, params).passed  # right at the point itself
    found = check_at_points(both, None, params, seed=1)
    assert not found.passed and found.reports[-1][0] == 10.0, found.summary()
    assert "disagree at point" in found.summary() and found.failing_point is not None
    again = check_at_points(both, None, params, seed=1)
    assert all(np.array_equal(found.failing_point[k], again.failing_point[k]) for k in params)
    right, params = _relu6_net(clip_in_derivative=True)
    assert check_at_points(right, None, params, seed=1).passed


def test_params_like_draws_points_for_a_property_test() -> None:
    from hypothesis import given, settings

    from oracles.checks.strategies import params_like

    right, params = _relu6_net(clip_in_derivative=True)
    wrong, _ = _relu6_net(clip_in_derivative=False)

    @settings(max_examples=20, database=None, derandomize=True)
    @given(params_like(params, scale=3.0))
    def right_everywhere(p):
        assert_gradients(right, None, p)

    right_everywhere()

    @settings(max_examples=50, database=None, derandomize=True)
    @given(params_like(params, scale=3.0))
    def wrong_somewhere(p):
        assert_gradients(wrong, None, p)

    with pytest.raises(AssertionError, match="disagrees"):
        wrong_somewhere()


# -- attributes: what it writes, and what it restores ------------------------------------------


class Float32Net:
    def __init__(self) -> None:
        rng = np.random.default_rng(8)
        self.W = rng.standard_normal((3, 5)).astype(np.float32)
        self.b = np.zeros((3, 1), np.float32)

    def loss(self):
        return float(np.sum(np.tanh(self.W @ X_COLS + self.b) ** 2))

    def grads(self):
        T = np.tanh(self.W @ X_COLS + self.b)
        dZ = 2 * T * (1 - T**2)
        return {"W": dZ @ X_COLS.T, "b": dZ.sum(axis=1, keepdims=True)}


def test_float32_parameters_are_written_in_place_judged_at_their_precision_and_restored() -> None:
    """The point is written into the float32 arrays themselves, so that whatever else holds
    them reads it too; the loss is then float32's, judged at that precision (and said so),
    and the original values are put back untouched."""
    net = Float32Net()
    W, before = net.W, net.W.copy()
    attrs = attributes(net, ["W", "b"])
    report = check_gradients(attrs(net.loss), attrs(net.grads), attrs.params)
    assert report.passed, report.summary()
    assert "about float32 precision along W, b" in report.summary()
    assert net.W is W and net.W.dtype == np.float32 and np.array_equal(net.W, before)

    def slipped():
        return {**net.grads(), "W": 1.05 * net.grads()["W"]}

    wrong = check_gradients(attrs(net.loss), attrs(slipped), attrs.params)
    assert not wrong and wrong.failed == ("W",), wrong.summary()


def test_objects_are_restored_when_the_users_code_raises() -> None:
    net = TwoLayerNet()
    params, before = net.params, {k: v.copy() for k, v in net.params.items()}
    attrs = attributes(net, ["params"])

    def broken():
        net.params["W1"] *= 2  # changes the array in place, then fails
        net.params = {}
        raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code failed"):
        attrs(broken)({k: v + 1 for k, v in attrs.params.items()})
    assert net.params is params
    assert all(np.array_equal(params[k], before[k]) for k in before)


def test_attributes_name_what_they_cannot_find() -> None:
    with pytest.raises(AttributeError, match=r"TwoLayerNet has none of \['weights'\]"):
        attributes(TwoLayerNet(), ["weights"])
    attrs = attributes(TwoLayerNet(), ["params"])
    with pytest.raises(KeyError, match="not parameters of these objects: W9"):
        attrs(lambda: 0.0)({"W9": np.ones(2)})


def test_a_transposed_gradient_of_another_shape_is_called_a_transpose() -> None:
    """A non-square dW1 returned transposed cannot be applied; the error says it is W1's
    transpose, as the diagnosis says for a square one."""
    params = {"W1": np.ones((5, 4)), "b1": np.zeros((5, 1))}

    def grad(p):
        return {"W1": np.ones((4, 5)), "b1": np.zeros((5, 1))}

    with pytest.raises(ValueError, match=r"\(4, 5\), params\['W1'\] \(5, 4\).*W1's transpose"):
        check_gradients(lambda p: float(np.sum(p["W1"])), grad, params)


def test_a_namespace_holding_both_W1_and_dW1_reads_dW1_as_the_gradient() -> None:
    """A notebook's cell run into a dict (or locals()) holds the parameters and their
    gradients: dW1 is the gradient of W1, whatever W1 beside it holds, and the report says so."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 6))
    params = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal((2, 1))}

    def loss(p):
        return float(np.sum(np.tanh(p["W1"] @ X + p["b1"]) ** 2))

    def namespace(p):
        W1, b1 = p["W1"], p["b1"]
        A1 = np.tanh(W1 @ X + b1)
        dZ1 = 2 * A1 * (1 - A1**2)
        dW1, db1 = dZ1 @ X.T, dZ1.sum(axis=1, keepdims=True)
        return {"X": X, "W1": W1, "b1": b1, "A1": A1, "dZ1": dZ1, "dW1": dW1, "db1": db1}

    report = check_gradients(loss, namespace, params)
    assert report, report.summary()
    assert any("grad holds W1, b1 and their 'd' + name" in r for r in report.readings)
    assert any(r == "ignored, not parameters: A1, X, dZ1" for r in report.readings)


def test_python_scalars_are_float_parameters_and_come_back_as_they_were() -> None:
    """self.bias = 0 (an int) and a dict entry 0.5 are parameters of one entry; after the
    check the attribute is the int it was."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal(6)

    class Neuron:
        def __init__(self):
            self.w, self.bias = rng.standard_normal(6), 0

        def loss(self):
            return float(np.tanh(X @ self.w + self.bias) ** 2)

        def grads(self, slip=1.0):
            a = np.tanh(X @ self.w + self.bias)
            dz = 2 * a * (1 - a**2)
            return {"w": dz * X, "bias": slip * float(dz)}

    neuron = Neuron()
    attrs = attributes(neuron, ["w", "bias"])
    assert check_gradients(attrs(neuron.loss), attrs(neuron.grads), attrs.params)
    assert not check_gradients(attrs(neuron.loss), attrs(lambda: neuron.grads(2.0)), attrs.params)
    assert neuron.bias == 0 and type(neuron.bias) is int
    plain = {"w": neuron.w.copy(), "c": 0.5}
    report = check_gradients(lambda p: float(np.sum(p["w"] ** 2) * p["c"]),
                             lambda p: {"w": 2 * p["w"] * p["c"], "c": float(np.sum(p["w"] ** 2))},
                             plain)  # fmt: skip
    assert report and plain["c"] == 0.5


@pytest.mark.parametrize("slip", [None, "prime_of_output_layer"])
def test_per_example_backprop_in_the_objects_own_layout_checks_in_three_lines(slip) -> None:
    """Nielsen's backprop(x, y) returns (nabla_b, nabla_w), lists, for one example: attrs.grad
    reads that layout (order= names its tuple) and averages it over the examples."""
    net = Network([5, 4, 3], slip)
    attrs = attributes(net, ["weights", "biases"])
    grad = attrs.grad(net.backprop, order=["biases", "weights"], examples=BATCH)
    report = check_gradients(attrs(lambda: _cost_of(net)), grad, attrs)
    assert bool(report) is (slip is None)
    if slip:
        assert set(report.failed) == {"weights[0]", "biases[0]"}
    with pytest.raises(ValueError, match=r"do not have the shapes of .* another order\? \(order="):
        check_gradients(attrs(lambda: _cost_of(net)), attrs.grad(net.backprop, examples=BATCH),
                        attrs)  # fmt: skip


def test_gradients_as_a_dict_of_the_objects_lists_are_read_by_attribute() -> None:
    net = Network([5, 4, 3])
    attrs = attributes(net, ["weights", "biases"])
    x, y = BATCH[0]

    def one_example():
        nabla_b, nabla_w = net.backprop(x, y)
        return {"dweights": nabla_w, "biases": nabla_b}

    def cost():
        return 0.5 * float(np.sum((net.feedforward(x) - y) ** 2))

    assert check_gradients(attrs(cost), attrs.grad(one_example), attrs)
    with pytest.raises(ValueError, match=r"have no biases \(looked for each name and 'd' \+ name"):
        check_gradients(attrs(cost), attrs.grad(lambda: {"weights": 0}), attrs)


def test_attributes_grouped_per_layer_and_a_params_dict_give_the_layers() -> None:
    """One object holding two layers: names grouped per layer give them; a CS231n params dict
    gives its layers from the keys' numbers (gamma1, beta1 join layer 1)."""

    class TwoLayers:
        def __init__(self):
            self.weight_h, self.bias_h = np.ones((3, 2)), np.zeros(3)
            self.weight_out, self.bias_out = np.ones((2, 3)), np.zeros(2)
            self.params = {
                "W1": np.ones((3, 2)), "b1": np.zeros(3), "gamma1": np.ones(3),
                "beta1": np.zeros(3), "W2": np.ones((2, 3)), "b2": np.zeros(2),
            }  # fmt: skip

    net = TwoLayers()
    grouped = attributes(net, [["weight_h", "bias_h"], ["weight_out", "bias_out"]])
    assert grouped.layers == [("weight_h", "bias_h"), ("weight_out", "bias_out")]
    assert attributes(net, ["weight_h", "bias_h", "weight_out", "bias_out"]).layers == [
        ("weight_h", "bias_h", "weight_out", "bias_out")
    ]
    assert attributes(net, ["params"]).layers == [("W1", "b1", "gamma1", "beta1"), ("W2", "b2")]
    with pytest.raises(TypeError, match="either attribute names or lists of them"):
        attributes(net, ["weight_h", ["bias_h"]])


def test_attribute_names_can_be_chosen_and_give_the_layers() -> None:
    """attributes(net, {"W1": "weight_h", ...}): the checker's names are yours, the layers read
    from their numbers, and the diagnosis speaks of W1, b1."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 8))

    class Net:
        def __init__(self):
            self.weight_h, self.bias_h = rng.standard_normal((4, 3)), np.zeros((4, 1))
            self.weight_out, self.bias_out = rng.standard_normal((2, 4)), np.zeros((2, 1))

        def loss(self):
            return float(np.sum(np.tanh(self.weight_out @ np.tanh(self.weight_h @ X + self.bias_h)
                                        + self.bias_out) ** 2))  # fmt: skip

    net = Net()
    attrs = attributes(net, {"W1": "weight_h", "b1": "bias_h", "W2": "weight_out",
                             "b2": "bias_out"})  # fmt: skip
    assert list(attrs.params) == ["W1", "b1", "W2", "b2"]
    assert attrs.layers == [("W1", "b1"), ("W2", "b2")]

    def backward():
        A1 = np.tanh(net.weight_h @ X + net.bias_h)
        A2 = np.tanh(net.weight_out @ A1 + net.bias_out)
        dZ2 = 2 * A2 * (1 - A2**2)
        dZ1 = (net.weight_out.T @ dZ2) * (1 - A1**2)
        db2 = 0.5 * dZ2.sum(axis=1, keepdims=True)  # a slip: halved
        return {"weight_h": dZ1 @ X.T, "bias_h": dZ1.sum(axis=1, keepdims=True),
                "weight_out": dZ2 @ A1.T, "bias_out": db2}  # fmt: skip

    found = diagnose(attrs(net.loss), attrs.grad(backward), attrs)
    assert [(d.kind, d.parameters) for d in found.defects] == [("scale", ("b2",))], str(found)


@pytest.mark.parametrize("slip", [None, "prime_of_output_layer"])
def test_a_per_example_update_is_averaged_over_the_examples(slip) -> None:
    """SGD one example at a time (update on (x, y)): each step from the same point, the read-off
    gradients averaged, judged against the mean cost over those examples."""
    net = Network([5, 4, 3], slip)
    attrs = attributes(net, ["weights", "biases"])

    def sgd_on_one(x, y):
        nabla_b, nabla_w = net.backprop(x, y)
        net.weights = [w - nw for w, nw in zip(net.weights, nabla_w, strict=True)]
        net.biases = [b - nb for b, nb in zip(net.biases, nabla_b, strict=True)]

    grad = gradients_from_update(attrs.update(sgd_on_one), lr=1.0, examples=BATCH)
    report = check_gradients(attrs(lambda: _cost_of(net)), grad, attrs)
    assert bool(report) is (slip is None), report.summary()


def test_a_mask_taken_from_another_layer_is_one_slip_carried_down() -> None:
    """Dropout at layer 2 backpropagated with layer 1's mask: some entries of W2 and b2 wrong,
    every entry below: one defect where it enters, not a localized one and another below."""
    rng = np.random.default_rng(10)
    m, H = 10, 5
    X, Y = rng.standard_normal((6, m)), np.eye(3)[rng.integers(0, 3, m)].T
    M1, M2 = ((rng.random((H, m)) > 0.1) / 0.9 for _ in range(2))

    def both(p, slip=False):
        Z1 = p["W1"] @ X + p["b1"]
        A1 = np.maximum(Z1, 0) * M1
        Z2 = p["W2"] @ A1 + p["b2"]
        A2 = np.maximum(Z2, 0) * M2
        Z3 = p["W3"] @ A2 + p["b3"]
        P = np.exp(Z3 - Z3.max(axis=0)) / np.exp(Z3 - Z3.max(axis=0)).sum(axis=0)
        dZ3 = (P - Y) / m
        dZ2 = (p["W3"].T @ dZ3) * (M1 if slip else M2) * (Z2 > 0)
        dZ1 = (p["W2"].T @ dZ2) * M1 * (Z1 > 0)
        return -np.sum(Y * np.log(P)) / m, {
            "W1": dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True),
            "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True),
            "W3": dZ3 @ A2.T, "b3": dZ3.sum(axis=1, keepdims=True)}  # fmt: skip

    params = {"W1": rng.standard_normal((H, 6)), "b1": rng.standard_normal((H, 1)) * 0.1,
              "W2": rng.standard_normal((H, H)), "b2": rng.standard_normal((H, 1)) * 0.1,
              "W3": rng.standard_normal((3, H)), "b3": rng.standard_normal((3, 1))}  # fmt: skip
    assert diagnose(both, None, params).correct
    found = diagnose(lambda p: both(p, slip=True), None, params)
    assert [(d.kind, d.parameters, d.layer) for d in found.defects] == [
        ("propagation", ("W1", "b1", "W2", "b2"), 2)
    ], str(found)
    assert "layer 2 is wrong only at some entries (W2: " in str(found)


def test_batch_norm_in_a_middle_layer_names_the_error_inside_it() -> None:
    """affine -> batch norm -> ReLU, twice, then softmax: layer 2's batch norm without its
    variance term leaves gamma2, beta2 right (b2, before it, is no witness), W2 wrong and all of
    layer 1 wrong: one slip, inside layer 2, carried down."""
    rng = np.random.default_rng(11)
    m, eps = 12, 1e-5
    X, y = rng.standard_normal((m, 5)), rng.integers(0, 3, m)

    def norm(Z, g, b):
        mu, var = Z.mean(axis=0), Z.var(axis=0)
        xhat = (Z - mu) / np.sqrt(var + eps)
        return g * xhat + b, (xhat, var)

    def norm_back(dZn, g, cache, variance_term=True):
        xhat, var = cache
        dxhat = dZn * g
        variance = xhat * (dxhat * xhat).sum(axis=0) if variance_term else 0.0
        dZ = (m * dxhat - dxhat.sum(axis=0) - variance) / (m * np.sqrt(var + eps))
        return dZ, (dZn * xhat).sum(axis=0), dZn.sum(axis=0)

    def both(p, slip=False):
        A, caches = X, []
        for k in (1, 2):
            Z = A @ p[f"W{k}"] + p[f"b{k}"]
            Zn, cache = norm(Z, p[f"gamma{k}"], p[f"beta{k}"])
            caches.append((A, Zn, cache))
            A = np.maximum(Zn, 0)
        S = A @ p["W3"] + p["b3"]
        P = np.exp(S - S.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        dS = (P - np.eye(3)[y]) / m
        g = {"W3": A.T @ dS, "b3": dS.sum(axis=0)}
        dA = dS @ p["W3"].T
        for k in (2, 1):
            A_prev, Zn, cache = caches[k - 1]
            dZ, g[f"gamma{k}"], g[f"beta{k}"] = norm_back(
                dA * (Zn > 0), p[f"gamma{k}"], cache, variance_term=not (slip and k == 2)
            )
            g[f"W{k}"], g[f"b{k}"] = A_prev.T @ dZ, dZ.sum(axis=0)
            dA = dZ @ p[f"W{k}"].T
        return -np.mean(np.log(P[np.arange(m), y])), g

    params = {}
    for k, (n_in, n_out) in enumerate(((5, 4), (4, 4)), start=1):
        params |= {f"W{k}": rng.standard_normal((n_in, n_out)), f"b{k}": rng.standard_normal(n_out),
                   f"gamma{k}": 1 + 0.1 * rng.standard_normal(n_out),
                   f"beta{k}": 0.1 * rng.standard_normal(n_out)}  # fmt: skip
    params |= {"W3": rng.standard_normal((4, 3)), "b3": rng.standard_normal(3)}
    layers = [("W1", "b1", "gamma1", "beta1"), ("W2", "b2", "gamma2", "beta2"), ("W3", "b3")]
    assert diagnose(both, None, params, layers=layers).correct
    found = diagnose(lambda p: both(p, slip=True), None, params, layers=layers)
    assert [(d.kind, d.layer) for d in found.defects] == [("propagation", 2)], str(found)
    assert set(found.defects[0].parameters) == {"W2", "W1", "gamma1", "beta1"}
    assert (
        "in layer 2, gamma2, beta2 are right while W2 is wrong, and every layer below it is "
        "wrong from there"
    ) in str(found)
