"""Both audits' figures, drawn from rows (``_engine.records.Row``): a heat map of each
parameter's largest relative error per network, oracle and variant, with the pass threshold on
its scale and the cells of parameters a network lacks labelled; and, for each failing row, the
gradient under test against the values finite differences measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oracles._engine.optional import missing
from oracles._engine.records import Row

# A panel: (oracle, formulation or None for any, its title).
Panel = tuple[str, str | None, str]


def pyplot() -> Any:
    """matplotlib.pyplot drawing to files (Agg), or an ImportError naming the ``plot`` extra."""
    reason = missing("plot")
    if reason:
        raise ImportError(f"the plots are drawn with matplotlib: {reason}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mine(rows: Sequence[Row], panel: Panel, variant: str) -> list[Row]:
    oracle, formulation, _ = panel
    return [r for r in rows if r.oracle == oracle and r.variant == variant
            and (formulation is None or r.formulation == formulation)]  # fmt: skip


def heatmaps(
    rows: Sequence[Row],
    networks: Sequence[str],
    parameters: Sequence[str],
    panels: Sequence[Panel],
    variants: Sequence[str],
    folder: Path,
    plt: Any,
) -> Path:
    """``relative_errors.png`` in ``folder``: one heat map per panel (rows) and variant
    (columns), networks down, parameters across, log10 of the largest relative error in each
    cell (one that fails is marked x, in red); a red line on the colour bar marks each pass
    threshold (rtol) found there, and a parameter a network lacks is a grey cell ``none``."""
    size = (6.5 * len(variants), (0.5 * len(networks) + 1.8) * len(panels))
    fig, axes = plt.subplots(len(panels), len(variants), figsize=size, squeeze=False)
    for row, panel in enumerate(panels):
        for ax, variant in zip(axes[row], variants, strict=True):
            mine = _mine(rows, panel, variant)
            grid = np.full((len(networks), len(parameters)), np.nan)
            failed = np.zeros(grid.shape, bool)
            for i, name in enumerate(networks):
                for j, param in enumerate(parameters):
                    cell = [r for r in mine if r.network == name and r.parameter == param]
                    if cell:
                        grid[i, j] = max(max(r.max_relative_error for r in cell), 1e-17)
                        failed[i, j] = not all(r.passed for r in cell)
            ax.set_facecolor("0.85")  # cells left blank (NaN) show this grey
            image = ax.imshow(np.log10(grid), vmin=-17, vmax=1, cmap="viridis")
            ax.set_xticks(range(len(parameters)), parameters)
            ax.set_yticks(range(len(networks)), networks)
            rtols = sorted({r.report.rtol for r in mine})
            passes = ", ".join(f"{rtol:.0e}" for rtol in rtols)
            ax.set_title(f"{panel[2]}, {variant}\nlog10 max relative error; passes below "
                         f"{passes} (red line)", fontsize=8, loc="left")  # fmt: skip
            for i, j in np.ndindex(grid.shape):
                if np.isnan(grid[i, j]):
                    ax.text(j, i, "none", ha="center", va="center", color="0.4", fontsize=6)
                else:
                    fails = {"fontweight": "bold", "bbox": {"facecolor": "red", "lw": 0, "pad": 1}}
                    exponent = round(float(np.log10(grid[i, j])))  # an int: never "-0"
                    ax.text(j, i, f"{exponent}{' x' if failed[i, j] else ''}",
                            ha="center", va="center", color="w", fontsize=7,
                            **(fails if failed[i, j] else {}))  # fmt: skip
            bar = fig.colorbar(image, ax=ax, shrink=0.8)
            for rtol in rtols:
                bar.ax.axhline(np.log10(rtol), color="red", lw=2)
    fig.suptitle("grey 'none': the network has no such parameter; x: the oracle fails it",
                 fontsize=8, y=0.995)  # fmt: skip
    fig.tight_layout()
    path = folder / "relative_errors.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def failures(rows: Sequence[Row], folder: Path, plt: Any) -> list[Path]:
    """For each row of ``rows`` that fails, the gradient under test against the values finite
    differences measured along the same coordinates or directions (the line: equal)."""
    written: list[Path] = []
    for row in (r for r in rows if not r.passed):
        c = row.report.comparisons
        numerical, analytic = c.numerical[c.judged], c.analytic[c.judged]
        if not numerical.size:
            continue
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(numerical, analytic, s=8)
        low = float(min(numerical.min(), analytic.min()))
        high = float(max(numerical.max(), analytic.max()))
        ax.plot([low, high], [low, high], "k--", lw=0.8, label="analytic = numerical")
        what = "directional derivatives" if row.report.mode == "directional" else "coordinates"
        ax.set_xlabel(f"numerical (finite differences, {what})")
        ax.set_ylabel("analytic (the backward under test)")
        ax.set_title(f"{row.network} {row.variant}: {row.parameter}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = folder / _safe(f"{row.network}_{row.variant}_{row.parameter}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
