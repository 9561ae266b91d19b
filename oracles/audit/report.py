"""The audit as a person reads it: terminal tables, Markdown, PNG figures; and --baseline.
Everything here formats what the audit measured; nothing is measured here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from oracles._engine.diagnosis import Diagnosis
from oracles._engine.records import Row
from oracles.audit.findings import findings
from oracles.audit.records import Audit, Verdict
from oracles.reports.plots import failures, heatmaps, pyplot
from oracles.reports.text import aligned, markdown_table
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
        out.append(_heading(name))
        out.append(f"  finite differences: mode {audit.modes[name]}")
        out += aligned(columns, table(audit, name), indent="  ")
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
        out += markdown_table(labels, table(audit, name))
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
    """A heat map of relative errors per parameter and document, per oracle and variant, and
    for each failing published parameter (vectorised style) the analytic against the numerical
    gradient; returns the PNGs."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    names = list(found)
    params = sorted(
        {p for n in names for p in NETWORKS[n].parameter_names}, key=lambda p: (p[1:], p[0])
    )
    panels = [(oracle, formulation or "", label) for oracle, formulation, label in ORACLE_COLUMNS
              if _select(audit.rows, oracle=oracle, formulation=formulation or "")]  # fmt: skip
    written = [heatmaps(audit.rows, names, params, panels, VARIANTS, folder, plt)]
    failing = [r for r in audit.rows if r.variant == "published" and r.style == "vectorized"
               and r.oracle == "finite_difference"]  # fmt: skip
    return written + failures(failing, folder, plt)
