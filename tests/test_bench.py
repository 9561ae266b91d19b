"""The step benchmark's tables: every column is either measured or says why it is empty.

No timing is asserted here (the benchmark is the record); only that the tables are written
and that an empty column carries its reason, as on a machine without a GPU.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.steps import CPU_LABELS, GPU_LABELS, main, step_flops

pytestmark = pytest.mark.jax
TINY = [
    "--examples",
    "40",
    "--repeats",
    "1",
    "--block",
    "1",
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
    markdown = (tmp_path / "steps.md").read_text()
    assert "## CPU" in markdown and "## GPU" in markdown
    for label, reason in empty.items():
        assert f"- {label}: {reason}" in markdown
        assert reason


def test_without_gpu_flag_the_gpu_table_says_how_to_get_it(tmp_path) -> None:
    pytest.importorskip("jax")
    main([*TINY, "--networks", "relu_16_16", "--out", str(tmp_path)])
    assert "run `nox -s bench -- --gpu`" in (tmp_path / "steps.md").read_text()
    assert "ours_gpu_seconds" not in json.loads((tmp_path / "steps.json").read_text())["rows"][0]
