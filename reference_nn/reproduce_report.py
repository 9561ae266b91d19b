"""The reproduction as files: a Markdown and JSON table, loss curves and confusion matrices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reference_nn.networks import NETWORKS
from reference_nn.reproduce import TOLERANCE_POINTS, Run


def _explain(runs: Sequence[Run], run: Run) -> str:
    """A measured reading of a shortfall: how the other variant did on the same protocol."""
    row = run.row()
    if row.get("within_tolerance", True):
        return ""
    other = [r for r in runs if r.network == run.network and r.variant != run.variant]
    gap = row["test_gap_points"]
    text = f"{abs(gap):.2f} points {'below' if gap < 0 else 'above'} the published figure"
    if other:
        text += f"; the {other[0].variant} variant reaches {other[0].test_accuracy:.2f}%"
    return text


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table_markdown(runs: Sequence[Run]) -> str:
    """Published against measured accuracy, one row per run."""
    lines = [
        "# Reproduction of the published protocols",
        "",
        f"Measured test accuracy within {TOLERANCE_POINTS} points of the published one is "
        "marked ok; a shortfall is explained by the other variant's run.",
        "",
        "| network | variant | iterations | train examples | published train | measured train "
        "| published test | measured test | gap | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        row = run.row()
        verdict = (
            "no published figure"
            if "within_tolerance" not in row
            else ("ok" if row["within_tolerance"] else _explain(runs, run))
        )
        lines.append(
            f"| {run.network} | {run.variant} | {run.iterations} | {run.train_examples} "
            f"| {_percent(row['published_train_accuracy'])} | {row['train_accuracy']:.2f} "
            f"| {_percent(row['published_test_accuracy'])} ({run.test_name}) "
            f"| {row['test_accuracy']:.2f} "
            f"| {row.get('test_gap_points', '-')} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(runs: Sequence[Run], folder: Path) -> list[Path]:
    """Write reproduce.md, reproduce.json and the PNG figures into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "reproduce.md", folder / "reproduce.json"]
    written[0].write_text(table_markdown(runs))
    rows = [
        {**run.row(), "explanation": _explain(runs, run), "history": run.result.history_dicts(),
         "confusion_matrix": run.confusion.tolist()}
        for run in runs
    ]  # fmt: skip
    written[1].write_text(json.dumps({"runs": rows}, indent=1) + "\n")
    for name in dict.fromkeys(run.network for run in runs):
        mine = [run for run in runs if run.network == name]
        fig, ax = plt.subplots(figsize=(6, 4))
        for run in mine:
            steps = [e.iteration for e in run.result.history]
            ax.plot(steps, [e.loss for e in run.result.history], label=f"{run.variant} (ours)")
        log = NETWORKS[name].published_result.loss_log
        if log:
            # 000 prints at 'Iteration i' the loss of the forward pass made after i - 2
            # updates (i is incremented before the print); 002 prints epoch e after e - 1.
            shift = 2 if name == "relu_500_150" else 1
            ax.plot(
                [i - shift for i, _ in log],
                [v for _, v in log],
                "k.",
                ms=3,
                label="printed in the document",
            )
        ax.set_xlabel("updates applied")
        ax.set_ylabel("training loss")
        ax.set_title(f"{name}: loss")
        ax.legend()
        fig.tight_layout()
        path = folder / f"{name}_loss.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        for run in mine:
            fig, ax = plt.subplots(figsize=(5, 4.5))
            ax.imshow(np.log1p(run.confusion), cmap="Blues")
            for (i, j), count in np.ndenumerate(run.confusion):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=6)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{name} {run.variant}: {run.test_name} {run.test_accuracy:.2f}%")
            fig.tight_layout()
            path = folder / f"{name}_{run.variant}_confusion.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written
