"""The reproduction's command line and report files, on a run shortened to seconds."""

from __future__ import annotations

import json

import pytest

from reference_nn.__main__ import main
from tests.helpers import mnist_dir


@pytest.mark.mnist
def test_reproduce_writes_the_table_curves_and_confusion_matrices(tmp_path, capsys) -> None:
    argv = ["reproduce", "--networks", "relu_10_10", "--iterations", "3"]
    argv += ["--out", str(tmp_path), "--mnist-dir", str(mnist_dir())]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| relu_10_10 | reference | 3 | 41000 |" in out
    report = json.loads((tmp_path / "reproduce.json").read_text())
    runs = {run["variant"]: run for run in report["runs"]}
    assert set(runs) == {"reference", "published"}
    for run in runs.values():
        assert run["published_test_accuracy"] == 84.0
        assert run["within_tolerance"] is False and run["explanation"]
        assert len(run["history"]) == 3
        assert sum(map(sum, run["confusion_matrix"])) == 1000
    names = {p.name for p in tmp_path.iterdir()}
    assert {"reproduce.md", "relu_10_10_loss.png"} <= names
    assert {f"relu_10_10_{v}_confusion.png" for v in runs} <= names
