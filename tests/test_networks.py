"""Every network in every style and variant: shapes, styles agreeing, training, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reference_nn import NETWORKS, VARIANTS, network, vectorized
from reference_nn.gpu import GpuUnavailableError, gpu_unavailable_reason
from reference_nn.protocol import prepare
from reference_nn.training import train
from tests.helpers import document_warnings, gradient_scale, relative_difference

NAMES = sorted(NETWORKS)
CASES = list(itertools.product(NAMES, VARIANTS))
CPU_STYLES = ("loop", "vectorized")
STYLE_PARAMS = [
    pytest.param("loop"),
    pytest.param("vectorized"),
    pytest.param("gpu", marks=pytest.mark.gpu),
]
BATCH = 64
STEPS = 3


@pytest.fixture(scope="module")
def batches(mnist):
    """Per (name, variant): the first BATCH training columns of the document's protocol."""
    out = {}
    for name, variant in CASES:
        data = prepare(NETWORKS[name], variant, mnist, seed=0)
        out[name, variant] = (data.X_train[:, :BATCH], data.y_train[:BATCH])
    return out


def _as64(params):
    return {k: v.astype(np.float64) for k, v in params.items()}


def _run(name: str, variant: str, fn):
    with document_warnings(name, variant):
        return fn()


@pytest.mark.mnist
@pytest.mark.parametrize("style", STYLE_PARAMS)
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_shapes_of_parameters_outputs_and_gradients(name, variant, style, batches) -> None:
    net = network(name, style=style, variant=variant)
    spec = NETWORKS[name]
    params = net.init_params(0)
    assert list(params) == list(spec.parameter_names)
    for key, shape in spec.parameter_shapes().items():
        assert params[key].shape == shape
        assert params[key].dtype == np.dtype(spec.derivation(variant).params_dtype)
    X, y = batches[name, variant]
    grads = _run(name, variant, lambda: net.gradients(params, X, y))
    assert list(grads) == list(params)
    for key in params:
        assert grads[key].shape == params[key].shape
        assert np.all(np.isfinite(grads[key]))
    P = _run(name, variant, lambda: net.probabilities(params, X))
    assert P.shape == (spec.sizes[-1], BATCH)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-6)
    assert np.isfinite(_run(name, variant, lambda: net.loss(params, X, y)))


@pytest.mark.mnist
@pytest.mark.parametrize("style", ["loop", pytest.param("gpu", marks=pytest.mark.gpu)])
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_every_style_equals_vectorized_in_float64(name, variant, style, batches) -> None:
    other = network(name, style=style, variant=variant)
    vec = network(name, style="vectorized", variant=variant)
    params = _as64(vec.init_params(1))
    X, y = batches[name, variant]
    X = X.astype(np.float64)
    loss_o, grads_o = _run(name, variant, lambda: other.loss_and_gradients(params, X, y))
    loss_v, grads_v = _run(name, variant, lambda: vec.loss_and_gradients(params, X, y))
    assert abs(loss_o - loss_v) <= 1e-12 * abs(loss_v)
    floor = gradient_scale(grads_v)
    for key in params:
        assert isinstance(grads_o[key], np.ndarray)
        assert relative_difference(grads_o[key], grads_v[key], floor) < 1e-12, key
    trained_o = _run(name, variant, lambda: train(other, params, X, y, iterations=STEPS))
    trained_v = _run(name, variant, lambda: train(vec, params, X, y, iterations=STEPS))
    for key in params:
        assert relative_difference(trained_o.params[key], trained_v.params[key]) < 1e-12, key
        # A gradient that is zero in exact arithmetic moves nothing but rounding: 004's
        # output bias, whose gradient sums A_L - Y over every entry, and each column of
        # A_L - Y sums to zero. Whether rounding moves it depends on the BLAS and the CPU
        # (it moved here, not on the GPU machine's 16 cores).
        if np.max(np.abs(grads_v[key])) > 1e-10 * floor:
            assert not np.array_equal(trained_v.params[key], params[key]), f"{key} never moved"


@pytest.mark.mnist
@pytest.mark.parametrize("style", CPU_STYLES)
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_a_few_training_steps_on_mnist_reduce_the_loss(name, variant, style, mnist) -> None:
    net = network(name, style=style, variant=variant)
    data = prepare(NETWORKS[name], variant, mnist, seed=0)
    m = 256 if style == "vectorized" else BATCH
    X, y = data.X_train[:, :m], data.y_train[:m]
    params = net.init_params(2)
    result = _run(name, variant, lambda: train(net, params, X, y, iterations=5))
    before = _run(name, variant, lambda: net.loss(params, X, y))
    after = _run(name, variant, lambda: net.loss(result.params, X, y))
    assert after < before
    assert [entry.iteration for entry in result.history] == sorted(
        {t for t in range(5) if t % NETWORKS[name].training.log_every == 0} | {4}
    )
    assert result.history[0].loss == pytest.approx(before, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_params_and_the_documents_initialisation(name: str) -> None:
    net = network(name)
    spec = NETWORKS[name]
    a, b, c = net.init_params(7), net.init_params(7), net.init_params(8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["W1"], c["W1"])
    init = spec.initialisation
    W1, b1 = a["W1"].astype(np.float64), a["b1"].astype(np.float64)
    if init.weights == "uniform_centered":
        assert W1.min() >= -0.5 and W1.max() < 0.5
        assert W1.std() == pytest.approx(np.sqrt(1 / 12), rel=0.05)
    elif init.weights == "normal":
        assert W1.std() == pytest.approx(init.weight_scale, rel=0.05)
    else:
        assert W1.std() == pytest.approx(np.sqrt(2 / spec.sizes[0]), rel=0.05)
    if init.biases == "zeros":
        assert not b1.any()
    else:
        assert b1.min() >= -0.5 and b1.max() < 0.5 and b1.any()


@pytest.mark.mnist
@pytest.mark.parametrize("style", CPU_STYLES)
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_steps_without_the_loss_update_exactly_as_steps_with_it(
    name, variant, style, batches
) -> None:
    """Training evaluates the loss only on logged steps; the gradients must not notice."""
    net = network(name, style=style, variant=variant)
    X, y = batches[name, variant]
    params = net.init_params(1)
    with_loss = _run(name, variant, lambda: net.loss_and_gradients(params, X, y))[1]
    without = _run(name, variant, lambda: net.gradients(params, X, y))
    for key in params:
        np.testing.assert_array_equal(without[key], with_loss[key])
    every = _run(name, variant, lambda: train(net, params, X, y, iterations=3, log_every=1))
    ends = _run(name, variant, lambda: train(net, params, X, y, iterations=3, log_every=99))
    assert [e.iteration for e in ends.history] == [0, 2]
    for key in params:
        np.testing.assert_array_equal(ends.params[key], every.params[key])


@pytest.mark.mnist
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_backward_writes_none_of_its_inputs(name, variant, batches) -> None:
    """forward's Zs and As, the one-hot Y and X come out of backward as they went in, and
    the gradients are those of a second backward on the same arrays."""
    net = network(name, variant=variant)
    X, y = batches[name, variant]
    params = net.init_params(1)

    def backward():
        Zs, As = vectorized.forward(params, X, net.recipe)
        Y = vectorized.one_hot_like(y, As[-1], net.recipe)
        before = [a.copy() for a in (*Zs, *As, Y)]
        grads = vectorized.backward(params, Zs, As, Y, net.recipe)
        for after, copy in zip((*Zs, *As, Y), before, strict=True):
            np.testing.assert_array_equal(after, copy)
        return grads, vectorized.backward(params, Zs, As, Y, net.recipe)

    first, second = _run(name, variant, backward)
    for key in params:
        np.testing.assert_array_equal(first[key], second[key])


def test_train_does_not_change_the_callers_arrays() -> None:
    net = network("relu_10_10")
    params = net.init_params(0)
    copy = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(0)
    X, y = rng.random((784, 20)), rng.integers(0, 10, 20)
    X_copy = X.copy()
    train(net, params, X, y, iterations=2)
    for key in params:
        np.testing.assert_array_equal(params[key], copy[key])
    np.testing.assert_array_equal(X, X_copy)


# -- bad input ---------------------------------------------------------------------------------


def _small_batch(m: int = 8):
    rng = np.random.default_rng(3)
    return rng.random((784, m)), rng.integers(0, 10, m)


def test_unknown_name_style_or_variant_is_named() -> None:
    with pytest.raises(ValueError, match="unknown network 'lenet'"):
        network("lenet")
    with pytest.raises(ValueError, match="unknown style 'tpu'"):
        network("relu_532", style="tpu")
    with pytest.raises(ValueError, match="unknown variant 'fixed'"):
        network("relu_532", variant="fixed")


@pytest.mark.parametrize("style", CPU_STYLES)
@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda p, X, y: (p, X[:700], y), ValueError, r"X must have shape \(784, m\)"),
        (lambda p, X, y: (p, X.ravel(), y), ValueError, "X must be 2-dimensional"),
        (lambda p, X, y: (p, X, y[:-1]), ValueError, "7 labels for 8 examples"),
        (lambda p, X, y: (p, X, y + 10), ValueError, r"labels must lie in 0\.\.9"),
        (lambda p, X, y: (p, X, y - 10), ValueError, r"labels must lie in 0\.\.9"),
        (lambda p, X, y: (p, X, y.astype(float)), TypeError, "integer labels"),
        (lambda p, X, y: (p, X, y[:, None]), ValueError, "y must be 1-dimensional"),
        (lambda p, X, y: (p, np.where(X > 0.5, np.nan, X), y), ValueError, "X contains NaN"),
        (lambda p, X, y: (p, X * np.inf, y), ValueError, "X contains (NaN|an infinite)"),
        (lambda p, X, y: (p, (X * 255).astype(np.uint8), y), TypeError, "floating-point"),
        (lambda p, X, y: ({**p, "W1": p["W1"].T}, X, y), ValueError, r"W1 has shape \(784, 10\)"),
        (lambda p, X, y: ({**p, "b2": p["b2"][:, 0]}, X, y), ValueError, "b2 has shape"),
        (lambda p, X, y: ({k: v for k, v in p.items() if k != "b1"}, X, y), ValueError, "missing"),
        (lambda p, X, y: ({**p, "W2": p["W2"] * np.nan}, X, y), ValueError, "W2 contains NaN"),
        (lambda p, X, y: ({**p, "W2": p["W2"].astype(np.float32)}, X, y), TypeError, "mix"),
    ],
)
def test_bad_input_raises_an_error_naming_the_problem(style, mutate, error, message) -> None:
    net = network("relu_10_10", style=style)
    X, y = _small_batch()
    params, X, y = mutate(net.init_params(0), X, y)
    for call in (net.gradients, net.loss):
        with pytest.raises(error, match=message):
            call(params, X, y)


def test_published_one_hot_width_from_the_batch_breaks_on_a_batch_without_a_nine() -> None:
    """003 builds one-hot labels Y.max() + 1 wide: a batch without the digit 9 has no row 9."""
    X, _ = _small_batch()
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    for style in CPU_STYLES:
        published = network("relu_10_10", style=style, variant="published")
        with pytest.raises(ValueError, match=r"one-hot labels have shape \(8, 8\)"):
            published.gradients(published.init_params(0), X, y)
        reference = network("relu_10_10", style=style)
        assert reference.gradients(reference.init_params(0), X, y)["W1"].shape == (10, 784)


@pytest.mark.mnist
def test_published_000_feeds_the_test_set_unscaled(mnist) -> None:
    spec = NETWORKS["relu_500_150"]
    assert prepare(spec, "published", mnist).X_test.max() == 255.0
    assert prepare(spec, "reference", mnist).X_test.max() == 1.0
    assert prepare(spec, "published", mnist).X_train.max() == 1.0


@pytest.mark.mnist
def test_kaggle_pool_splits_follow_the_documents(mnist) -> None:
    d001 = prepare(NETWORKS["sigmoid_16_16"], "reference", mnist)
    assert d001.X_train.shape == (784, 30000) and d001.X_test.shape == (784, 12000)
    np.testing.assert_array_equal(d001.y_test, mnist[1][30000:42000])
    assert d001.X_train.max() == 255.0
    d003 = prepare(NETWORKS["relu_10_10"], "reference", mnist, seed=5)
    assert d003.X_train.shape == (784, 41000) and d003.X_test.shape == (784, 1000)
    pool = np.sort(np.concatenate([d003.y_train, d003.y_test]))
    np.testing.assert_array_equal(pool, np.sort(mnist[1][:42000]))
    again = prepare(NETWORKS["relu_10_10"], "reference", mnist, seed=5)
    np.testing.assert_array_equal(again.y_test, d003.y_test)


def test_gpu_style_without_a_device_says_what_is_missing() -> None:
    reason = gpu_unavailable_reason()
    if reason is None:
        pytest.skip("a GPU is present here; the error path is for machines without one")
    with pytest.raises(GpuUnavailableError, match=r"CuPy|CUDA device") as info:
        network("relu_532", style="gpu")
    assert str(info.value) == reason


@pytest.mark.mnist
@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_seed_gives_bit_identical_parameters_when_run_twice(name, mnist) -> None:
    data = prepare(NETWORKS[name], "reference", mnist, seed=3)
    X, y = data.X_train[:, :512], data.y_train[:512]
    runs = []
    for _ in range(2):
        net = network(name)
        runs.append(train(net, net.init_params(3), X, y, iterations=4).params)
    for key in runs[0]:
        assert runs[0][key].tobytes() == runs[1][key].tobytes(), key


@pytest.mark.mnist
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_float32_stays_float32_through_every_intermediate(name, variant, batches) -> None:
    # A silent float64 promotion anywhere on the path (a float64 one-hot, a Python float
    # array, a mixed-dtype product) doubles the memory traffic of a float32 step.
    net = network(name, variant=variant)
    params = {k: v.astype(np.float32) for k, v in net.init_params(0).items()}
    X, y = batches[name, variant]
    X = X.astype(np.float32)
    with document_warnings(name, variant):
        Zs, As = vectorized.forward(params, X, net.recipe)
        loss, grads, A_L = vectorized.loss_and_gradients(params, X, y, net.recipe)
    assert {a.dtype for a in [*Zs, *As, A_L, loss]} == {np.dtype(np.float32)}
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}


@pytest.mark.parametrize("style", ["loop", "vectorized"])
@pytest.mark.parametrize("loss", ["log_softmax", "log_probs", "log_probs_eps"])
def test_what_the_update_never_reads_changes_no_trained_parameter(style, loss) -> None:
    """The audit trains nothing for a cause in NOT_READ_BY_UPDATE: two derivations that differ
    only there must train to the same parameters, bit for bit (while the logged loss differs)."""
    from dataclasses import replace

    from reference_nn.network import build
    from reference_nn.training import NOT_READ_BY_UPDATE

    assert set(NOT_READ_BY_UPDATE) == {"loss"}
    spec = NETWORKS["relu_10_10"]
    other = replace(spec, published=replace(spec.published, loss=loss))
    rng = np.random.default_rng(0)
    X, y = rng.random((784, 40)).astype(spec.published.input_dtype), rng.integers(0, 10, 40)
    runs = []
    for s in (spec, other):
        net = build(s, style=style, variant="published")
        runs.append(train(net, net.init_params(0), X, y, iterations=5, log_every=2))
    assert all(np.array_equal(runs[0].params[k], runs[1].params[k]) for k in runs[0].params)
    if loss == "log_probs_eps":  # the guard moves the logged loss, and nothing else
        assert runs[0].history[0].loss != runs[1].history[0].loss
