"""Independent judges of a hand-written gradient: the public names, one door.

Checks (``oracles.checks``): ``check_gradients`` / ``assert_gradients`` compare any
``grad(params)`` with finite differences of ``loss(params)``; ``diagnose`` names what is wrong
and where; ``check_backward`` / ``assert_backward`` judge one layer's backward on its own;
``check_at_points`` / ``assert_at_points`` repeat the check at many seeded points;
``gradients_from_update`` and
``attributes`` take code that only updates, or keeps its parameters in objects;
``check_primitive`` / ``assert_primitive`` check a softmax, one-hot, loss or activation (the
``properties`` extra). Your own network audited as the documents are (``oracles.own_network``,
``python -m oracles MODULE:FUNCTION``): ``Case``, ``audit_case``, ``assert_case``, and
``mlp_reference``, the perceptron you meant in JAX (the ``jax`` extra). Every result is a record
whose truth value is its verdict. Nothing here knows the five documents: their audit is
``oracles.audit`` (``python -m oracles.audit``).
"""

from oracles.checks.adapters import attributes, gradients_from_update
from oracles.checks.backward import assert_backward, check_backward
from oracles.checks.gradients import assert_gradients, check_gradients, diagnose
from oracles.checks.points import assert_at_points, check_at_points
from oracles.checks.primitives import assert_primitive, check_primitive
from oracles.own_network.case import Case, assert_case, audit_case
from oracles.own_network.meant import mlp_reference

__all__ = [
    "Case",
    "assert_at_points",
    "assert_backward",
    "assert_case",
    "assert_gradients",
    "assert_primitive",
    "attributes",
    "audit_case",
    "check_at_points",
    "check_backward",
    "check_gradients",
    "check_primitive",
    "diagnose",
    "gradients_from_update",
    "mlp_reference",
]
