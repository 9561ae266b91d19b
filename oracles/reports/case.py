"""The reports of your own networks' audit (``oracles.own_network``): terminal, Markdown,
JSON, plots.

The JSON's ``results`` rows have the five documents' audit's keys (``network`` is the case's
name, ``variant`` is ``yours``), so that ``--baseline`` compares them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracles.own_network.case import CaseAudit

ORACLE_WORDS = {
    ("finite_difference", "own_loss"): "finite differences of your loss",
    ("finite_difference", "control_variate"): "your loss, reference as control variate",
    ("jax", "reference"): "jax.grad of the network you meant",
}


def _column(oracle: str, formulation: str) -> str:
    return ORACLE_WORDS.get((oracle, formulation), f"{oracle} ({formulation})")


def _table(audit: CaseAudit) -> list[tuple[str, str, str, str, str, str]]:
    """(parameter, oracle, max relative error, resolution, ok/FAILS, verdict) rows."""
    verdicts = {v.parameter: v.verdict for v in audit.verdicts}
    return [
        (j.report.name, _column(j.oracle, j.formulation), f"{j.report.max_relative_error:.1e}",
         f"{j.report.resolution:.0e}", "ok" if j.report.passed else "FAILS",
         verdicts.get(j.report.name, ""))
        for j in audit.judged
    ]  # fmt: skip


def _lines(audit: CaseAudit) -> list[str]:
    out = [f"{audit.name}: {audit.worst()}"]
    groups: dict[tuple[str, str], list[str]] = {}
    for v in audit.verdicts:
        groups.setdefault((v.verdict, v.why), []).append(v.parameter)
    out += [f"  {', '.join(names)}: {found}: {why}" for (found, why), names in groups.items()]
    if audit.loss_gap is not None:
        out.append(f"  |your loss - the reference| at the point: {audit.loss_gap:.3g}")
    out += [f"  read: {note}" for note in audit.readings]
    if audit.arrays != "numpy":
        out.append(f"  {audit.arrays} arrays: your functions got float64 copies on their device; "
                   f"{audit.transfers} arrays or values read back")  # fmt: skip
    if audit.diagnosis is not None and not audit.diagnosis.correct:
        out += [f"  diagnosis: [{d.kind}] {', '.join(d.parameters)}: {d.detail}"
                for d in audit.diagnosis.defects]  # fmt: skip
    for p in audit.primitives:
        out += [f"  {line}" for line in p.summary().splitlines()]
    return out


def terminal(audits: Sequence[CaseAudit]) -> str:
    """Each case: a table per parameter and oracle, the verdicts and why, the diagnosis and
    every primitive's properties."""
    lines: list[str] = []
    for audit in audits:
        w = max(5, *(len(j.report.name) for j in audit.judged))
        lines.append(f"{'param':<{w}} {'oracle':<42} {'max rel err':>11} {'resolution':>10}  "
                     "result  verdict")  # fmt: skip
        lines += [f"{p:<{w}} {o:<42} {e:>11} {r:>10}  {ok:<6}  {v}"
                  for p, o, e, r, ok, v in _table(audit)]  # fmt: skip
        lines += _lines(audit)
        lines.append("")
    worst = {a.name: a.worst() for a in audits}
    lines.append("verdicts: " + ", ".join(f"{n} {w}" for n, w in worst.items()))
    return "\n".join(lines)


def markdown(audits: Sequence[CaseAudit]) -> str:
    """The same as ``terminal``, as a Markdown document."""
    out = ["# Gradient audit of your networks", ""]
    for audit in audits:
        out += [f"## {audit.name}: {audit.worst()}", "",
                "| parameter | oracle | max relative error | resolution | result | verdict |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        out += [f"| {' | '.join(row)} |" for row in _table(audit)]
        out += ["", *(f"- {line.strip()}" for line in _lines(audit)[1:]), ""]
    return "\n".join(out)


def as_json(audits: Sequence[CaseAudit]) -> dict[str, Any]:
    """The JSON written by --json: ``results`` (one row per parameter and oracle),
    ``verdicts``, ``diagnoses``, ``properties``."""
    return {
        "results": [
            {"network": a.name, "variant": "yours", "style": "", "oracle": j.oracle,
             "formulation": j.formulation, **j.report.as_json()}
            for a in audits for j in a.judged
        ],
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
    """One PNG per case: each parameter's largest relative error by each oracle, against the
    resolution it could see (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for audit in audits:
        fig, ax = plt.subplots(figsize=(7, 4))
        columns = list(dict.fromkeys((j.oracle, j.formulation) for j in audit.judged))
        names = list(dict.fromkeys(j.report.name for j in audit.judged))
        width = 0.8 / len(columns)
        for c, column in enumerate(columns):
            mine = {j.report.name: j.report for j in audit.judged
                    if (j.oracle, j.formulation) == column}  # fmt: skip
            xs = [i + c * width for i, n in enumerate(names) if n in mine]
            errors = [max(mine[n].max_relative_error, 1e-17) for n in names if n in mine]
            ax.bar(xs, errors, width, label=_column(*column))
            ax.scatter(xs, [mine[n].resolution for n in names if n in mine], marker="_",
                       color="black", s=200, zorder=3)  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
        ax.set_ylabel("max relative error (bar) / resolution (-)")
        ax.set_title(f"{audit.name}: {audit.worst()}")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
        fig.tight_layout()
        path = folder / f"{_safe(audit.name)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "case"
