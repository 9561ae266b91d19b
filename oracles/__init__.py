"""Independent judges of a hand-written gradient: finite differences and JAX autodiff.

The public surface is small: ``check_gradients`` / ``assert_gradients`` for any user's
``loss(params)`` and ``grad(params)``, ``diagnose`` (which defect, where), the report
types, and the tolerance tables.
The JAX oracle is in ``oracles.jax_oracle`` (it needs the ``jax`` extra).
"""

from oracles.check import LowPrecisionGradientWarning, check_gradients
from oracles.diagnosis import Defect, Diagnosis, assert_gradients, diagnose
from oracles.report import GradientReport, ParameterReport
from oracles.tolerances import AUTODIFF_TOLERANCES, TOLERANCES, Tolerance

__all__ = [
    "AUTODIFF_TOLERANCES",
    "TOLERANCES",
    "Defect",
    "Diagnosis",
    "GradientReport",
    "LowPrecisionGradientWarning",
    "ParameterReport",
    "Tolerance",
    "assert_gradients",
    "check_gradients",
    "diagnose",
]
