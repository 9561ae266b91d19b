"""Independent judges of a hand-written gradient.

``check_gradients`` / ``assert_gradients`` compare any ``grad(params)`` with finite
differences of ``loss(params)``; ``diagnose`` names what is wrong and where;
``compare_gradients`` judges against an exact gradient; ``gradients_from_update`` and
``attributes`` take code that only updates, or keeps its parameters in objects;
``check_primitive`` checks a softmax, one-hot, loss or activation (needs hypothesis);
``Case`` / ``audit_case`` / ``assert_case`` audit your own network as the documents are
(``python -m oracles.audit MODULE:FUNCTION``). Parameters may be NumPy, CuPy or jax.numpy
arrays (``oracles.kinds``). Nothing here knows the five documents: their audit is
``oracles.audit`` (``python -m oracles.audit``).
"""

from oracles.adapters import Attributes, attributes, gradients_from_update
from oracles.check import (
    GradientShapeWarning,
    LowPrecisionGradientWarning,
    assert_gradients,
    check_gradients,
    diagnose,
)
from oracles.diagnosis import Defect, Diagnosis
from oracles.exact import compare_gradients
from oracles.points import PointsReport, assert_at_points, check_at_points
from oracles.report import Comparisons, GradientReport, ParameterReport
from oracles.tolerances import AUTODIFF_TOLERANCES, TOLERANCES, Tolerance

# Property checks of primitives need hypothesis: loaded on first use, not with the checker.
_NEEDS_HYPOTHESIS = ("assert_primitive", "check_primitive")
# Your own network's audit (oracles.case): loaded on first use.
_CASES = ("Case", "CaseAudit", "assert_case", "audit_case", "audit_cases")


def __getattr__(name: str) -> object:
    if name in _NEEDS_HYPOTHESIS:
        from oracles.optional import missing

        reason = missing("properties")
        if reason:
            raise ImportError(f"oracles.{name} checks properties with hypothesis: {reason}")
        from oracles import primitives

        return getattr(primitives, name)
    if name in _CASES:
        from oracles import case

        return getattr(case, name)
    raise AttributeError(f"module 'oracles' has no attribute {name!r}")


__all__ = [
    "AUTODIFF_TOLERANCES",
    "TOLERANCES",
    "Attributes",
    "Case",
    "CaseAudit",
    "Comparisons",
    "Defect",
    "Diagnosis",
    "GradientReport",
    "GradientShapeWarning",
    "LowPrecisionGradientWarning",
    "ParameterReport",
    "PointsReport",
    "Tolerance",
    "assert_at_points",
    "assert_case",
    "assert_gradients",
    "assert_primitive",
    "attributes",
    "audit_case",
    "audit_cases",
    "check_at_points",
    "check_gradients",
    "check_primitive",
    "compare_gradients",
    "diagnose",
    "gradients_from_update",
]
