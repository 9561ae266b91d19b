"""``check_primitive`` / ``assert_primitive``: a softmax, cross-entropy, one-hot or activation
of yours against the properties of its kind (``oracles.checks.properties``, which needs the
``properties`` extra: hypothesis finds and shrinks the breaking input, scipy is the oracle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oracles._engine.optional import missing

if TYPE_CHECKING:
    from oracles.checks.properties import PrimitiveReport

PRIMITIVES = (
    "softmax", "log_softmax", "cross_entropy", "one_hot", "sigmoid", "tanh", "relu",
    "leaky_relu", "sigmoid_derivative", "tanh_derivative", "relu_derivative",
)  # fmt: skip


def check_primitive(fn: Callable[..., Any], kind: str, **conventions: Any) -> PrimitiveReport:
    """Check ``fn`` (a primitive of ``kind``, one of PRIMITIVES, written with ``conventions``:
    ``axis``, ``num_classes``, ``takes``, ``labels``, ``of``, ``slope``, ``arrays``; see
    ``oracles.checks.properties``) against its properties; each failure comes with the
    smallest input hypothesis finds that breaks it. The report is falsy when one fails."""
    reason = missing("properties")
    if reason:
        raise ImportError(f"oracles.check_primitive checks properties with hypothesis: {reason}")
    from oracles.checks.properties import properties_of

    return properties_of(fn, kind, **conventions)


def assert_primitive(fn: Callable[..., Any], kind: str, **conventions: Any) -> PrimitiveReport:
    """``check_primitive``, raising AssertionError with its summary when a property fails."""
    __tracebackhide__ = True
    report = check_primitive(fn, kind, **conventions)
    if not report.passed:
        raise AssertionError(report.summary())
    return report
