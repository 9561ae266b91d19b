"""Training steps that reuse their intermediates' memory (``memory.Arena``) compute exactly
what steps with fresh memory compute, hand no arena memory back as a gradient, and do not
allocate the batch's arrays again once warm."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from reference_nn import NETWORKS, VARIANTS, network, vectorized
from reference_nn.memory import Arena, reused_out, reusing
from reference_nn.training import train
from tests.helpers import document_warnings

NAMES = sorted(NETWORKS)


def _data(m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((784, m)), rng.permutation(np.arange(m) % 10)


def _descend(net, params, X, y, steps: int, arena: Arena | None) -> list[dict]:
    """``steps`` gradient steps, each call in ``arena`` if given; every step's gradients."""
    params = {k: v.copy() for k, v in params.items()}
    history = []
    for _ in range(steps):
        if arena is None:
            grads = vectorized.gradients(params, X, y, net.recipe)
        else:
            with reusing(arena):
                grads = vectorized.gradients(params, X, y, net.recipe)
        history.append({k: g.copy() for k, g in grads.items()})
        for k, g in grads.items():
            params[k] -= 0.5 * g
    return history


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", NAMES)
def test_steps_in_an_arena_equal_steps_with_fresh_memory(name, variant, dtype) -> None:
    net = network(name, variant=variant)
    params = {k: v.astype(dtype) for k, v in net.init_params(3).items()}
    X, y = _data(96)
    X = X.astype(dtype)
    arena = Arena(min_bytes=0)  # the small test arrays too
    with document_warnings(name, variant):
        fresh = _descend(net, params, X, y, 3, None)
        reused = _descend(net, params, X, y, 3, arena)
    assert arena.buffers, "no primitive took its output from the arena"
    for step, (a, b) in enumerate(zip(fresh, reused, strict=True)):
        for key in params:
            np.testing.assert_array_equal(b[key], a[key], err_msg=f"step {step}, {key}")


@pytest.mark.parametrize("name", NAMES)
def test_a_warm_arena_serves_every_call_with_the_same_buffers(name) -> None:
    net = network(name)
    params = net.init_params(0)
    X, y = _data(64)
    arena = Arena(min_bytes=0)  # the small test arrays too
    with reusing(arena):
        grads = vectorized.gradients(params, X, y, net.recipe)
    first = [id(b) for b in arena.buffers]
    with reusing(arena):
        again = vectorized.gradients(params, X, y, net.recipe)
    assert [id(b) for b in arena.buffers] == first
    for key in params:
        np.testing.assert_array_equal(again[key], grads[key])
        # The gradients are the caller's to keep: none lies in memory the next call writes.
        assert not any(np.shares_memory(again[key], b) for b in arena.buffers), key


@pytest.mark.parametrize("name", NAMES)
def test_logged_and_unlogged_steps_share_one_arena(name) -> None:
    """train() runs both kinds of step in one arena: they must ask for the same arrays in
    the same order, or each would reallocate the other's (and hold twice the memory)."""
    net = network(name)
    params = net.init_params(0)
    X, y = _data(64)
    arena = Arena(min_bytes=0)  # the small test arrays too
    with reusing(arena):
        vectorized.gradients(params, X, y, net.recipe)
    first = [id(b) for b in arena.buffers]
    with reusing(arena):
        _, _, A_L = vectorized.loss_and_gradients(params, X, y, net.recipe)
    assert [id(b) for b in arena.buffers] == first
    np.testing.assert_array_equal(A_L, vectorized.probabilities(params, X, net.recipe))


def test_a_call_with_another_batch_size_gets_buffers_of_its_own_shapes() -> None:
    net = network("sigmoid_16_16")
    params = net.init_params(0)
    arena = Arena(min_bytes=0)  # the small test arrays too
    for m in (64, 40, 64, 7):
        X, y = _data(m, seed=m)
        with reusing(arena):
            got = vectorized.gradients(params, X, y, net.recipe)
        expected = vectorized.gradients(params, X, y, net.recipe)
        for key in params:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"m={m}, {key}")
    assert {b.shape[-1] for b in arena.buffers if b.ndim == 2} == {7}


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", NAMES)
def test_a_warm_step_allocates_none_of_the_batchs_arrays(name) -> None:
    """NumPy reports its arrays to tracemalloc: a step in a warm arena allocates only its
    gradients and a few rows, not the (n_k, m) activations a fresh step allocates."""
    net = network(name)
    params = net.init_params(0)
    m = 10_000
    X, y = _data(m)
    X = X.astype(net.dtype)  # as to_native casts it (relu_532's parameters are float32)
    arena = Arena()

    def step_in_arena() -> None:
        with reusing(arena):
            vectorized.gradients(params, X, y, net.recipe)

    step_in_arena()
    fresh = _peak_bytes(lambda: vectorized.gradients(params, X, y, net.recipe))
    warm = _peak_bytes(step_in_arena)
    gradients = sum(v.nbytes for v in params.values())
    # A row of m or two (the ReLU's zeros, columns' maxima and sums, the ones that sum dZ)
    # and NumPy's iterator buffers (8192 entries an operand) are allowed; the smallest
    # array of a step, relu_10_10's (10, m) boolean mask, is not.
    small = 2 * m * 8
    assert 10 * m + m * 8 > small  # that mask and one row exceed it
    assert warm <= gradients + small, (warm, gradients, fresh)
    assert fresh > gradients + 4 * 10 * m * 8  # what the warm step saved is real


def test_reused_out_gives_nothing_outside_an_arena_or_for_other_array_modules() -> None:
    assert reused_out(np, (2, 3), np.float64) == {}
    arena = Arena(min_bytes=0)
    with reusing(arena):
        out = reused_out(np, (2, 3), np.float32)["out"]
        assert out.shape == (2, 3) and out.dtype == np.float32
        assert reused_out(object(), (2, 3), np.float32) == {}  # CuPy, jax.numpy: fresh
    assert reused_out(np, (2, 3), np.float64) == {}
    assert arena.buffers == (out,)


def test_arrays_below_min_bytes_are_left_to_the_allocator() -> None:
    arena = Arena()  # 64 KiB
    with reusing(arena):
        assert reused_out(np, (16, 511), np.float64) == {}  # 65,408 bytes
        big = reused_out(np, (16, 512), np.float64)["out"]
    assert arena.buffers == (big,)


def test_the_loop_styles_vectors_stay_out_of_the_arena() -> None:
    """train() runs every style in an arena; the loop style's per-example vectors are
    small, and would otherwise be held, m of them per primitive, between steps."""
    net = network("sigmoid_16_16", style="loop")
    params = net.init_params(0)
    X, y = _data(50)
    arena = Arena()
    with reusing(arena):
        got = net.gradients(params, X, y)
    assert arena.buffers == ()
    expected = net.gradients(params, X, y)
    for key in params:
        np.testing.assert_array_equal(got[key], expected[key])


def test_train_in_its_arena_equals_steps_with_fresh_memory() -> None:
    net = network("relu_16_16")
    params = net.init_params(2)
    X, y = _data(80)
    result = train(net, params, X, y, iterations=4, learning_rate=0.5, log_every=3)
    by_hand = _descend(net, params, X, y, 4, None)
    expected = {k: v.copy() for k, v in params.items()}
    for grads in by_hand:
        for k, g in grads.items():
            expected[k] -= 0.5 * g
    for key in params:
        np.testing.assert_array_equal(result.params[key], expected[key])
