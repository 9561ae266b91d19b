"""The ``gpu`` style's code paths, run on a NumPy stand-in for CuPy (tests/cupy_standin.py).

These run everywhere. They catch what breaks the ``gpu`` style without any CUDA being
involved: an operation that bypasses the array's module, a host array mixed into device
work (CuPy raises TypeError), a result that stays on the device. The ``gpu``-marked tests
in the other modules run the real CuPy on a GPU when one is present.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys

import numpy as np
import pytest

from reference_nn import NETWORKS, VARIANTS, network
from reference_nn import published as P
from reference_nn.__main__ import main as main_cli
from reference_nn.arrays import array_module, require_finite
from reference_nn.gpu import GpuUnavailableError, gpu_unavailable_reason, read_back_once
from reference_nn.recipe import recipe_for
from reference_nn.training import train
from tests import cupy_standin
from tests.helpers import document_warnings, mnist_dir

CASES = list(itertools.product(sorted(NETWORKS), VARIANTS))


@pytest.fixture
def cupy(monkeypatch):
    """The stand-in, importable as ``cupy`` for the duration of one test."""
    module = cupy_standin.module()
    monkeypatch.setitem(sys.modules, "cupy", module)
    return module


def test_the_standin_refuses_what_cupy_refuses(cupy) -> None:
    d = cupy.asarray(np.arange(6.0).reshape(2, 3))
    assert array_module(d) is cupy
    for mixed in (
        lambda: d + np.ones(3),
        lambda: cupy.exp(np.ones(3)),
        lambda: cupy.matmul(np.ones((3, 3)), d.T),
        lambda: np.maximum(d, np.zeros(3), out=d),
        lambda: cupy.concatenate([d, np.ones((2, 3))]),
    ):
        with pytest.raises(TypeError, match="host"):
            mixed()
    total = d.sum()
    assert isinstance(total, cupy.ndarray) and total.ndim == 0 and float(total) == 15.0
    assert isinstance(cupy.zeros(3) + 1.0, cupy.ndarray)
    back = cupy.asnumpy(d * 2)
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, 2 * np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_gpu_style_on_the_standin_equals_vectorized_bit_for_bit(cupy, name, variant) -> None:
    del cupy
    gpu = network(name, style="gpu", variant=variant)
    vec = network(name, style="vectorized", variant=variant)
    rng = np.random.default_rng(0)
    X, y = rng.random((784, 48)), rng.integers(0, NETWORKS[name].sizes[-1], 48)
    params = {k: v.astype(np.float64) for k, v in vec.init_params(1).items()}
    with document_warnings(name, variant):
        loss_g, grads_g = gpu.loss_and_gradients(params, X, y)
        loss_v, grads_v = vec.loss_and_gradients(params, X, y)
        P_g, P_v = gpu.probabilities(params, X), vec.probabilities(params, X)
        assert gpu.loss(params, X, y) == vec.loss(params, X, y)
        assert gpu.accuracy(params, X, y) == vec.accuracy(params, X, y)
        trained_g = train(gpu, params, X, y, iterations=3)
        trained_v = train(vec, params, X, y, iterations=3)
    assert float(loss_g) == float(loss_v)
    assert type(P_g) is np.ndarray
    np.testing.assert_array_equal(P_g, P_v)
    for key in params:
        assert type(grads_g[key]) is np.ndarray, key  # back on the host
        np.testing.assert_array_equal(grads_g[key], grads_v[key], err_msg=key)
        assert type(trained_g.params[key]) is np.ndarray, key
        np.testing.assert_array_equal(trained_g.params[key], trained_v.params[key], err_msg=key)
    assert trained_g.history == trained_v.history


def test_a_device_that_cannot_run_a_kernel_is_named(cupy, monkeypatch) -> None:
    # As when CuPy finds the device but not NVRTC, which compiles its kernels.
    def fail(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12")

    monkeypatch.setattr(cupy, "multiply", fail, raising=False)
    monkeypatch.setattr(cupy.ndarray, "__mul__", fail)
    reason = gpu_unavailable_reason()
    assert reason is not None
    assert "run a kernel" in reason and "libnvrtc" in reason and "[ctk]" in reason
    with pytest.raises(GpuUnavailableError, match="libnvrtc"):
        network("relu_10_10", style="gpu")


def _native_batch(net, m: int = 48, scale: float = 1.0):
    rng = np.random.default_rng(0)
    X, y = scale * rng.random((784, m)), rng.integers(0, net.spec.sizes[-1], m)
    return net.to_native({k: v.astype(np.float64) for k, v in net.init_params(1).items()}, X, y)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_gpu_training_step_reads_back_from_the_device_once(cupy, name) -> None:
    # Every layer's finiteness check and the labels' range check make a device flag; on a
    # GPU each read back waits for the device, so a step reads them all in one transfer.
    net = network(name, style="gpu")
    params, X, y = _native_batch(net)
    before = cupy_standin.reads()
    grads = net.backend.gradients(params, X, y, net.recipe)
    assert cupy_standin.reads() - before == 1
    assert all(isinstance(g, cupy.ndarray) for g in grads.values())


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_value_inside_a_gpu_step_gets_the_cpu_error(cupy, name, bad) -> None:
    # X goes in unchecked here (net.to_native checks it; the backend does not), so the
    # first layer's check must find it, named as the vectorised style names it.
    gpu, vec = network(name, style="gpu"), network(name, style="vectorized")
    params, X, y = _native_batch(gpu)
    X[3, 5] = bad
    host = ({k: cupy.asnumpy(v) for k, v in params.items()}, cupy.asnumpy(X), cupy.asnumpy(y))
    # errstate: NumPy warns of the NaNs a bad value spreads, CuPy does not; the stand-in
    # computes with NumPy, and the gpu style carries on until the step's one read back.
    with np.errstate(invalid="ignore", over="ignore"):
        with pytest.raises(ValueError, match="contains") as on_cpu:
            vec.backend.gradients(*host, vec.recipe)
        with pytest.raises(ValueError, match="contains") as on_gpu:
            gpu.backend.gradients(params, X, y, gpu.recipe)
    assert str(on_gpu.value) == str(on_cpu.value)


@pytest.mark.parametrize(("bad", "found"), [(10, "0..10"), (-1, "-1..9")])
def test_labels_out_of_range_in_a_gpu_step_get_the_cpu_error(cupy, bad, found) -> None:
    gpu = network("relu_10_10", style="gpu")
    params, X, y = _native_batch(gpu)
    y[7], y[8] = bad, 9
    with pytest.raises(ValueError, match="labels") as info:
        gpu.backend.gradients(params, X, y, gpu.recipe)
    assert str(info.value) == f"one_hot: labels must lie in 0..9, found {found}"


def test_a_false_alarm_from_an_overflowing_sum_keeps_the_first_result(cupy) -> None:
    # Entries of 1e308 are finite, but their sum overflows: the one read back could not
    # rule a check out, the checked rerun finds every entry finite, and the first run's
    # result is returned.
    big = cupy.asarray(np.full((4, 3), 1e308))
    runs = []

    def halve_the_first_column(A, recipe):
        runs.append(recipe)
        return recipe.activation(A)[:, 0] / 2 if not runs[1:] else None

    recipe = network("relu_10_10", style="gpu").recipe
    with np.errstate(over="ignore"):
        result = read_back_once(halve_the_first_column)(big, recipe)
    assert len(runs) == 2 and runs[1] is recipe  # the rerun used the checked recipe
    np.testing.assert_array_equal(cupy.asnumpy(result), np.full(4, 5e307))


def test_a_gpu_call_that_cannot_fail_a_check_runs_once(cupy) -> None:
    runs = []

    def relu_of(A, recipe):
        runs.append(recipe)
        return recipe.activation(A)

    recipe = network("relu_10_10", style="gpu").recipe
    before = cupy_standin.reads()
    result = read_back_once(relu_of)(cupy.asarray(np.array([[-1.0, 2.0]])), recipe)
    assert len(runs) == 1 and runs[0] is not recipe and cupy_standin.reads() - before == 1
    np.testing.assert_array_equal(cupy.asnumpy(result), [[0.0, 2.0]])


def test_a_recipe_changed_by_hand_runs_as_given_on_the_gpu(cupy) -> None:
    # The one-read-back path rebuilds the recipe from its derivation; a recipe whose
    # functions were replaced (a slipped bias sum here) must not be silently swapped back.
    gpu, vec = network("relu_10_10", style="gpu"), network("relu_10_10", style="vectorized")
    assert gpu.recipe == recipe_for(gpu.recipe.derivation)
    slipped = dataclasses.replace(gpu.recipe, bias_gradient=P.bias_gradient_sum_all)
    params, X, y = _native_batch(gpu)
    host = ({k: cupy.asnumpy(v) for k, v in params.items()}, cupy.asnumpy(X), cupy.asnumpy(y))
    on_gpu = gpu.backend.gradients(params, X, y, slipped)
    expected = vec.backend.gradients(*host, slipped)
    right = vec.backend.gradients(*host, vec.recipe)
    np.testing.assert_array_equal(cupy.asnumpy(on_gpu["b1"]), expected["b1"])
    assert not np.allclose(expected["b1"], right["b1"])


def test_checks_outside_read_back_once_are_read_at_once(cupy) -> None:
    with pytest.raises(ValueError, match="Z contains NaN"):
        require_finite(cupy.asarray(np.array([1.0, np.nan])), "Z")


@pytest.mark.mnist
def test_train_command_with_style_gpu_on_the_standin(cupy, tmp_path) -> None:
    del cupy
    reports = {}
    for style in ("gpu", "vectorized"):
        path = tmp_path / f"{style}.json"
        argv = ["train", "relu_10_10", "--style", style, "--iterations", "2"]
        assert main_cli([*argv, "--mnist-dir", str(mnist_dir()), "--json", str(path)]) == 0
        reports[style] = json.loads(path.read_text())
    assert reports["gpu"]["style"] == "gpu"
    for key in ("train_accuracy", "test_accuracy", "history"):
        assert reports["gpu"][key] == reports["vectorized"][key], key


@pytest.mark.jax
def test_bench_gpu_table_measures_our_step_on_the_standin(cupy, tmp_path) -> None:
    from benchmarks.steps import main
    from tests.test_bench import TINY

    del cupy
    main([*TINY, "--networks", "relu_10_10", "--gpu", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "steps.json").read_text())
    for row in report["rows"]:
        assert row["ours_gpu_seconds"] > 0 and row["ours_gpu_gflops"] > 0
    assert "ours_gpu" not in report["empty_columns"]
    assert report["gpu_matmul_peak_gflops"]["float32"] > 0
