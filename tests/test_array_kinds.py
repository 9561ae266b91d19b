"""Parameters of CuPy and jax.numpy arrays checked as they are (oracles._engine.arrays): the user's
functions get float64 copies of their own kind on their device, with no transfer code of the
user's, and the verdict and diagnosis are those of the same network in NumPy.

The CuPy tests run on the NumPy stand-in (tests/cupy_standin.py, which refuses a host array
meeting a device array, as CuPy does: a check that converted the parameters behind the user's
back fails there) and, marked ``gpu``, on real CuPy where a CUDA device is present.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from oracles import assert_gradients, check_gradients, diagnose
from tests import cupy_standin
from tests.array_networks import network, problem

SIZES = (784, 500, 150, 10)  # document 000's network
M = 4


def host_problem():
    return problem(SIZES, M)


@pytest.fixture(params=["standin", pytest.param("cuda", marks=pytest.mark.gpu)])
def cupy(request, monkeypatch):
    """The stand-in, importable as ``cupy`` for one test; or the real CuPy on a CUDA device."""
    if request.param == "cuda":
        from reference_nn.gpu import gpu_unavailable_reason

        reason = gpu_unavailable_reason()
        if reason:
            pytest.skip(reason)
        import cupy as real

        return real
    module = cupy_standin.module()
    monkeypatch.setitem(sys.modules, "cupy", module)
    return module


def _on_device(cupy, params, X, Y):
    return {k: cupy.asarray(v) for k, v in params.items()}, cupy.asarray(X), cupy.asarray(Y)


def _counted(fn, calls, key, check):
    def counted(p):
        check(p)
        calls[key] += 1
        return fn(p)

    return counted


def test_a_right_cupy_network_of_document_000s_shape_passes_read_back_as_counted(cupy) -> None:
    params, X, Y = host_problem()
    device, Xd, Yd = _on_device(cupy, params, X, Y)
    kept = {k: cupy.asnumpy(v) for k, v in device.items()}
    both = network(cupy, Xd, Yd)

    def on_device(p):  # what the user's code is handed: its own kind, float64
        assert all(type(v) is cupy.ndarray and v.dtype == np.float64 for v in p.values())

    calls = {"loss": 0, "grad": 0}
    loss = _counted(lambda p: both(p)[0], calls, "loss", on_device)
    grad = _counted(lambda p: both(p)[1], calls, "grad", on_device)
    standin = getattr(cupy, "__doc__", "") == cupy_standin.__doc__
    start = cupy_standin.reads() if standin else 0
    report = check_gradients(loss, grad, device)
    assert report.passed, report.summary()
    assert report.arrays == "cupy" and report.mode == "directional"
    # One read per parameter at the start, per loss value, per gradient entry read.
    assert report.transfers == 6 + calls["loss"] + 6 * calls["grad"]
    if standin:  # and the stand-in counted every one of them: none went around it
        assert cupy_standin.reads() - start == report.transfers
    assert all(np.array_equal(cupy.asnumpy(device[k]), kept[k]) for k in kept)  # untouched
    assert "cupy arrays: the loss and grad got float64 copies on their device" in report.summary()


def test_the_stand_in_refuses_host_parameters_so_a_hidden_conversion_would_fail(cupy) -> None:
    params, X, Y = host_problem()
    _, Xd, Yd = _on_device(cupy, params, X, Y)
    if getattr(cupy, "__doc__", "") != cupy_standin.__doc__:
        pytest.skip("real CuPy refuses host arrays itself")
    with pytest.raises(TypeError, match="host"):
        network(cupy, Xd, Yd)(params)


def test_a_slipped_cupy_network_gets_the_diagnosis_of_its_numpy_twin(cupy) -> None:
    params, X, Y = host_problem()
    device, Xd, Yd = _on_device(cupy, params, X, Y)
    twin = diagnose(network(np, X, Y, "bias_sum"), None, params, examples=M)
    found = diagnose(network(cupy, Xd, Yd, "bias_sum"), None, device, examples=M)
    assert [(d.kind, d.parameters) for d in found.defects] == [
        (d.kind, d.parameters) for d in twin.defects
    ]
    # On 469,160 parameters the kind is read from a sample: the bias gradients' reduction.
    assert [(d.kind, d.parameters) for d in found.defects] == [
        ("bias_reduction", ("b1", "b2", "b3"))
    ]
    with pytest.raises(AssertionError, match="bias_reduction"):
        assert_gradients(network(cupy, Xd, Yd, "bias_sum"), None, device, examples=M)


def test_parameters_of_mixed_kinds_are_refused_naming_them(cupy) -> None:
    params, X, Y = host_problem()
    mixed = {**params, "W2": cupy.asarray(params["W2"])}
    with pytest.raises(ValueError, match=r"params mix array kinds \(numpy: W1, b1, b2, W3, b3; "
                       r"cupy: W2\)"):  # fmt: skip
        check_gradients(network(np, X, Y), None, mixed)


@pytest.mark.jax
@pytest.mark.parametrize("slip", [None, "bias_sum"])
def test_a_jax_numpy_network_checks_as_written_and_as_its_numpy_twin(slip) -> None:
    jax = pytest.importorskip("jax", reason="needs JAX")
    jnp = jax.numpy
    params, X, Y = problem((6, 5, 4, 3), M, seed=1)
    as_jax = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}
    inner = network(jnp, jnp.asarray(X), jnp.asarray(Y), slip)
    seen = []

    def loss_and_grads(p):
        seen.append({(type(v).__module__.split(".")[0], str(v.dtype)) for v in p.values()})
        return inner(p)

    report = check_gradients(loss_and_grads, None, as_jax)
    assert report.arrays == "jax" and report.passed == (slip is None)
    assert set().union(*seen) == {("jaxlib", "float64")}  # float64 copies of their own kind
    twin = diagnose(network(np, X, Y, slip), None, params, examples=M)
    found = diagnose(loss_and_grads, None, as_jax, examples=M)
    assert [(d.kind, d.parameters) for d in found.defects] == [
        (d.kind, d.parameters) for d in twin.defects
    ]
    assert all(v.dtype == jnp.float32 for v in as_jax.values())  # the user's, unchanged


def test_a_cupy_softmax_is_checked_as_written(cupy) -> None:
    from oracles import check_primitive

    def shifted(Z):
        E = cupy.exp(Z - cupy.max(Z, axis=0, keepdims=True))
        return E / cupy.sum(E, axis=0, keepdims=True)

    def unshifted(Z):
        return cupy.exp(Z) / cupy.sum(cupy.exp(Z), axis=0, keepdims=True)

    assert check_primitive(shifted, "softmax", axis=0, arrays="cupy").passed
    failed = {f.property for f in check_primitive(unshifted, "softmax", arrays="cupy").failures}
    assert "finite, without warnings, for logits up to +-1e3" in failed
    with pytest.raises(ValueError, match="arrays='tensorflow'"):
        check_primitive(shifted, "softmax", arrays="tensorflow")


def test_a_primitive_of_a_kind_that_does_not_import_names_its_extra(monkeypatch) -> None:
    from oracles import check_primitive

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(ModuleNotFoundError, match=r"arrays='torch', but torch does not import .*"
                       r"pip install 'reference-nn\[torch\]'"):  # fmt: skip
        check_primitive(np.tanh, "tanh", arrays="torch")


@pytest.mark.jax
def test_a_jax_numpy_one_hot_is_checked_as_written() -> None:
    jax = pytest.importorskip("jax", reason="needs JAX")
    from oracles import check_primitive

    def one_hot(labels, num_classes):
        assert isinstance(labels, jax.Array)
        return jax.nn.one_hot(labels, num_classes).T

    def batch_width(labels, num_classes):
        return jax.nn.one_hot(labels, int(labels.max()) + 1).T

    assert check_primitive(one_hot, "one_hot", num_classes=10, arrays="jax").passed
    assert not check_primitive(batch_width, "one_hot", num_classes=10, arrays="jax").passed


@pytest.mark.jax
@pytest.mark.parametrize("slip", [None, "bias_sum"])
def test_a_cupy_case_gets_the_verdicts_of_its_numpy_twin(cupy, slip) -> None:
    pytest.importorskip("jax", reason="the reference network is written in JAX")
    from oracles import Case, audit_case
    from oracles.own_network.meant import mlp_reference
    from oracles.reports.case import terminal

    params, X, Y = problem((6, 5, 4, 3), M, seed=2)
    meant = mlp_reference(X, Y, activation="relu", loss="cross_entropy")
    device, Xd, Yd = _on_device(cupy, params, X, Y)
    twin = audit_case(Case(network(np, X, Y, slip), None, params, reference=meant, examples=M))
    mine = audit_case(Case(network(cupy, Xd, Yd, slip), None, device, reference=meant, examples=M))
    assert [(v.parameter, v.verdict) for v in mine.verdicts] == [
        (v.parameter, v.verdict) for v in twin.verdicts
    ]
    assert {v.verdict for v in mine.verdicts} == ({"correct"} if slip is None else
                                                  {"correct", "wrong"})  # fmt: skip
    assert mine.arrays == "cupy" and mine.transfers > 0
    assert "cupy arrays: your functions got float64 copies on their device" in terminal([mine])


def test_cupy_code_that_only_updates_in_place_checks_as_written(cupy) -> None:
    from oracles import gradients_from_update

    params, X, Y = host_problem()
    device, Xd, Yd = _on_device(cupy, params, X, Y)
    for slip in (None, "bias_sum"):
        both = network(cupy, Xd, Yd, slip)

        def update(p, both=both):  # as a CuPy notebook's update: in place, on the device
            _, grads = both(p)
            for k in p:
                p[k] -= 0.5 * grads[k]

        report = check_gradients(
            lambda p, both=both: both(p)[0], gradients_from_update(update, lr=0.5), device
        )
        assert report.arrays == "cupy"
        assert report.failed == (() if slip is None else ("b1", "b2", "b3", "(all)"))


@pytest.mark.jax
def test_jax_code_that_returns_new_parameters_checks_as_written() -> None:
    jax = pytest.importorskip("jax", reason="needs JAX")
    from oracles import gradients_from_update

    jnp = jax.numpy
    rng = np.random.default_rng(3)
    params = {"W1": jnp.asarray(rng.standard_normal((3, 4))), "b1": jnp.zeros((3, 1))}
    X, Y = rng.random((4, M)), np.eye(3)[rng.integers(0, 3, M)].T

    def loss(p):
        Z = p["W1"] @ X + p["b1"]
        return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=0)) / M

    def update(p):  # JAX arrays are immutable: the update returns the new ones
        return jax.tree.map(lambda w, g: w - 0.1 * g, p, jax.grad(loss)(p))

    report = check_gradients(loss, gradients_from_update(update, lr=0.1), params)
    assert report.passed and report.arrays == "jax"


def test_cupy_layer_objects_that_update_themselves_check_as_written(cupy) -> None:
    """Layer objects holding CuPy arrays, whose backward updates them in place on the device."""
    from oracles import attributes, gradients_from_update

    class Dense:
        def __init__(self, n_in, n_out, rng, forget_bias_sum=False):
            self.weights = cupy.asarray(rng.standard_normal((n_out, n_in)) * 0.5)
            self.bias = cupy.asarray(rng.standard_normal((n_out, 1)) * 0.1)
            self.forget = forget_bias_sum

        def forward(self, inputs):
            self.inputs = inputs
            return self.weights @ inputs + self.bias

        def backward(self, grad_out, lr):
            grad_in = self.weights.T @ grad_out
            self.weights -= lr * (grad_out @ self.inputs.T)
            db = grad_out[:, :1] if self.forget else cupy.sum(grad_out, axis=1, keepdims=True)
            self.bias -= lr * db
            return grad_in

    class Tanh:
        def forward(self, inputs):
            self.out = cupy.tanh(inputs)
            return self.out

        def backward(self, grad_out, lr):
            return grad_out * (1 - self.out**2)

    rng = np.random.default_rng(4)
    X = cupy.asarray(rng.random((5, M)))
    Y = cupy.asarray(np.eye(3)[rng.integers(0, 3, M)].T)
    for forget in (False, True):
        layers = [Dense(5, 4, rng, forget), Tanh(), Dense(4, 3, rng), Tanh()]
        kept = layers[0].weights

        def predict(layers=layers):
            A = X
            for layer in layers:
                A = layer.forward(A)
            return A

        def train_step(layers=layers, predict=predict):
            grad = 2 * (predict() - Y) / Y.size
            for layer in reversed(layers):
                grad = layer.backward(grad, 1.0)

        attrs = attributes(layers, ["weights", "bias"])
        loss = attrs(lambda predict=predict: cupy.mean((predict() - Y) ** 2))
        grad = gradients_from_update(attrs.update(train_step), lr=1.0)
        report = check_gradients(loss, grad, attrs.params)
        assert report.arrays == "cupy"
        assert report.failed == (("0.bias",) if forget else ()), report.summary()
        assert layers[0].weights is kept and type(kept) is cupy.ndarray  # restored in place
