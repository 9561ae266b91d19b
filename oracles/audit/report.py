"""The audit as a person reads it: terminal tables, Markdown, PNG figures; and --baseline.
Everything here formats what the audit measured; nothing is measured here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from oracles._engine.diagnosis import Diagnosis
from oracles.audit.findings import findings
from oracles.audit.records import Audit, Row, Verdict
from reference_nn import NETWORKS, VARIANTS

ORACLE_COLUMNS = (
    ("finite_difference", None, "FD"),
    ("jax", "own_forward", "JAX-own"),
    ("jax", "independent", "JAX-ind"),
)


def _cell(rows: list[Row]) -> str:
    if not rows:
        return "-"
    worst = max(rows, key=lambda r: r.max_relative_error)
    mark = "ok" if all(r.passed for r in rows) else "fails"
    return f"{worst.max_relative_error:.1e} {mark}"


def _columns(audit: Audit) -> list[tuple[str, str, str | None, str]]:
    return [
        (style, oracle, formulation, f"{style[:4]}/{label}")
        for style in audit.styles
        for oracle, formulation, label in ORACLE_COLUMNS
        if oracle == "finite_difference" or "jax" not in audit.skipped
    ]


def _select(rows: Iterable[Row], **match: Any) -> list[Row]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in match.items() if v is not None)]


def table(audit: Audit, name: str) -> list[list[str]]:
    """Rows (variant, parameter, one cell per style x oracle) for one network."""
    spec = NETWORKS[name]
    out = []
    for variant in VARIANTS:
        for parameter in spec.parameter_names:
            cells = [variant, parameter]
            for style, oracle, formulation, _ in _columns(audit):
                cells.append(
                    _cell(
                        _select(
                            audit.rows,
                            network=name,
                            variant=variant,
                            parameter=parameter,
                            style=style,
                            oracle=oracle,
                            formulation=formulation,
                        )
                    )
                )
            out.append(cells)
    return out


def _diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "correct": diagnosis.correct,
        "trusted": diagnosis.trusted,
        "text": str(diagnosis),
        "defects": [asdict(defect) for defect in diagnosis.defects],
    }


def audit_json(audit: Audit) -> dict[str, Any]:
    """The JSON document written by --json."""
    return {
        "results": [r.as_json() for r in audit.rows],
        "combined_directions": [r.as_json() for r in audit.combined],
        "properties": [asdict(p) for p in audit.probes],
        "attributions": [asdict(a) for a in audit.attributions],
        "findings": findings(audit),
        "diagnoses": {name: _diagnosis_json(d) for name, d in audit.diagnoses.items()},
        "verdicts": [asdict(v) for v in audit.verdicts],
        "oracle_disagreements": [asdict(c) for c in audit.consistency],
        "settings": audit.settings(),
        "reference_passed": audit.reference_passed,
        "harness_consistent": audit.harness_consistent,
    }


def _heading(name: str) -> str:
    c = NETWORKS[name].citation
    by = f", {c.author}" if c.author else ""
    return f'{name}: {c.document}, "{c.title}"{by}'


def _finding_lines(entry: dict[str, Any]) -> list[str]:
    lines = [f"reference: {entry['reference']}"]
    if not entry["published"]:
        lines.append("published: every gradient and probed property passes")
    for item in entry["published"]:
        lines.append(f"published: {item['what']}; {item['measured']}")
        for found in item.get("diagnosis", []):
            lines.append(f"    diagnosis: {found}")
        for cause in item["causes"]:
            lines.append(f"    caused by: {cause['what']} ({item['attribution']})")
            lines.append(f"      passage: {cause['passage']}")
    return lines


def terminal(audit: Audit, found: dict[str, dict[str, Any]]) -> str:
    """The audit for a terminal: a table and the findings per document, then a summary."""
    columns = ["variant", "param"] + [label for *_, label in _columns(audit)]
    out: list[str] = []
    for name in found:
        body = table(audit, name)
        widths = [max(len(r[i]) for r in [columns, *body]) for i in range(len(columns))]
        out.append(_heading(name))
        out.append(f"  finite differences: mode {audit.modes[name]}")
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in body:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        out.extend("  " + line for line in _finding_lines(found[name]))
        out.append("")
    out.append(summary(audit, found))
    return "\n".join(out)


def summary(audit: Audit, found: dict[str, dict[str, Any]]) -> str:
    """A few lines: what was measured, and the overall verdict."""
    checks = len(audit.rows) + len(audit.combined)
    lines = [
        f"audit: {checks} gradient checks on {len(found)} networks x {len(VARIANTS)} variants "
        f"x styles {', '.join(audit.styles)} in {audit.seconds:.0f} s "
        f"({audit.settings()['examples']} examples, float64)",
    ]
    for what, why in audit.skipped.items():
        lines.append(f"not run: {what}: {why}")
    lines.append(
        "reference gradients: "
        + ("all pass" if audit.reference_passed else "SOME ARE WRONG (exit status 1)")
    )
    published = [v for v in audit.verdicts if v.variant == "published"]
    for verdict, label in (("wrong", "wrong derivations"),
                           ("inexact", "inexact (numerical guards)")):  # fmt: skip
        lines.append(f"{label}: " + (_verdict_list(published, verdict) or "none"))
    explained = [c for c in audit.consistency if c.explained]
    for network_name, variant in dict.fromkeys((c.network, c.variant) for c in explained):
        mine = [c for c in explained if (c.network, c.variant) == (network_name, variant)]
        styles = ", ".join(dict.fromkeys(c.style for c in mine))
        params = ", ".join(dict.fromkeys(c.parameter for c in mine))
        lines.append(
            f"finite differences pass where JAX fails, explained by resolution: {network_name} "
            f"{variant} ({styles}; {params}): {mine[0].detail}"
        )
    for c in audit.consistency:
        if not c.explained:
            lines.append(
                f"HARNESS BUG (exit status 1): the oracles disagree on {c.network} {c.variant} "
                f"{c.style} {c.parameter}: {c.detail}"
            )
    return "\n".join(lines)


def _verdict_list(verdicts: list[Verdict], verdict: str) -> str:
    """Per network with parameters of ``verdict``: which, the largest error, the cause, and
    what it does to training."""
    parts = []
    for name in dict.fromkeys(v.network for v in verdicts if v.verdict == verdict):
        mine = [v for v in verdicts if v.network == name and v.verdict == verdict]
        worst = max(mine, key=lambda v: v.max_relative_error)
        text = (
            f"{name} ({', '.join(v.parameter for v in mine)}; largest error "
            f"{worst.max_relative_error:.2g}"
        )
        if worst.cause:
            text += f"; cause: {worst.cause}"
        if worst.consequence:
            c = worst.consequence
            text += (
                f"; in training ({c['iterations']} iterations): loss "
                f"{c['delta_loss']:+.3g}, test accuracy {c['delta_test_accuracy']:+.2f} points"
            )
        parts.append(text + ")")
    return "; ".join(parts)


def markdown(audit: Audit, found: dict[str, dict[str, Any]]) -> str:
    """The same as the terminal output, as a Markdown report."""
    labels = ["variant", "param"] + [label for *_, label in _columns(audit)]
    out = ["# Derivation audit", "", "```", summary(audit, found), "```", ""]
    out.append(
        "Cells give the maximum relative error over the parameter's checked coordinates or "
        "directions, and whether that oracle passes it (ok / fails). FD: finite "
        "differences; JAX-own: jax.grad of the variant's own forward and loss; JAX-ind: "
        "jax.grad of the network the document describes, written independently in jax.nn."
    )
    for name, entry in found.items():
        out += [
            "",
            f"## {_heading(name)}",
            "",
            f"Finite differences: mode {audit.modes[name]}.",
            "",
        ]
        out.append("| " + " | ".join(labels) + " |")
        out.append("|" + "---|" * len(labels))
        for row in table(audit, name):
            out.append("| " + " | ".join(row) + " |")
        out += ["", f"- **Reference**: {entry['reference']}"]
        if not entry["published"]:
            out.append("- **Published**: every gradient and probed property passes.")
        for item in entry["published"]:
            out.append(f"- **Published**: {item['what']}; {item['measured']}.")
            for found in item.get("diagnosis", []):
                out.append(f"  - diagnosis: {found}")
            for cause in item["causes"]:
                out.append(
                    f"  - caused by {cause['what']} ({item['attribution']}): `{cause['passage']}`"
                )
        if entry["unmeasured_departures"]:
            out.append("- Departures with no effect measured by this audit:")
            for d in entry["unmeasured_departures"]:
                out.append(f"  - {d['what']}")
    return "\n".join(out) + "\n"


def plots(audit: Audit, found: dict[str, dict[str, Any]], folder: Path) -> list[Path]:
    """A heat map of relative errors per parameter and document, per variant, and for
    each failing parameter the analytic against the numerical gradient; returns the PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    names = list(found)
    params = sorted(
        {p for n in names for p in NETWORKS[n].parameter_names}, key=lambda p: (p[1:], p[0])
    )
    panels = [
        (oracle, formulation, label)
        for oracle, formulation, label in ORACLE_COLUMNS
        if _select(audit.rows, oracle=oracle, formulation=formulation or "")
    ]
    size = (5.5 * len(VARIANTS), (0.5 * len(names) + 1.5) * len(panels))
    fig, axes = plt.subplots(len(panels), len(VARIANTS), figsize=size, squeeze=False)
    for row, (oracle, formulation, label) in enumerate(panels):
        for ax, variant in zip(axes[row], VARIANTS, strict=True):
            grid = np.full((len(names), len(params)), np.nan)
            for i, name in enumerate(names):
                for j, param in enumerate(params):
                    rows = _select(
                        audit.rows, network=name, variant=variant, parameter=param,
                        oracle=oracle, formulation=formulation or "",
                    )  # fmt: skip
                    if rows:
                        grid[i, j] = max(r.max_relative_error for r in rows)
            logs = np.log10(np.maximum(grid, 1e-17))
            image = ax.imshow(logs, vmin=-16, vmax=1, cmap="viridis")
            ax.set_xticks(range(len(params)), params)
            ax.set_yticks(range(len(names)), names)
            ax.set_title(f"{label}, {variant}: log10 max relative error", fontsize=9)
            for i, j in zip(*np.nonzero(np.isfinite(grid)), strict=True):
                ax.text(j, i, f"{logs[i, j]:.0f}", ha="center", va="center", color="w", fontsize=7)
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    path = folder / "relative_errors.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    written.extend(_scatter_failures(audit, folder, plt))
    return written


def _scatter_failures(audit: Audit, folder: Path, plt: Any) -> list[Path]:
    """For each failing published parameter, the analytic against the numerical values that
    finite differences compared (vectorised style)."""
    written: list[Path] = []
    failing = [
        r for r in audit.rows
        if r.variant == "published" and r.style == "vectorized"
        and r.oracle == "finite_difference" and not r.passed
    ]  # fmt: skip
    for row in failing:
        c = row.report.comparisons
        numerical, analytic = c.numerical[c.judged], c.analytic[c.judged]
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(numerical, analytic, s=8)
        low = float(min(numerical.min(), analytic.min()))
        high = float(max(numerical.max(), analytic.max()))
        ax.plot([low, high], [low, high], "k--", lw=0.8, label="analytic = numerical")
        what = "directional derivatives" if row.report.mode == "directional" else "coordinates"
        ax.set_xlabel(f"numerical (finite differences, {what})")
        ax.set_ylabel("analytic (published backward)")
        ax.set_title(f"{row.network} published: {row.parameter}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = folder / f"{row.network}_published_{row.parameter}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
