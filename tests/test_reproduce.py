"""The reproduction's command line and report files, on a run shortened to seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reference_nn.__main__ import main
from reference_nn.networks import NETWORKS
from reference_nn.reproduce import Run, Spread, printed_loss_agreement
from reference_nn.training import LogEntry, TrainResult
from tests.helpers import mnist_dir


@pytest.mark.mnist
def test_reproduce_writes_the_table_curves_and_confusion_matrices(tmp_path, capsys) -> None:
    argv = ["reproduce", "--networks", "relu_10_10", "--iterations", "3"]
    argv += ["--out", str(tmp_path), "--mnist-dir", str(mnist_dir())]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| relu_10_10 | reference | 0 | 3 | 41000 |" in out
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


@pytest.mark.mnist
def test_several_seeds_give_a_spread_that_the_explanation_uses(tmp_path, capsys) -> None:
    argv = ["reproduce", "--networks", "relu_10_10", "--variants", "published", "--iterations"]
    argv += ["2", "--seeds", "0", "1", "--out", str(tmp_path), "--mnist-dir", str(mnist_dir())]
    assert main(argv) == 0
    assert "## Over seeds" in capsys.readouterr().out
    report = json.loads((tmp_path / "reproduce.json").read_text())
    assert [run["seed"] for run in report["runs"]] == [0, 1]
    (spread,) = report["over_seeds"]
    accuracies = [run["test_accuracy"] for run in report["runs"]]
    assert spread["test_accuracies"] == pytest.approx(accuracies, abs=0.005)
    # Different seeds draw a different dev split and initialisation.
    assert report["runs"][0]["confusion_matrix"] != report["runs"][1]["confusion_matrix"]
    assert "over 2 seeds" in report["runs"][0]["explanation"]
    names = {p.name for p in tmp_path.iterdir()}
    assert "relu_10_10_published_confusion.png" in names
    assert "relu_10_10_published_seed1_confusion.png" in names


def test_a_spread_covers_the_published_figure_only_within_its_range() -> None:
    spread = Spread("relu_10_10", "published", (0, 1, 2), (82.3, 84.1, 83.0))
    assert spread.mean == pytest.approx(83.1333, abs=1e-3)
    assert spread.std == pytest.approx(0.9074, abs=1e-3)
    assert spread.covers(84.0) and spread.covers(82.3)
    assert not spread.covers(84.2) and not spread.covers(82.0)


def _run_with_losses(name: str, losses: dict[int, float]) -> Run:
    history = tuple(LogEntry(i, value, 0.5) for i, value in sorted(losses.items()))
    return Run(name, "reference", len(losses), 1, "test", 50.0, 50.0, 1.0,
               TrainResult({}, history), np.zeros((10, 10), dtype=np.int64))  # fmt: skip


def test_printed_losses_are_matched_at_the_same_number_of_updates() -> None:
    log = NETWORKS["relu_532"].published_result.loss_log  # epoch e: after e - 1 updates
    exact = _run_with_losses("relu_532", {i - 1: value for i, value in log})
    agreement = printed_loss_agreement(exact)
    assert agreement is not None
    assert agreement["points"] == len(log) and agreement["max_relative_difference"] == 0.0
    # One update off, the same values no longer line up (the printed loss falls each epoch).
    late = printed_loss_agreement(_run_with_losses("relu_532", {i: v for i, v in log}))
    assert late is not None and late["points"] == len(log) - 1
    assert late["median_relative_difference"] > 0
    assert printed_loss_agreement(_run_with_losses("relu_10_10", {0: 2.3})) is None
