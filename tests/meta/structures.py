"""The diagnosis on structures from users' code, as scored cases of the mutation suite: each a
network of tests/test_own_code.py with one defect (or none), and the kinds and parameters the
diagnosis must name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests import test_own_code as own

# name -> (builder of (loss returning both, params, diagnose options),
#          expected [(kind, parameters, words the detail must hold)])
Case = tuple[Callable[[], tuple[Any, dict[str, Any], dict[str, Any]]], list[tuple[Any, ...]]]


def _scaled(factor: float, examples: int | None) -> Callable[[], Any]:
    def build() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        net = own.TwoLayerNet(reg=0.0)
        attrs = own.attributes(net, ["params"])

        def both(p: dict[str, Any]) -> Any:
            value, grads = attrs(lambda: net.loss(own.X_ROWS, own.Y_LABELS))(p)
            return value, {k: factor * g for k, g in grads.items()}

        return both, attrs.params, {"examples": examples}

    return build


def _masked() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    net = own.TwoLayerNet(reg=0.0)
    attrs = own.attributes(net, ["params"])

    def both(p: dict[str, Any]) -> Any:
        value, grads = attrs(lambda: net.loss(own.X_ROWS, own.Y_LABELS))(p)
        grads["W2"][:, 1], grads["b2"][1] = 0.0, 0.0
        return value, grads

    return both, attrs.params, {}


def _one_entry() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    rng = np.random.default_rng(7)
    X, t = rng.standard_normal((6, 3)), rng.standard_normal(6)

    def both(p: dict[str, Any]) -> Any:
        r = X @ p["w"] + p["c"] - t
        return 0.5 * float(np.sum(r**2)), {"w": X.T @ r, "c": 1.27 * np.sum(r, keepdims=True)}

    return both, {"w": np.ones(3), "c": np.array([0.3])}, {}


def _batch_norm(slip: str | None) -> Callable[[], Any]:
    def build() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        both, params = own._batch_norm(slip)
        return both, params, {"layers": own.LAYERS}

    return build


CASES: dict[str, Case] = {
    "scale_m_known": (
        _scaled(8.0, 8),
        [("scale", ("W1", "b1", "W2", "b2"), "missing division by m")],
    ),
    "scale_class_count": (
        _scaled(3.0, 8),
        [("scale", ("W1", "b1", "W2", "b2"), "stray constant factor 3")],
    ),
    "mask_of_one_layer": (_masked, [("localized", ("W2", "b2"), "")]),
    "one_entry_scaled": (_one_entry, [("unexplained", ("c",), "")]),
    "batch_norm_right": (_batch_norm(None), []),
    "batch_norm_backward_slip": (
        _batch_norm("bn_without_last_term"),
        [("propagation", ("W1",), "the error enters inside layer 1")],
    ),
    "batch_norm_weight_input": (_batch_norm("Zn_for_A1"), [("weight_product", ("W2",), "")]),
}


def score() -> tuple[int, list[str]]:
    """(cases diagnosed exactly as expected, the others with what was named)."""
    wrong = []
    for name, (build, expected) in CASES.items():
        both, params, options = build()
        found = own.diagnose(both, None, params, **options)
        named = [(d.kind, d.parameters) for d in found.defects]
        words = all(w in d.detail for d, (*_, w) in zip(found.defects, expected, strict=False))
        if named != [(kind, params) for kind, params, _ in expected] or not words:
            wrong.append(f"{name}: {found}")
    return len(CASES) - len(wrong), wrong
