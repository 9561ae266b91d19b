"""The reproduction as files: a Markdown and JSON table, loss curves and confusion matrices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reference_nn.networks import NETWORKS
from reference_nn.reproduce import TOLERANCE_POINTS, Run, printed_loss_agreement, spreads


def _explain(runs: Sequence[Run], run: Run) -> str:
    """A measured reading of a shortfall: how the other variant did on the same protocol
    and seed, and, when several seeds were run, whether the seeds' range covers the
    published figure (the document's own random split and initialisation are unknown)."""
    row = run.row()
    if row.get("within_tolerance", True):
        return ""
    other = [
        r for r in runs if r.network == run.network and r.variant != run.variant
        and r.seed == run.seed
    ]  # fmt: skip
    gap = row["test_gap_points"]
    text = f"{abs(gap):.2f} points {'below' if gap < 0 else 'above'} the published figure"
    if other:
        text += f"; the {other[0].variant} variant reaches {other[0].test_accuracy:.2f}%"
    published = NETWORKS[run.network].published_result.test_accuracy
    for spread in spreads(list(runs)):
        if (spread.network, spread.variant) == (run.network, run.variant) and published:
            text += (
                f"; over {len(spread.seeds)} seeds (split and initialisation) this variant "
                f"reaches {min(spread.accuracies):.2f}-{max(spread.accuracies):.2f}% "
                f"(mean {spread.mean:.2f}, s.d. {spread.std:.2f}), a range that "
                f"{'covers' if spread.covers(published) else 'does not cover'} "
                f"the published {published:.2f}%"
            )
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
        "| network | variant | seed | iterations | train examples | published train "
        "| measured train | published test | measured test | gap | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        row = run.row()
        verdict = (
            "no published figure"
            if "within_tolerance" not in row
            else ("ok" if row["within_tolerance"] else _explain(runs, run))
        )
        lines.append(
            f"| {run.network} | {run.variant} | {run.seed} | {run.iterations} "
            f"| {run.train_examples} "
            f"| {_percent(row['published_train_accuracy'])} | {row['train_accuracy']:.2f} "
            f"| {_percent(row['published_test_accuracy'])} ({run.test_name}) "
            f"| {row['test_accuracy']:.2f} "
            f"| {row.get('test_gap_points', '-')} | {verdict} |"
        )
    agreements = [(run, printed_loss_agreement(run)) for run in runs]
    if any(agreement for _, agreement in agreements):
        lines += [
            "",
            "## Printed losses against ours (same number of updates)",
            "",
            "| network | variant | seed | points | first printed / ours | last printed / ours "
            "| median rel. diff | max rel. diff |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run, a in agreements:
            if a:
                lines.append(
                    f"| {run.network} | {run.variant} | {run.seed} | {a['points']} "
                    f"| {a['first_printed']:.4f} / {a['first_ours']:.4f} "
                    f"| {a['last_printed']:.4f} / {a['last_ours']:.4f} "
                    f"| {a['median_relative_difference']:.3f} "
                    f"| {a['max_relative_difference']:.3f} |"
                )
    several = spreads(list(runs))
    if several:
        lines += [
            "",
            "## Over seeds",
            "",
            "| network | variant | seeds | test mean | s.d. | min | max | published test |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for spread in several:
            published = NETWORKS[spread.network].published_result.test_accuracy
            lines.append(
                f"| {spread.network} | {spread.variant} | {len(spread.seeds)} "
                f"| {spread.mean:.2f} | {spread.std:.2f} | {min(spread.accuracies):.2f} "
                f"| {max(spread.accuracies):.2f} | {_percent(published)} |"
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
         "confusion_matrix": run.confusion.tolist(),
         "printed_loss_agreement": printed_loss_agreement(run)}
        for run in runs
    ]  # fmt: skip
    seeds = [
        {"network": sp.network, "variant": sp.variant, "seeds": list(sp.seeds),
         "test_accuracies": list(sp.accuracies), "mean": sp.mean, "std": sp.std}
        for sp in spreads(list(runs))
    ]  # fmt: skip
    written[1].write_text(json.dumps({"runs": rows, "over_seeds": seeds}, indent=1) + "\n")
    for name in dict.fromkeys(run.network for run in runs):
        mine = [run for run in runs if run.network == name]
        fig, ax = plt.subplots(figsize=(6, 4))
        for run in mine:
            steps = [e.iteration for e in run.result.history]
            seed = f", seed {run.seed}" if len({r.seed for r in mine}) > 1 else ""
            label = f"{run.variant} (ours{seed})"
            ax.plot(steps, [e.loss for e in run.result.history], label=label)
        log = NETWORKS[name].published_result.loss_log
        if log:
            lag = NETWORKS[name].published_result.loss_log_lag
            ax.plot(
                [i - lag for i, _ in log],
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
            suffix = f"_seed{run.seed}" if run.seed else ""
            path = folder / f"{name}_{run.variant}{suffix}_confusion.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written
