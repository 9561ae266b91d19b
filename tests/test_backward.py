"""check_backward / assert_backward: one layer's backward judged on its own, on layers written
here in the styles of public from-scratch code (layer functions returning (out, cache) with a
backward(dout, cache), layer objects that keep their gradients or apply their update)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from oracles import assert_backward, check_backward

RNG = np.random.default_rng(21)


# -- layer functions, (out, cache) and backward(dout, cache) -------------------------------------


def affine_forward(x, w, b):
    """x (N, d1, ..., dk) flattened to (N, D); w (D, M); b (M,): out (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache, slip=None):
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    if slip == "db_mean":
        db = dout.mean(axis=0)
    if slip == "dw_half":
        dw = 0.5 * dw
    return dx, dw, db


def max_pool_forward(x, pool, stride):
    """x (N, C, H, W), square windows of ``pool`` every ``stride`` (overlapping if stride <
    pool): out (N, C, H', W')."""
    N, C, H, W = x.shape
    Ho, Wo = (H - pool) // stride + 1, (W - pool) // stride + 1
    out = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + pool, j * stride : j * stride + pool]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool, stride)


def max_pool_backward(dout, cache, overwrite=False):
    x, pool, stride = cache
    dx = np.zeros_like(x)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * stride : i * stride + pool, j * stride : j * stride + pool]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    where = (n, c, i * stride + a, j * stride + b)
                    if overwrite:  # a slip where windows overlap: the last window wins
                        dx[where] = dout[n, c, i, j]
                    else:
                        dx[where] += dout[n, c, i, j]
    return dx


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """x (N, D), training mode: each feature normalised over the batch."""
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward(dout, cache, slip=None):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    mean_term = dxhat.sum(axis=0) if slip != "no_mean_term" else 0.0
    var_term = xhat * (dxhat * xhat).sum(axis=0) if slip != "no_variance_term" else 0.0
    if slip == "unbiased_variance":  # N - 1 where the forward's variance divides by N
        var_term = var_term * N / (N - 1)
    dx = (N * dxhat - mean_term - var_term) / (N * np.sqrt(var + eps))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def embedding_forward(x, W):
    """x (N, T) integer word indices; W (V, D): out (N, T, D)."""
    return W[x], (x, W)


def embedding_backward(dout, cache, overwrite=False):
    x, W = cache
    dW = np.zeros_like(W)
    if overwrite:  # a repeated word keeps only its last gradient
        dW[x] = dout
    else:
        np.add.at(dW, x, dout)
    return dW


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache, slip=None):
    x, prev_h, Wx, Wh, next_h = cache
    dz = (
        dnext_h * (1 - next_h**2)
        if slip != "tanh_of_output"
        else dnext_h * (1 - np.tanh(next_h) ** 2)
    )
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)


def two_state_forward(x, prev_h, prev_c, W):
    """A cell with two outputs (h, c) and a cache, as an LSTM step returns them."""
    z = x @ W
    c = prev_c * 0.5 + np.tanh(z)
    h = np.tanh(c) + prev_h
    return h, c, (z, c)


def two_state_backward(dh, dc, cache):
    z, c = cache
    dc_total = dc + dh * (1 - np.tanh(c) ** 2)
    dz = dc_total * (1 - np.tanh(z) ** 2)
    return dz @ W_TWO.T, dh, 0.5 * dc_total, X_TWO.T @ dz


X_TWO, W_TWO = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))


def _affine_inputs():
    return {"x": RNG.standard_normal((4, 3, 2)), "w": RNG.standard_normal((6, 5)),
            "b": RNG.standard_normal(5)}  # fmt: skip


# -- the judgement --------------------------------------------------------------------------------


def test_a_right_layer_passes_and_each_slip_fails_only_its_own_input() -> None:
    inputs = _affine_inputs()
    right = check_backward(affine_forward, affine_backward, inputs)
    assert right and [p.name for p in right.parameters] == ["x", "w", "b"]
    assert any("backward(dout, cache)" in r for r in right.readings)
    for slip, wrong in (("db_mean", "b"), ("dw_half", "w")):
        report = check_backward(affine_forward, lambda d, c, s=slip: affine_backward(d, c, s),
                                inputs)  # fmt: skip
        assert not report and report.failed == (wrong,)


def test_relu_at_its_kink_passes_and_without_its_mask_fails() -> None:
    x = RNG.standard_normal((3, 4))
    x[0, :2] = 0.0  # units on the kink: ReLU'(0) = 0 is a valid choice

    def relu_forward(x):
        return np.maximum(x, 0), x

    assert check_backward(relu_forward, lambda dout, cache: dout * (cache > 0), {"x": x})
    assert not check_backward(relu_forward, lambda dout, cache: dout, {"x": x})


def test_max_pool_overwriting_where_windows_overlap_fails_there() -> None:
    x = RNG.standard_normal((2, 2, 7, 7))
    inputs = {"x": x, "pool": 3, "stride": 2}  # ints: passed as given, not judged
    assert check_backward(max_pool_forward, max_pool_backward, inputs)
    report = check_backward(max_pool_forward, lambda d, c: max_pool_backward(d, c, True), inputs)
    assert not report and report.failed == ("x",)


def test_batch_norm_without_its_mean_term_fails_on_x_alone() -> None:
    inputs = {"x": RNG.standard_normal((6, 4)), "gamma": RNG.standard_normal(4) + 2,
              "beta": RNG.standard_normal(4)}  # fmt: skip
    assert check_backward(batchnorm_forward, batchnorm_backward, inputs)

    def no_mean_term(dout, cache):
        return batchnorm_backward(dout, cache, "no_mean_term")

    slipped = check_backward(batchnorm_forward, no_mean_term, inputs)
    assert not slipped and slipped.failed == ("x",)


def test_an_embedding_that_overwrites_repeated_words_fails() -> None:
    x = np.array([[0, 2, 2], [1, 0, 3]])  # words 0 and 2 repeat
    inputs = {"x": x, "W": RNG.standard_normal((5, 4))}
    right = check_backward(embedding_forward, embedding_backward, inputs)
    assert right and [p.name for p in right.parameters] == ["W"]
    assert not check_backward(embedding_forward, lambda d, c: embedding_backward(d, c, True),
                              inputs)  # fmt: skip


def test_a_recurrent_step_with_five_gradients_over_several_upstreams() -> None:
    inputs = {"x": RNG.standard_normal((3, 4)), "prev_h": RNG.standard_normal((3, 5)),
              "Wx": RNG.standard_normal((4, 5)) / 2, "Wh": RNG.standard_normal((5, 5)) / 2,
              "b": RNG.standard_normal(5)}  # fmt: skip
    assert check_backward(rnn_step_forward, rnn_step_backward, inputs, upstreams=3)

    def tanh_of_output(dnext_h, cache):
        return rnn_step_backward(dnext_h, cache, "tanh_of_output")

    slipped = check_backward(rnn_step_forward, tanh_of_output, inputs)
    assert not slipped and set(slipped.failed) == {"x", "prev_h", "Wx", "Wh", "b"}


def test_two_outputs_and_a_cache_take_two_upstream_gradients() -> None:
    inputs = {"x": X_TWO, "prev_h": RNG.standard_normal((3, 5)),
              "prev_c": RNG.standard_normal((3, 5)), "W": W_TWO}  # fmt: skip
    report = check_backward(two_state_forward, two_state_backward, inputs)
    assert report and any("backward(d1, d2, cache)" in r for r in report.readings)


def test_a_given_upstream_is_used_and_its_shape_checked() -> None:
    inputs = _affine_inputs()
    assert check_backward(affine_forward, affine_backward, inputs, upstream=np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"upstream has shapes \[\(4, 4\)\]; .* \[\(4, 5\)\]"):
        check_backward(affine_forward, affine_backward, inputs, upstream=np.ones((4, 4)))


# -- layer objects --------------------------------------------------------------------------------


class Dense:
    """A layer object: forward keeps its input, backward keeps dW, db and returns dx."""

    def __init__(self, n_in: int, n_out: int, slip: bool = False) -> None:
        self.W, self.b, self.slip = RNG.standard_normal((n_in, n_out)), np.zeros(n_out), slip

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.mean(axis=0) if self.slip else dout.sum(axis=0)
        return dout @ self.W.T


class DenseUpdating(Dense):
    """A layer object whose backward applies its own update, W -= lr dW."""

    def backward(self, dout):
        dx = dout @ self.W.T
        self.W -= 0.1 * (self.x.T @ dout)
        self.b -= 0.1 * dout.sum(axis=0)
        return dx


def test_a_layer_object_keeping_its_gradients_is_checked_and_left_as_found() -> None:
    layer = Dense(3, 2)
    W, b = layer.W, layer.W.copy()
    x = RNG.standard_normal((4, 3))
    report = check_backward(layer, None, {"x": x}, params=["W", "b"])
    assert report and [p.name for p in report.parameters] == ["x", "W", "b"]
    assert layer.W is W and np.array_equal(layer.W, b)  # the same array, its values restored
    slipped = check_backward(Dense(3, 2, slip=True), None, {"x": x}, params=["W", "b"])
    assert not slipped and slipped.failed == ("b",)


def test_a_layer_object_that_applies_its_update_is_read_through_lr() -> None:
    layer = DenseUpdating(3, 2)
    before = layer.W.copy()
    x = RNG.standard_normal((4, 3))
    assert check_backward(layer, None, {"x": x}, params=["W", "b"], lr=0.1)
    assert np.array_equal(layer.W, before)
    assert not check_backward(layer, None, {"x": x}, params=["W", "b"], lr=0.05)  # its lr is 0.1


def test_gradients_kept_under_other_names_are_named_by_grads() -> None:
    class Named(Dense):
        def backward(self, dout):
            dx = super().backward(dout)
            self.weight_gradient, self.bias_gradient = self.dW, self.db
            del self.dW, self.db
            return dx

    x = RNG.standard_normal((4, 3))
    with pytest.raises(AttributeError, match=r"no gradient of W: looked for dW, W_grad, grad_W"):
        check_backward(Named(3, 2), None, {"x": x}, params=["W", "b"])
    grads = {"W": "weight_gradient", "b": "bias_gradient"}
    assert check_backward(Named(3, 2), None, {"x": x}, params=["W", "b"], grads=grads)


# -- what it refuses, in words -------------------------------------------------------------------


def test_misread_structures_get_errors_that_say_what_was_read() -> None:
    inputs = _affine_inputs()
    with pytest.raises(ValueError, match=r"returned 2 gradient\(s\); the forward's float inputs "
                                         r"are x, w, b \(3\)"):  # fmt: skip
        check_backward(affine_forward, lambda d, c: affine_backward(d, c)[:2], inputs)
    with pytest.raises(TypeError, match=r"so backward should take 2 argument\(s\); it takes 1"):
        check_backward(affine_forward, lambda dout: dout, inputs)
    with pytest.raises(ValueError, match="returned None for b: mark inputs it does not"):
        check_backward(affine_forward, lambda d, c: (*affine_backward(d, c)[:2], None), inputs)
    with pytest.raises(TypeError, match="backward is None, so forward must be a layer object"):
        check_backward(affine_forward, None, inputs)


def test_a_float_input_that_is_not_differentiated_is_marked_constant() -> None:
    x, mask = RNG.standard_normal((4, 5)), (RNG.random((4, 5)) > 0.5) / 0.5

    def dropout_forward(x, mask):
        return x * mask, mask

    def dropout_backward(dout, cache):
        return dout * cache

    report = check_backward(dropout_forward, dropout_backward, {"x": x, "mask": mask},
                            constant=["mask"])  # fmt: skip
    assert report and [p.name for p in report.parameters] == ["x"]


def test_assert_backward_names_the_input_and_the_defect() -> None:
    with pytest.raises(AssertionError, match=r"\[scale\] w: 0.5 times the right gradient"):
        assert_backward(affine_forward, lambda d, c: affine_backward(d, c, "dw_half"),
                        _affine_inputs())  # fmt: skip
    assert assert_backward(affine_forward, affine_backward, _affine_inputs())


def test_jax_arrays_are_checked_as_written() -> None:
    jax = pytest.importorskip("jax", reason="needs JAX")
    jnp = jax.numpy
    with jax.enable_x64(True):
        inputs = {k: jnp.asarray(v) for k, v in _affine_inputs().items()}

        def forward(x, w, b):
            return jnp.reshape(x, (x.shape[0], -1)) @ w + b, (x, w, b)

        def backward(dout, cache):
            x, w, _ = cache
            return (jnp.reshape(dout @ w.T, x.shape), jnp.reshape(x, (x.shape[0], -1)).T @ dout,
                    dout.sum(axis=0))  # fmt: skip

        report = check_backward(forward, backward, inputs)
    assert report and report.arrays == "jax"


# -- a network of layer objects: the first wrong layer named --------------------------------------


@pytest.mark.parametrize("slipped_at", [None, 1, 3])
def test_a_network_of_layers_names_the_first_wrong_backward(slipped_at) -> None:
    """Layer objects whose backward(dout, learning_rate) applies its own update (a common
    tutorial's form): each is checked at the activation the network gives it."""
    from tests.test_own_code import X_COLS, DenseForgettingTheBiasSum, Tanh
    from tests.test_own_code import Dense as Updating

    rng = np.random.default_rng(4)
    kinds = {1: DenseForgettingTheBiasSum, 3: DenseForgettingTheBiasSum}
    layers = [kinds.get(1 if slipped_at == 1 else 0, Updating)(5, 4, rng), Tanh(),
              kinds.get(3 if slipped_at == 3 else 0, Updating)(4, 3, rng), Tanh()]  # fmt: skip
    before = [layer.weights.copy() for layer in layers[::2]]
    report = check_backward(layers, None, {"inputs": X_COLS}, params=["weights", "bias"], lr=0.5)
    assert bool(report) is (slipped_at is None)
    if slipped_at is None:
        assert any("each of the 4 layers' backward is right" in r for r in report.readings)
    else:
        assert report.failed == ("bias",)
        place = f"layer {slipped_at} of 4 (DenseForgettingTheBiasSum) is the first"
        assert any(place in r for r in report.readings), report.readings
    assert all(
        np.array_equal(b, layer.weights) for b, layer in zip(before, layers[::2], strict=True)
    )


# -- the slips a layer's check names --------------------------------------------------------------


def _named(forward, backward, inputs):
    """The kinds assert_backward's diagnosis names."""
    with pytest.raises(AssertionError) as failed:
        assert_backward(forward, backward, inputs)
    text = str(failed.value)
    return [line.split("]")[0].strip(" [") for line in text.splitlines() if line.startswith("  [")]


def test_an_embedding_overwriting_repeated_words_is_named() -> None:
    inputs = {"x": np.array([[0, 2, 2], [1, 0, 3]]), "W": RNG.standard_normal((5, 4))}
    kinds = _named(embedding_forward, lambda d, c: embedding_backward(d, c, True), inputs)
    assert kinds == ["repeated_indices"]


def test_max_pool_overwriting_where_windows_overlap_is_named() -> None:
    inputs = {"x": RNG.standard_normal((1, 2, 7, 7)), "pool": 3, "stride": 2}
    kinds = _named(max_pool_forward, lambda d, c: max_pool_backward(d, c, True), inputs)
    assert kinds == ["overlapping_windows"]


def test_a_pool_backward_returning_after_its_first_window_is_named() -> None:
    def first_window_only(dout, cache):
        x, pool, _ = cache
        dx = np.zeros_like(x)
        window = x[0, 0, :pool, :pool]
        a, b = np.unravel_index(np.argmax(window), window.shape)
        dx[0, 0, a, b] = dout[0, 0, 0, 0]
        return dx  # the loop over windows returned after its first

    inputs = {"x": RNG.standard_normal((1, 2, 6, 6)), "pool": 2, "stride": 2}
    assert _named(max_pool_forward, first_window_only, inputs) == ["first_output_only"]


def test_a_softmax_backward_keeping_only_the_jacobians_diagonal_is_named() -> None:
    def softmax_forward(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        return s, s

    def diagonal_only(dout, cache):
        return dout * cache * (1 - cache)

    def right(dout, cache):
        return cache * (dout - (dout * cache).sum(axis=1, keepdims=True))

    z = {"z": RNG.standard_normal((4, 5))}
    assert check_backward(softmax_forward, right, z)
    assert _named(softmax_forward, diagonal_only, z) == ["softmax_diagonal"]


def test_a_mean_over_an_axis_the_gradient_sums_is_named_with_its_axis() -> None:
    def mean_square(x):
        return (x**2).mean(axis=1), x

    def summed(dout, cache):
        return dout[:, None] * 2 * cache  # the derivative of the sum over axis 1, not the mean

    x = {"x": RNG.standard_normal((3, 7))}
    with pytest.raises(AssertionError, match=r"\[mean_over_axis\] x: 7 times the right gradient, "
                                             r"the size of axis 1 of x"):  # fmt: skip
        assert_backward(mean_square, summed, x)


@pytest.mark.parametrize("slip", ["no_mean_term", "no_variance_term"])
def test_batch_norm_without_its_mean_or_variance_term_is_named(slip) -> None:
    inputs = {"x": RNG.standard_normal((6, 4)), "gamma": RNG.standard_normal(4) + 2,
              "beta": RNG.standard_normal(4)}  # fmt: skip

    def slipped(dout, cache):
        return batchnorm_backward(dout, cache, slip)

    word = "mean term" if slip == "no_mean_term" else "variance term"
    with pytest.raises(AssertionError, match=rf"\[normalisation_term\] x: .*{word}"):
        assert_backward(batchnorm_forward, slipped, inputs)


# -- the second trial's frictions --------------------------------------------------------------


def test_a_parameters_dict_is_judged_entry_by_entry_and_settings_are_left_as_given() -> None:
    """rnn_cell_forward(xt, a_prev, parameters) with gradients by 'd' + key: every entry of the
    dict is judged (a slip in dba was a false pass when the dict was passed as given); a
    settings dict the forward writes into is copied for each call."""

    def cell_forward(xt, a_prev, parameters, settings):
        settings["calls"] = settings.get("calls", 0) + 1  # state a forward keeps, as bn_param
        a = np.tanh(parameters["Wax"] @ xt + parameters["Waa"] @ a_prev + parameters["ba"])
        return a, (a, xt, a_prev, parameters)

    def cell_backward(da, cache, slip=False):
        a, xt, a_prev, p = cache
        dz = da * (1 - a**2)
        dba = dz[:, :1] if slip else dz.sum(axis=1, keepdims=True)
        return {"dxt": p["Wax"].T @ dz, "da_prev": p["Waa"].T @ dz, "dWax": dz @ xt.T,
                "dWaa": dz @ a_prev.T, "dba": dba}  # fmt: skip

    settings: dict[str, int] = {}
    inputs = {"xt": RNG.standard_normal((3, 4)), "a_prev": RNG.standard_normal((5, 4)),
              "parameters": {"Wax": RNG.standard_normal((5, 3)),
                             "Waa": RNG.standard_normal((5, 5)) / 2, "ba": np.zeros((5, 1))},
              "settings": settings}  # fmt: skip
    right = check_backward(cell_forward, cell_backward, inputs)
    assert right and {p.name for p in right.parameters} == {"xt", "a_prev", "Wax", "Waa", "ba"}
    assert settings == {}
    slipped = check_backward(cell_forward, lambda d, c: cell_backward(d, c, True), inputs)
    assert not slipped and slipped.failed == ("ba",)


def test_a_loss_function_returning_its_gradient_and_a_scalar_output() -> None:
    """softmax_loss(x, y) -> (loss, dx), with backward None; a forward whose output is a
    Python or NumPy scalar."""

    def softmax_loss(x, y, slip=1.0):
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = x.shape[0]
        dx = np.exp(logp)
        dx[np.arange(n), y] -= 1
        return -logp[np.arange(n), y].mean(), slip * dx / n

    inputs = {"x": RNG.standard_normal((4, 5)), "y": np.array([0, 3, 3, 1])}
    assert check_backward(softmax_loss, None, inputs)
    assert not check_backward(lambda x, y: softmax_loss(x, y, 4.0), None, inputs)

    def square(x):
        return float(np.sum(x**2)), x

    assert check_backward(square, lambda dout, cache: 2 * dout * cache, {"x": np.ones(3)})


def test_convolution_overwriting_where_windows_overlap_is_named_with_several_filters() -> None:
    def conv_forward(x, w):
        """x (H, W), w (F, k, k), stride 1, no padding: out (F, H-k+1, W-k+1)."""
        F, k, _ = w.shape
        H, W = x.shape
        out = np.zeros((F, H - k + 1, W - k + 1))
        for f in range(F):
            for i in range(H - k + 1):
                for j in range(W - k + 1):
                    out[f, i, j] = np.sum(x[i : i + k, j : j + k] * w[f])
        return out, (x, w)

    def conv_backward(dout, cache, overwrite=False):
        x, w = cache
        F, k, _ = w.shape
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        for f in range(F):
            for i in range(dout.shape[1]):
                for j in range(dout.shape[2]):
                    if overwrite:
                        dx[i : i + k, j : j + k] = w[f] * dout[f, i, j]
                    else:
                        dx[i : i + k, j : j + k] += w[f] * dout[f, i, j]
                    dw[f] += x[i : i + k, j : j + k] * dout[f, i, j]
        return dx, dw

    inputs = {"x": RNG.standard_normal((5, 5)), "w": RNG.standard_normal((3, 2, 2))}
    assert check_backward(conv_forward, conv_backward, inputs)
    kinds = _named(conv_forward, lambda d, c: conv_backward(d, c, True), inputs)
    assert kinds == ["overlapping_windows"]


def test_an_input_gradient_through_updated_weights_is_not_called_an_l2_term() -> None:
    class UpdatesFirst(Dense):
        def backward(self, dout, learning_rate):
            self.W -= learning_rate * (self.x.T @ dout)  # updated before dx is taken
            self.b -= learning_rate * dout.sum(axis=0)
            return dout @ self.W.T

    with pytest.raises(AssertionError) as failed:  # one example: dx is off by |dout|^2 lr x
        assert_backward(UpdatesFirst(3, 2), None, {"x": RNG.standard_normal((1, 3))},
                        params=["W", "b"], lr=0.5)  # fmt: skip
    text = str(failed.value)
    assert "[regularisation]" not in text and "after their update" in text, text


# -- a recurrent layer through time ---------------------------------------------------------------


def rnn_forward(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H): h (N, T, H), each step tanh(x_t Wx + h_{t-1} Wh + b)."""
    N, T, _ = x.shape
    h, prev = np.zeros((N, T, Wh.shape[0])), h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        h[:, t] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache, slip=None):
    """dh (N, T, H): (dx, dh0, dWx, dWh, db); ``slip`` drops the carry back to t - 1, or
    every step's upstream but the last's, takes tanh' of the output, takes dWh from the states
    one step off (h_t, or h[:, -1] at t = 0), or assigns dWx or db at each step."""
    x, h0, Wx, Wh, h = cache
    T = x.shape[1]
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(len(Wh))
    dprev = np.zeros_like(h0)
    for t in reversed(range(T)):
        own = dh[:, t] if slip != "last_step_only" or t == T - 1 else 0.0
        carried = dprev if slip != "no_carry" else 0.0
        out = np.tanh(h[:, t]) if slip == "derivative_of_output" else h[:, t]
        dz = (own + carried) * (1 - out**2)
        prev = h[:, t - 1] if t > 0 or slip == "previous_of_step_0" else h0
        prev = h[:, t] if slip == "state_off_by_one" else prev
        dx[:, t] = dz @ Wx.T
        dWx = x[:, t].T @ dz if slip == "dWx_assigned" else dWx + x[:, t].T @ dz
        dWh = dWh + prev.T @ dz
        db = dz.sum(axis=0) if slip == "db_assigned" else db + dz.sum(axis=0)
        dprev = dz @ Wh.T
    return dx, dprev, dWx, dWh, db


@pytest.mark.parametrize(
    ("slip", "kind", "words"),
    [
        (None, None, None),
        ("no_carry", "no_carry", "nothing is passed back to step t - 1"),
        ("last_step_only", "last_step_only", "the upstream gradients of steps 0-1 are missing"),
        ("derivative_of_output", "derivative_of_output", "x, h0, Wx, Wh, b: tanh' taken of"),
        ("state_off_by_one", "state_off_by_one", "Wh: dWh sums h_t^T dz_t"),
        ("previous_of_step_0", "state_off_by_one", "Wh: at step 0, dWh takes the last step's"),
        ("dWx_assigned", "one_step_only", "Wx: dWx is step 0's contribution alone (of 3 steps)"),
        ("db_assigned", "one_step_only", "b: db is step 0's contribution alone"),
    ],
)
def test_a_recurrent_layer_through_time_names_its_slip(slip, kind, words) -> None:
    inputs = {"x": RNG.standard_normal((2, 3, 4)), "h0": RNG.standard_normal((2, 5)),
              "Wx": RNG.standard_normal((4, 5)) / 2, "Wh": RNG.standard_normal((5, 5)) / 2,
              "b": RNG.standard_normal(5)}  # fmt: skip
    if slip is None:
        assert check_backward(rnn_forward, rnn_backward, inputs)
        return

    def slipped(dh, cache):
        return rnn_backward(dh, cache, slip)

    assert _named(rnn_forward, slipped, inputs) == [kind]
    with pytest.raises(AssertionError, match=re.escape(words)):
        assert_backward(rnn_forward, slipped, inputs)


def test_one_recurrent_step_taking_tanh_prime_of_its_output_is_named() -> None:
    inputs = {"x": RNG.standard_normal((3, 4)), "prev_h": RNG.standard_normal((3, 5)),
              "Wx": RNG.standard_normal((4, 5)) / 2, "Wh": RNG.standard_normal((5, 5)) / 2,
              "b": RNG.standard_normal(5)}  # fmt: skip

    def tanh_of_output(dnext_h, cache):
        return rnn_step_backward(dnext_h, cache, "tanh_of_output")

    assert _named(rnn_step_forward, tanh_of_output, inputs) == ["derivative_of_output"]


def test_a_dense_sigmoid_layer_taking_sigmoid_prime_of_its_output_is_named() -> None:
    def forward(x, W, b):
        a = 1 / (1 + np.exp(-(x @ W + b)))
        return a, (x, W, a)

    def backward(da, cache, slip=False):
        x, W, a = cache
        s = 1 / (1 + np.exp(-a)) if slip else a  # the slip: sigmoid applied to a again
        dz = da * s * (1 - s)
        return dz @ W.T, x.T @ dz, dz.sum(axis=0)

    inputs = {"x": RNG.standard_normal((4, 3)), "W": RNG.standard_normal((3, 2)),
              "b": RNG.standard_normal(2)}  # fmt: skip
    assert check_backward(forward, backward, inputs)
    assert _named(forward, lambda d, c: backward(d, c, True), inputs) == ["derivative_of_output"]
    with pytest.raises(AssertionError, match=re.escape("so sigmoid'(z), a (1 - a), is meant")):
        assert_backward(forward, lambda d, c: backward(d, c, True), inputs)


def test_a_small_error_is_not_given_a_recurrent_or_activation_slip_that_leaves_it_right() -> None:
    """The named slips are matched loosely; a candidate that leaves a failing input at its
    right value names nothing there: db off by 3e-5 reads as the scale it is."""
    inputs = {"x": RNG.standard_normal((2, 3, 4)), "h0": RNG.standard_normal((2, 5)),
              "Wx": RNG.standard_normal((4, 5)) / 2, "Wh": RNG.standard_normal((5, 5)) / 2,
              "b": RNG.standard_normal(5)}  # fmt: skip

    def db_off(dh, cache):
        dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
        return dx, dh0, dWx, dWh, db * (1 + 3e-5)

    assert _named(rnn_forward, db_off, inputs) == ["scale"]

    def tanh_forward(x, w, b):
        out = np.tanh(x @ w + b)
        return out, (x, w, out)

    def tanh_backward(dout, cache):
        x, w, out = cache
        dz = dout * (1 - out**2)
        return dz @ w.T, x.T @ dz, dz.sum(axis=0) * (1 + 3e-5)

    small = {"x": RNG.standard_normal((4, 3)), "w": RNG.standard_normal((3, 2)) * 1e-3,
             "b": RNG.standard_normal(2) * 1e-3}  # fmt: skip
    assert _named(tanh_forward, tanh_backward, small) == ["scale"]
