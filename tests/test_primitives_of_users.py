"""check_primitive on textbook primitives (every property holds) and on each classic defect
(the named property fails, with a shrunk input), in every convention."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from oracles.checks.primitives import PRIMITIVES, assert_primitive, check_primitive


def _softmax(axis):
    def softmax(Z):
        E = np.exp(Z - Z.max(axis=axis, keepdims=True))
        return E / E.sum(axis=axis, keepdims=True)

    return softmax


def _log_softmax(axis):
    def log_softmax(Z):
        shifted = Z - Z.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    return log_softmax


def _ce_logits(axis, one_hot):
    def cross_entropy(Z, y):
        log_p = _log_softmax(axis)(Z)
        if one_hot:
            return -np.sum(y * log_p) / Z.shape[1 - axis]
        m = y.size
        return -np.mean(log_p[y, np.arange(m)] if axis == 0 else log_p[np.arange(m), y])

    return cross_entropy


def _ce_probabilities(axis, eps=0.0):
    def cross_entropy(P, y):
        m = y.size
        picked = P[y, np.arange(m)] if axis == 0 else P[np.arange(m), y]
        return -np.mean(np.log(picked + eps))

    return cross_entropy


RIGHT = [
    (_softmax(0), "softmax", {"axis": 0}),
    (_softmax(1), "softmax", {"axis": 1}),
    (lambda Z: scipy.special.softmax(Z, axis=0), "softmax", {}),
    (_log_softmax(0), "log_softmax", {"axis": 0}),
    (_log_softmax(1), "log_softmax", {"axis": 1}),
    (_ce_logits(0, False), "cross_entropy", {"axis": 0}),
    (_ce_logits(1, True), "cross_entropy", {"axis": 1, "labels": "one_hot"}),
    (_ce_probabilities(0), "cross_entropy", {"axis": 0, "takes": "probabilities"}),
    (lambda y, C: np.eye(C)[y].T, "one_hot", {"num_classes": 10}),
    (lambda y: np.eye(4)[y], "one_hot", {"num_classes": 4, "axis": 1, "passes_num_classes": False}),
    (scipy.special.expit, "sigmoid", {}),
    (lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                        np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))), "sigmoid", {}),
    (np.tanh, "tanh", {}),
    (lambda x: np.maximum(x, 0), "relu", {}),
    (lambda x: np.where(x > 0, x, 0.2 * x), "leaky_relu", {"slope": 0.2}),
    (lambda x: scipy.special.expit(x) * (1 - scipy.special.expit(x)), "sigmoid_derivative", {}),
    (lambda a: a * (1 - a), "sigmoid_derivative", {"of": "output"}),
    (lambda x: 1 - np.tanh(x) ** 2, "tanh_derivative", {}),
    (lambda a: 1 - a**2, "tanh_derivative", {"of": "output"}),
    (lambda x: (x > 0).astype(float), "relu_derivative", {}),
    (lambda x: (x >= 0).astype(float), "relu_derivative", {}),
]  # fmt: skip


@pytest.mark.parametrize(("fn", "kind", "conventions"), RIGHT)
def test_a_textbook_primitive_passes_every_property(fn, kind, conventions) -> None:
    report = assert_primitive(fn, kind, **conventions)
    assert report.passed and report.checked


def _naive_sigmoid(x):
    return 1 / (1 + np.exp(-x))


DEFECTS = [
    ("unshifted softmax", lambda Z: np.exp(Z) / np.exp(Z).sum(axis=0), "softmax", {},
     "finite, without warnings"),
    ("softmax along the wrong axis", _softmax(1), "softmax", {"axis": 0}, "sums to 1"),
    ("one-hot as wide as the labels present", lambda y, C: np.eye(y.max() + 1)[y].T, "one_hot",
     {"num_classes": 10}, "10 wide whatever labels"),
    ("naive sigmoid on large inputs", _naive_sigmoid, "sigmoid", {}, "finite, without warnings"),
    ("log(p + eps) cross-entropy", _ce_probabilities(0, eps=1e-8), "cross_entropy",
     {"takes": "probabilities"}, "equals the log-sum-exp form"),
    ("cross-entropy of an unshifted softmax",
     lambda Z, y: -np.mean(np.log((np.exp(Z) / np.exp(Z).sum(axis=0))[y, np.arange(y.size)])),
     "cross_entropy", {}, "equals the log-sum-exp form"),
    ("tanh derivative without the square", lambda x: 1 - np.tanh(x), "tanh_derivative", {},
     "matches finite differences"),
    ("sigmoid derivative written for A, applied to Z", lambda x: x * (1 - x),
     "sigmoid_derivative", {}, "matches finite differences"),
    ("ReLU'(0) = 2", lambda x: np.where(x == 0, 2.0, (x > 0).astype(float)), "relu_derivative",
     {}, "between the one-sided derivatives"),
    ("leaky slope applied to the positive side", lambda x: np.where(x > 0, 0.01 * x, x),
     "leaky_relu", {}, "equals its definition"),
]  # fmt: skip


@pytest.mark.parametrize(("defect", "fn", "kind", "conventions", "words"), DEFECTS,
                         ids=[d[0] for d in DEFECTS])  # fmt: skip
def test_each_classic_defect_fails_its_property_with_a_shrunk_input(
    defect, fn, kind, conventions, words
) -> None:
    report = check_primitive(fn, kind, **conventions)
    assert not report.passed
    failure = next((f for f in report.failures if words in f.property), None)
    assert failure is not None, report.summary()
    assert failure.expected and failure.got and failure.input is not None
    with pytest.raises(AssertionError, match="FAILS"):
        assert_primitive(fn, kind, **conventions)


def test_the_breaking_input_is_shrunk() -> None:
    """The unshifted softmax breaks first above exp's range: hypothesis finds logits just past
    709.78, in the smallest array it can."""
    report = check_primitive(lambda Z: np.exp(Z) / np.exp(Z).sum(axis=0), "softmax")
    (failure,) = [f for f in report.failures if "finite" in f.property]
    assert failure.input.size <= 2 and 709 < np.max(failure.input) < 711


def test_every_kind_is_covered_and_an_unknown_one_is_named() -> None:
    assert {kind for _, kind, _ in RIGHT} == set(PRIMITIVES)
    with pytest.raises(ValueError, match="unknown kind 'softplus'"):
        check_primitive(np.tanh, "softplus")
