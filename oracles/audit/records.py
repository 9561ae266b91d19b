"""The audit's records: what it measured, one dataclass per kind of measurement; a gradient
row (``Row``, shared with your own networks' audit) refers to the check's own record."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from oracles._engine.diagnosis import Diagnosis
from oracles._engine.records import Row
from oracles._engine.tolerances import AUTODIFF_TOLERANCES, TOLERANCES

EXAMPLES = 64
DIRECTIONS = 16
MAX_COORDINATES = 8_000


@dataclass(frozen=True)
class Probe:
    """One property of one variant's primitives, measured."""

    network: str
    variant: str
    property: str
    concerns: str
    passed: bool
    measured: str


@dataclass(frozen=True)
class Attribution:
    """A counterfactual: the published variant re-measured with one departure reverted.

    ``check`` is ``backward`` (the backward against the variant's own forward),
    ``forward`` (against the network the document describes) or a probed property.
    """

    network: str
    check: str
    concerns: str
    departure: str
    error_before: float
    error_after: float
    passed_after: bool


@dataclass(frozen=True)
class Consistency:
    """Finite differences and jax.grad of the same loss disagreeing on one parameter, and
    whether the oracle that passed could have seen the error (if it could: a harness bug)."""

    network: str
    variant: str
    style: str
    parameter: str
    finite_difference_passed: bool
    jax_passed: bool
    explained: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The verdict on one parameter of one network and variant (the JSON's ``verdicts``)."""

    network: str
    variant: str
    parameter: str
    verdict: str
    max_relative_error: float
    defects: tuple[str, ...]
    cause: str | None
    consequence: dict[str, Any] | None


@dataclass
class Audit:
    """Everything the audit measured, and how."""

    rows: list[Row] = field(default_factory=list)
    combined: list[Row] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)
    styles: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    diagnoses: dict[str, Diagnosis] = field(default_factory=dict)
    consistency: list[Consistency] = field(default_factory=list)
    consequences: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def harness_consistent(self) -> bool:
        """True unless two oracles disagree in a way their resolutions do not explain."""
        return all(c.explained for c in self.consistency)

    @property
    def reference_passed(self) -> bool:
        """True when every reference gradient passes every oracle in every style."""
        return all(r.passed for r in self.rows + self.combined if r.variant == "reference")

    def settings(self) -> dict[str, Any]:
        """How the audit measured, for the reports."""
        return {
            "examples": EXAMPLES,
            "seed": 0,
            "dtype": "float64",
            "finite_difference_modes": self.modes,
            "directions": DIRECTIONS,
            "max_coordinates_for_all": MAX_COORDINATES,
            "tolerances": {str(k): asdict(v) for k, v in TOLERANCES.items()},
            "autodiff_tolerances": {str(k): asdict(v) for k, v in AUTODIFF_TOLERANCES.items()},
            "styles": list(self.styles),
            "skipped": self.skipped,
            "machine": platform.platform(),
            "seconds": round(self.seconds, 1),
        }
