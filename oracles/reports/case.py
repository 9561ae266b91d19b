"""The reports of your own networks' audit (``oracles.own_network``): terminal, Markdown, JSON
and plots, written with the same tables and figures as the five documents' audit.

The JSON's ``results`` rows have the five documents' audit's keys (``network`` is the case's
name, ``variant`` is ``yours``), so that ``--baseline`` compares them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracles.own_network.case import ORACLE_WORDS, TABLE, CaseAudit
from oracles.reports.plots import failures, heatmaps, pyplot
from oracles.reports.text import markdown_table


def terminal(audits: Sequence[CaseAudit]) -> str:
    """Each case: a table per parameter and oracle, the verdicts and why, the diagnosis and
    every primitive's properties; then every case's verdict."""
    lines = [f"{audit}\n" for audit in audits]
    lines.append("verdicts: " + ", ".join(f"{a.name} {a.worst()}" for a in audits))
    return "\n".join(lines)


def markdown(audits: Sequence[CaseAudit]) -> str:
    """The same as ``terminal``, as a Markdown document."""
    out = ["# Gradient audit of your networks", ""]
    for audit in audits:
        out += [f"## {audit.name}: {audit.worst()}", "", *markdown_table(TABLE, audit.table())]
        out += ["", *(f"- {line}" for line in audit.notes()), ""]
    return "\n".join(out)


def as_json(audits: Sequence[CaseAudit]) -> dict[str, Any]:
    """The JSON written by --json: ``results`` (one row per parameter and oracle),
    ``verdicts``, ``diagnoses``, ``properties``."""
    return {
        "results": [r.as_json() for a in audits for r in a.rows],
        "verdicts": [
            {"network": a.name, "parameter": v.parameter, "verdict": v.verdict, "own": v.own,
             "meant": v.meant, "max_relative_error": v.max_relative_error, "why": v.why}
            for a in audits for v in a.verdicts
        ],
        "diagnoses": {
            a.name: [{"kind": d.kind, "parameters": list(d.parameters), "detail": d.detail}
                     for d in (a.diagnosis.defects if a.diagnosis else ())]
            for a in audits
        },
        "properties": [
            {"network": a.name, "kind": p.kind, "property": words,
             "passed": all(f.property != words for f in p.failures),
             "failure": next(({"input": repr(f.input), "expected": f.expected, "got": f.got}
                              for f in p.failures if f.property == words), None)}
            for a in audits for p in a.primitives for words in p.checked
        ],
        "loss_gaps": {a.name: a.loss_gap for a in audits},
        "arrays": {a.name: {"kind": a.arrays, "transfers": a.transfers} for a in audits},
    }  # fmt: skip


def plots(audits: Sequence[CaseAudit], folder: Path) -> list[Path]:
    """The documents' figures for your cases: each parameter's largest relative error by each
    oracle (a heat map, the pass threshold on its scale), and for each failing parameter the
    gradient under test against the values finite differences measured."""
    plt = pyplot()
    rows = [r for a in audits for r in a.rows]
    panels = [(o, f, words) for (o, f), words in ORACLE_WORDS.items()
              if any((r.oracle, r.formulation) == (o, f) for r in rows)]  # fmt: skip
    networks = [a.name for a in audits]
    parameters = list(dict.fromkeys(r.parameter for r in rows))
    folder.mkdir(parents=True, exist_ok=True)
    written = [heatmaps(rows, networks, parameters, panels, ("yours",), folder, plt)]
    return written + failures([r for r in rows if r.formulation == "own_loss"], folder, plt)
