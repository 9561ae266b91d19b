"""The public checks, what a caller imports (through ``oracles``): ``gradients``
(check_gradients, assert_gradients, diagnose), ``points`` (check_at_points), ``exact``
(compare_gradients), ``adapters`` (attributes, gradients_from_update), ``primitives``
(check_primitive; ``properties`` holds the properties, with hypothesis) and ``strategies``
(params_like, a hypothesis strategy). The records they return are reached from results; here:
the warnings and errors a check raises, and its default tolerances.
"""

from oracles._engine.diagnosis import Defect, Diagnosis
from oracles._engine.precision import LossIgnoresParameters, LossNotRepeatable
from oracles._engine.records import GradientReport, ParameterReport
from oracles._engine.tolerances import AUTODIFF_TOLERANCES, TOLERANCES
from oracles.checks.exact import compare_gradients
from oracles.checks.gradients import GradientShapeWarning, LowPrecisionGradientWarning
from oracles.checks.points import PointsReport

# What a caller catches, filters, annotates or reads the defaults of, and the exact comparison.
__all__ = [
    "AUTODIFF_TOLERANCES",
    "TOLERANCES",
    "Defect",
    "Diagnosis",
    "GradientReport",
    "GradientShapeWarning",
    "LossIgnoresParameters",
    "LossNotRepeatable",
    "LowPrecisionGradientWarning",
    "ParameterReport",
    "PointsReport",
    "compare_gradients",
]
