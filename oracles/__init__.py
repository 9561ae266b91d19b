"""Independent judges of a hand-written gradient.

``check_gradients`` / ``assert_gradients`` compare any ``grad(params)`` with finite
differences of ``loss(params)``; ``diagnose`` names what is wrong and where;
``compare_gradients`` judges against an exact gradient. Nothing here knows the five documents:
their audit is the subpackage ``oracles.audit`` (``python -m oracles.audit``).
"""

from oracles.check import LowPrecisionGradientWarning, assert_gradients, check_gradients, diagnose
from oracles.diagnosis import Defect, Diagnosis
from oracles.exact import compare_gradients
from oracles.report import Comparisons, GradientReport, ParameterReport
from oracles.tolerances import AUTODIFF_TOLERANCES, TOLERANCES, Tolerance

__all__ = [
    "AUTODIFF_TOLERANCES",
    "TOLERANCES",
    "Comparisons",
    "Defect",
    "Diagnosis",
    "GradientReport",
    "LowPrecisionGradientWarning",
    "ParameterReport",
    "Tolerance",
    "assert_gradients",
    "check_gradients",
    "compare_gradients",
    "diagnose",
]
