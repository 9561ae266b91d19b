"""The step benchmark's tables: every column is either measured or says why it is empty.

No timing is asserted here (the benchmark is the record); only that the tables are written
and that an empty column carries its reason, as on a machine without a GPU.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from benchmarks.steps import (
    CPU_LABELS,
    GPU_LABELS,
    interleaved_times,
    main,
    run_for,
    step_flops,
    wait_until_idle,
)

pytestmark = pytest.mark.jax
TINY = [
    "--examples",
    "40",
    "--repeats",
    "1",
    "--block",
    "1",
    "--block-seconds",
    "0",
    "--warmup",
    "0",
    "--peak-size",
    "64",
    "--gpu-peak-size",
    "64",
]


def test_step_flops_counts_forward_and_both_backward_products() -> None:
    # 784-10: forward 2*m*7840 and dW1 2*m*7840; no dA0 for the input layer.
    assert step_flops((784, 10), 3) == 2 * 3 * 2 * 7840
    # 784-10-10: one more layer costs forward, dW2 and dA1.
    assert step_flops((784, 10, 10), 1) == 2 * (2 * 7840 + 3 * 100)


def _spin(seconds: float) -> threading.Thread:
    """A started thread that burns CPU for ``seconds``, as a thread pool spins after work."""

    def burn() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    thread = threading.Thread(target=burn)
    thread.start()
    return thread


def test_wait_until_idle_returns_only_once_a_spinning_thread_has_stopped() -> None:
    spinner = _spin(0.3)
    waited = wait_until_idle(limit=10.0)
    assert not spinner.is_alive()
    assert waited is not None and waited >= 0.2


def test_wait_until_idle_gives_up_at_its_limit_on_a_busy_process() -> None:
    spinner = _spin(1.5)
    try:
        assert wait_until_idle(limit=0.2) is None
    finally:
        spinner.join()


class FakeClock:
    """A clock that only moves when a fake step says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_turns_rotate_and_each_waits_then_warms_up_before_its_timed_block() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def step(label: str) -> None:
        calls.append(label)
        clock.now += 0.1

    steps = {label: (lambda label=label: step(label)) for label in "abc"}

    def settle() -> float:
        calls.append("settle")
        return 0.5

    # Warm-up 0.25 s: 3 untimed steps of 0.1 s. Then at least 2 steps and 0.35 s: 4 timed.
    times, waits = interleaved_times(
        steps, repeats=4, block=2, settle=settle, warmup=0.25, block_seconds=0.35, clock=clock
    )
    turns = [calls[i : i + 8] for i in range(0, len(calls), 8)]
    assert len(turns) == 12
    assert all(t[0] == "settle" and len(set(t[1:])) == 1 for t in turns)
    starts = [turns[3 * r][1] for r in range(4)]
    assert starts == ["a", "b", "c", "a"]
    assert [t[1] for t in turns[3:6]] == ["b", "c", "a"]
    assert times == {k: [pytest.approx(0.1)] * 4 for k in "abc"}
    assert waits == {k: [0.5] * 4 for k in "abc"}


def test_the_timed_block_leaves_out_the_slow_steps_after_a_pause() -> None:
    # As JAX's thread pool after the idle wait: the first steps of a turn are slow.
    clock = FakeClock()
    in_turn = [0]

    def settle() -> float:
        in_turn[0] = 0
        return 0.0

    def step() -> None:
        in_turn[0] += 1
        clock.now += 0.3 if in_turn[0] <= 4 else 0.1

    times, _ = interleaved_times(
        {"a": step}, repeats=3, block=3, settle=settle, warmup=1.0, block_seconds=0.0, clock=clock
    )
    assert times == {"a": [pytest.approx(0.1)] * 3}
    # With the old single warm-up step, the slow ones would have been timed.
    times, _ = interleaved_times(
        {"a": step}, repeats=1, block=3, settle=settle, warmup=0.0, block_seconds=0.0, clock=clock
    )
    assert times["a"][0] == pytest.approx(0.3)


def test_run_for_needs_both_the_count_and_the_time() -> None:
    clock = FakeClock()

    def step() -> None:
        clock.now += 0.5

    assert run_for(step, 3, 0.1, clock) == (3, pytest.approx(1.5))
    assert run_for(step, 1, 1.2, clock) == (3, pytest.approx(1.5))


def test_bench_writes_both_tables_and_why_columns_are_empty(tmp_path) -> None:
    pytest.importorskip("jax")
    main([*TINY, "--networks", "relu_10_10", "--gpu", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "steps.json").read_text())
    assert [(r["network"], r["dtype"]) for r in report["rows"]] == [
        ("relu_10_10", "float32"),
        ("relu_10_10", "float64"),
    ]
    empty = report["empty_columns"]
    for row in report["rows"]:
        assert row["ours_seconds"] > 0 and row["jax_jit_seconds"] > 0
        low, high = row["ours_over_fastest_peer_per_round"]
        assert 0 < low <= high
        for label in CPU_LABELS + GPU_LABELS:
            measured = row[f"{label}_seconds"] is not None
            assert measured != (label in empty), label
        for label in ("ours", "jax_jit"):
            assert row[f"{label}_never_idle_turns"] in (0, 1)  # one round, one turn each
    markdown = (tmp_path / "steps.md").read_text()
    assert "waited until no thread burned CPU" in markdown
    assert "## CPU" in markdown and "## GPU" in markdown
    for label, reason in empty.items():
        assert f"- {label}: {reason}" in markdown
        assert reason


def test_without_gpu_flag_the_gpu_table_says_how_to_get_it(tmp_path) -> None:
    pytest.importorskip("jax")
    main([*TINY, "--networks", "relu_16_16", "--out", str(tmp_path)])
    assert "run `nox -s bench -- --gpu`" in (tmp_path / "steps.md").read_text()
    assert "ours_gpu_seconds" not in json.loads((tmp_path / "steps.json").read_text())["rows"][0]


def test_the_scaling_bench_counts_the_users_calls_and_time_and_its_backward_is_right() -> None:
    """benchmarks.scaling's own check: the hand-written backward it times is right (a slip in
    it fails), and a turn's inside time is the loss's and gradient's, within its wall time."""
    import numpy as np

    from benchmarks import scaling
    from oracles import check_gradients

    rng = np.random.default_rng(0)
    X, y = rng.random((scaling.INPUTS, 8)), rng.integers(0, scaling.OUTPUTS, 8)
    params = scaling.init_params(4, np.random.default_rng(1))
    assert sum(p.size for p in params.values()) == scaling.parameter_count(4)
    turn = scaling.ours(params, X, y)
    assert turn.passed and turn.loss_calls >= 10 and turn.grad_calls == 1
    assert 0 < turn.inside < turn.seconds

    def slipped(p):
        return {**scaling.gradients(p, X, y), "b2": 2 * scaling.gradients(p, X, y)["b2"]}

    assert not check_gradients(lambda p: scaling.loss(p, X, y), slipped, params)
