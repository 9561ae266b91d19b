"""Plain-words findings per document, composed from the audit's measurements.

A finding names what was measured wrong (which gradient or primitive, by how much, by
which oracle) and the spec's departure that causes it, with the document's passage.
Nothing here decides a verdict: it only groups the measured rows and probes.
"""

from __future__ import annotations

from typing import Any

from oracles._engine.records import Row
from oracles.audit.records import Audit
from reference_nn import NETWORKS
from reference_nn.spec import Departure, NetworkSpec

BACKWARD = ("bias_gradient", "activation_derivative", "loss")
FORWARD = ("activation", "softmax", "loss")
PROBE_CAUSES = {"softmax": ("softmax", "activation"), "loss": ("loss", "softmax")}


def _causes(spec: NetworkSpec, concerns: tuple[str, ...]) -> list[Departure]:
    return [d for d in spec.departures if d.concerns in concerns]


def _attributed(
    audit: Audit, spec: NetworkSpec, check: str, fallback: tuple[str, ...]
) -> tuple[list[Departure], str]:
    """The departures whose reversal alone makes ``check`` pass (measured), and how found."""
    tried = [a for a in audit.attributions if a.network == spec.name and a.check == check]
    fixes = {a.departure for a in tried if a.passed_after}
    if fixes:
        return [d for d in spec.departures if d.what in fixes], "reverting it alone passes"
    helps = {a.departure for a in tried if a.error_after < a.error_before / 10}
    if helps:
        return [d for d in spec.departures if d.what in helps], "reverting it cuts the error 10x"
    return _causes(spec, fallback), "no single reversal fixes it; listed by what it concerns"


def _worst(rows: list[Row]) -> Row:
    return max(rows, key=lambda r: r.max_relative_error)


def _cause_dicts(departures: list[Departure]) -> list[dict[str, str]]:
    return [{"what": d.what, "passage": d.passage} for d in departures]


def _gradient_findings(audit: Audit, spec: NetworkSpec, rows: list[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    backward = [
        r
        for r in rows
        if not r.passed and (r.oracle == "finite_difference" or r.formulation == "own_forward")
    ]
    if backward:
        params = sorted({r.parameter for r in backward})
        only_biases = all(p.startswith("b") for p in params)
        worst = _worst(backward)
        oracles = sorted(
            {r.oracle + (f" ({r.formulation})" if r.formulation else "") for r in backward}
        )
        causes, how = _attributed(
            audit, spec, "backward", ("bias_gradient",) if only_biases else BACKWARD
        )
        out.append(
            {
                "kind": "backward",
                "what": f"the hand-written gradient of {', '.join(params)} is not the derivative "
                "of the document's own forward pass and loss",
                "measured": f"max relative error {worst.max_relative_error:.3g} "
                f"({worst.parameter}, {worst.style}); flagged by {', '.join(oracles)}",
                "causes": _cause_dicts(causes),
                "attribution": how,
            }
        )
    backward_params = {r.parameter for r in backward}
    forward = [
        r
        for r in rows
        if not r.passed and r.formulation == "independent" and r.parameter not in backward_params
    ]
    if forward:
        params = sorted({r.parameter for r in forward})
        worst = _worst(forward)
        causes, how = _attributed(audit, spec, "forward", FORWARD)
        out.append(
            {
                "kind": "forward",
                "what": f"the gradient of {', '.join(params)} is right for the document's own "
                "forward pass, but that forward is not the network it describes",
                "measured": f"against jax.nn autodiff of the described network: max relative "
                f"error {worst.max_relative_error:.3g} ({worst.parameter})",
                "causes": _cause_dicts(causes),
                "attribution": how,
            }
        )
    return out


def findings(audit: Audit) -> dict[str, dict[str, Any]]:
    """Per network: the verdict on the reference and the findings on the published variant."""
    result: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r.network for r in audit.rows + audit.combined):
        spec = NETWORKS[name]
        reference = [
            r for r in audit.rows + audit.combined if r.network == name and r.variant == "reference"
        ]
        published = [r for r in audit.rows if r.network == name and r.variant == "published"]
        wrong_reference = [r for r in reference if not r.passed]
        items = _gradient_findings(audit, spec, published)
        diagnosis = audit.diagnoses.get(name)
        for item in items:
            if diagnosis is not None and not diagnosis.correct:
                item["diagnosis"] = [
                    f"[{d.kind}] {', '.join(d.parameters)}: {d.detail}" for d in diagnosis.defects
                ]
        for probe in audit.probes:
            if probe.network == name and probe.variant == "published" and not probe.passed:
                concerns = PROBE_CAUSES.get(probe.concerns, (probe.concerns,))
                causes, how = _attributed(audit, spec, probe.property, concerns)
                items.append(
                    {
                        "kind": "property",
                        "what": f"property fails: {probe.property}",
                        "measured": probe.measured,
                        "causes": _cause_dicts(causes),
                        "attribution": how,
                    }
                )
        implicated = {c["what"] for item in items for c in item["causes"]}
        result[name] = {
            "document": spec.citation.document,
            "title": spec.citation.title,
            "author": spec.citation.author,
            "reference_passed": not wrong_reference,
            "reference": (
                f"every reference gradient passes ({len(reference)} checks)"
                if not wrong_reference
                else "REFERENCE GRADIENT WRONG: "
                + ", ".join(
                    sorted({f"{r.parameter} ({r.style}, {r.oracle})" for r in wrong_reference})
                )
            ),
            "published": items,
            "published_gradients_pass": all(r.passed for r in published),
            "unmeasured_departures": [
                {"what": d.what, "passage": d.passage}
                for d in spec.departures
                if d.what not in implicated
            ],
        }
    return result
