"""The diagnosis names each kind of defect on a bug built for it, and none on right gradients.

The network here is written the other way round from ours, as many tutorials do: examples
as rows, X (m, n_0) @ W (n_{k-1}, n_k) + b (1, n_k), a 6-5-5-3 ReLU network with a softmax
cross-entropy and an optional L2 term; ``backward(..., bug=...)`` injects one slip of
oracles._engine.slips, or one error no derivation makes (zero, one entry, noise).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from oracles import assert_gradients, check_gradients, diagnose
from oracles._engine.diagnosis import DEFECTS, LAYER_DEFECTS, NETWORK_DEFECTS, POINT_DEFECTS
from oracles._engine.slips import MLP, Slip, gradients

M = 12


def _data(seed=0, dead_unit=False):
    rng = np.random.default_rng(seed)
    sizes = (6, 5, 5, 3)
    p = {}
    for k in range(1, 4):
        p[f"W{k}"] = rng.standard_normal((sizes[k - 1], sizes[k])) / np.sqrt(sizes[k - 1])
        p[f"b{k}"] = rng.uniform(-0.5, 0.5, (1, sizes[k]))
    if dead_unit:  # unit 0 of layer 1 on its kink for every example
        p["W1"][:, 0] = 0.0
        p["b1"][0, 0] = 0.0
    X = rng.standard_normal((M, 6))
    y = rng.integers(0, 3, M)
    return p, X, y


def loss(p, X, y, l2=0.0):
    Z = X
    for k in range(1, 4):
        Z = Z @ p[f"W{k}"] + p[f"b{k}"]
        Z = np.maximum(Z, 0.0) if k < 3 else Z
    Z = Z - Z.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean() + 0.5 * l2 * sum(
        float(np.sum(p[f"W{k}"] ** 2)) for k in range(1, 4)
    )


# Bugs that are slips of the derivation (oracles._engine.slips), at their layers (None: everywhere).
SLIPPED = {
    "sign": ("sign_output_error", None),
    "missing_1_over_m": ("output_not_divided_by_m", None),
    "transpose": ("dW_product_order", frozenset({2})),
    "bias_sum": ("bias_sum_all", None),
    "forgot_l2": ("forgotten_regularisation", None),
    "no_derivative": ("missing_derivative", frozenset({1})),
    "labels_off_by_one": ("labels_off_by_one", None),
    "first_example": ("bias_of_first_example", None),
    "Z_for_A": ("dW_from_Z", frozenset({2})),
}
MASK_GE = Slip("ReLU'(0) = 1", "derivative", lambda q: (q.Z >= 0).astype(q.Z.dtype), "hidden")


def backward(p, X, y, l2=0.0, bug=None, mask_ge=False):
    """oracles._engine.slips' backward, transposed to examples as rows, with ``bug`` made in it."""
    slip, layers = SLIPPED.get(bug, (MASK_GE if mask_ge else None, None))
    columns = gradients({k: v.T for k, v in p.items()}, X.T, y, MLP((6, 5, 5, 3), "relu", l2),
                        slip, layers)  # fmt: skip
    g = {k: v.T for k, v in columns.items()}
    if bug == "zero":
        g["W2"] = np.zeros_like(g["W2"])
    if bug == "one_entry":
        g["W1"][2, 3] += 0.5
    if bug == "noise":
        rng = np.random.default_rng(7)
        g["W1"] = g["W1"] + 0.3 * rng.standard_normal(g["W1"].shape)
        g["b2"] = g["b2"] + 0.3 * rng.standard_normal(g["b2"].shape)
    return g


# bug -> (kind, parameters, value or None, layer or None)
EXPECTED = {
    "sign": ("sign", ("W1", "b1", "W2", "b2", "W3", "b3"), -1.0, None),
    "missing_1_over_m": ("scale", ("W1", "b1", "W2", "b2", "W3", "b3"), float(M), None),
    "zero": ("zero", ("W2",), None, None),
    "transpose": ("transpose", ("W2",), None, None),
    "bias_sum": ("bias_sum_over_units", ("b1", "b2", "b3"), None, None),
    "forgot_l2": ("regularisation", ("W1", "W2", "W3"), -0.1, None),
    "one_entry": ("localized", ("W1",), None, None),
    "no_derivative": ("propagation", ("W1", "b1"), None, 1),
    "labels_off_by_one": ("output_error", ("W1", "b1", "W2", "b2", "W3", "b3"), None, 3),
    "first_example": ("bias_reduction", ("b1", "b2", "b3"), None, None),
    "Z_for_A": ("weight_product", ("W2",), None, None),
    "noise": ("unexplained", ("W1", "b2"), None, None),
}


def test_every_kind_has_a_bug_built_for_it() -> None:
    # slip, forward and numerical_guard need a known architecture: tests/test_slips.py;
    # degenerate is said of a point, not of a bug: tests/test_trust.py
    kinds = set(DEFECTS) - set(NETWORK_DEFECTS) - set(POINT_DEFECTS) - set(LAYER_DEFECTS)
    assert {kind for kind, *_ in EXPECTED.values()} == kinds


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_a_bug_gets_its_kind_parameters_value_and_layer(bug) -> None:
    kind, parameters, value, layer = EXPECTED[bug]
    l2 = 0.1 if bug == "forgot_l2" else 0.0
    p, X, y = _data()
    found = diagnose(partial(loss, X=X, y=y, l2=l2), partial(backward, X=X, y=y, l2=l2, bug=bug), p)
    assert not found.correct
    assert [d.kind for d in found.defects] == [kind], str(found)
    (defect,) = found.defects
    assert defect.parameters == parameters
    assert defect.layer == layer
    if value is not None:
        assert defect.value == pytest.approx(value, rel=1e-6)
    assert defect.detail and defect.detail in str(found)
    if kind == "localized":
        assert defect.indices == ((2, 3),)


@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("mask_ge", [False, True], ids=["relu'(0)=0", "relu'(0)=1"])
@pytest.mark.parametrize("dead_unit", [False, True], ids=["smooth", "dead-unit"])
def test_a_right_gradient_gets_no_defect(l2, mask_ge, dead_unit) -> None:
    p, X, y = _data(dead_unit=dead_unit)
    found = diagnose(
        partial(loss, X=X, y=y, l2=l2), partial(backward, X=X, y=y, l2=l2, mask_ge=mask_ge), p
    )
    assert found.correct and found.defects == (), str(found)
    assert "right" in str(found)


def test_a_trusted_reference_replaces_finite_differences() -> None:
    p, X, y = _data()
    right = partial(backward, X=X, y=y)
    found = diagnose(partial(loss, X=X, y=y), partial(backward, X=X, y=y, bug="sign"), p,
                     reference=right)  # fmt: skip
    assert [d.kind for d in found.defects] == ["sign"] and "reference" in found.trusted
    assert diagnose(partial(loss, X=X, y=y), right, p, reference=right).correct


def test_without_a_layer_order_the_layer_kinds_are_undecided() -> None:
    p, X, y = _data()
    names = {"W1": "first_w", "b1": "first_b", "W2": "mid_w", "b2": "mid_b", "W3": "out_w",
             "b3": "out_b"}  # fmt: skip
    back = {v: k for k, v in names.items()}

    def renamed(fn):
        return lambda q: {names[k]: v for k, v in fn({back[k]: v for k, v in q.items()}).items()}

    found = diagnose(
        lambda q: loss({back[k]: v for k, v in q.items()}, X, y),
        renamed(partial(backward, X=X, y=y, bug="no_derivative")),
        {names[k]: v for k, v in p.items()},
    )
    assert [d.kind for d in found.defects] == ["unexplained"]
    assert any("propagation" in u for u in found.undecided)
    given = diagnose(
        lambda q: loss({back[k]: v for k, v in q.items()}, X, y),
        renamed(partial(backward, X=X, y=y, bug="no_derivative")),
        {names[k]: v for k, v in p.items()},
        layers=[("first_w", "first_b"), ("mid_w", "mid_b"), ("out_w", "out_b")],
    )
    assert [(d.kind, d.layer) for d in given.defects] == [("propagation", 1)]
    assert "while layers 2-3 are right" in given.defects[0].detail


def test_above_max_coordinates_a_sample_decides_and_the_rest_is_undecided() -> None:
    p, X, y = _data()
    found = diagnose(
        partial(loss, X=X, y=y), partial(backward, X=X, y=y, bug="missing_1_over_m"), p,
        max_coordinates=20,
    )  # fmt: skip
    assert [d.kind for d in found.defects] == ["scale"]
    assert "sample" in found.trusted or "coordinates of each larger" in found.trusted


def test_assert_gradients_says_what_is_wrong() -> None:
    p, X, y = _data()
    with pytest.raises(AssertionError) as info:
        assert_gradients(partial(loss, X=X, y=y), partial(backward, X=X, y=y, bug="bias_sum"), p)
    text = str(info.value)
    assert "gradient of b1, b2, b3 disagrees" in text
    assert "[bias_sum_over_units] b1, b2, b3" in text and "np.sum(dZ)" in text


def test_one_layer_gets_no_every_layer_sentence() -> None:
    """Softmax regression (one layer) with a wrong dW: no 'every layer is wrong', which would
    say nothing the check did not."""
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((4, 10)), rng.integers(0, 3, 10)
    Y = np.eye(3)[y].T

    def probabilities(p):
        Z = p["W"] @ X + p["b"]
        return np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)

    def loss(p):
        return float(-np.mean(np.log(np.sum(probabilities(p) * Y, axis=0))))

    def grad(p):
        dZ = (probabilities(p) - Y) / X.shape[1]
        return {
            "W": dZ @ X.T + 0.1 * rng.standard_normal((3, 4)),
            "b": 3 * dZ.sum(axis=1, keepdims=True),
        }

    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 1))}
    found = diagnose(loss, grad, params, layers=[("W", "b")])
    assert found.defects and "every layer" not in str(found)
    assert "output_error" not in [d.kind for d in found.defects]


def test_a_gradient_that_should_be_zero_is_described_by_its_size() -> None:
    """A bias before a normalisation: its right gradient is 0 (up to rounding); one given
    there reads 'its right gradient is about 0 here', not a relative error of 1e+10."""
    rng = np.random.default_rng(9)
    X, R = rng.standard_normal((4, 12)), rng.standard_normal((3, 12))
    W = rng.standard_normal((3, 4))

    def loss(p):
        Z = W @ X + p["b"]
        return float(np.sum(R * (Z - Z.mean(axis=1, keepdims=True)) / Z.std(axis=1, keepdims=True)))

    found = diagnose(loss, lambda p: {"b": R.sum(axis=1, keepdims=True)},
                     {"b": rng.standard_normal((3, 1))})  # fmt: skip
    assert "its right gradient is about 0 here" in str(found), str(found)
    assert "relative error" not in str(found)


@pytest.mark.parametrize("bug", ["bias_sum", "first_example", "no_derivative"])
def test_layer_roles_are_read_by_shape_not_by_place(bug) -> None:
    """layers= in Nielsen's order (bias before weight) diagnoses as the natural order does;
    layers=[] says that no layer is reasoned about instead of switching it off silently."""
    p, X, y = _data()
    args = (partial(loss, X=X, y=y), partial(backward, X=X, y=y, bug=bug), p)
    natural = diagnose(*args)
    flipped = diagnose(*args, layers=[(f"b{k}", f"W{k}") for k in range(1, 4)])
    assert [(d.kind, d.parameters, d.layer) for d in flipped.defects] == [
        (d.kind, d.parameters, d.layer) for d in natural.defects
    ]
    kind, params, _, _ = EXPECTED[bug]
    assert (flipped.defects[0].kind, flipped.defects[0].parameters) == (kind, params)
    silent = diagnose(*args, layers=[])
    assert any("layers=[]" in u for u in silent.undecided)


def test_a_recurrent_layer_in_its_natural_order_is_not_read_as_a_bias() -> None:
    """("Wx", "Wh", "b"): a slip in dWh (the previous state taken one step late) was named
    bias_reduction [Wh] when the second place was read as the bias."""
    rng = np.random.default_rng(12)
    xs, R = rng.standard_normal((3, 4, 2)), rng.standard_normal((4, 5))  # T=3, N=4, D=2, H=5
    p = {"Wx": rng.standard_normal((2, 5)), "Wh": rng.standard_normal((5, 5)) / 2,
         "b": rng.standard_normal(5)}  # fmt: skip

    def states(q):
        hs = [np.zeros((4, 5))]
        for x in xs:
            hs.append(np.tanh(x @ q["Wx"] + hs[-1] @ q["Wh"] + q["b"]))
        return hs

    def loss(q):
        return float(np.sum(R * states(q)[-1]))

    def grad(q, late=False):
        hs = states(q)
        g = {k: np.zeros_like(v) for k, v in q.items()}
        dh = R
        for t in range(len(xs), 0, -1):
            dz = dh * (1 - hs[t] ** 2)
            g["Wx"] += xs[t - 1].T @ dz
            g["Wh"] += (hs[t] if late else hs[t - 1]).T @ dz
            g["b"] += dz.sum(axis=0)
            dh = dz @ q["Wh"].T
        return g

    assert check_gradients(loss, grad, p)
    found = diagnose(loss, partial(grad, late=True), p, layers=[("Wx", "Wh", "b")])
    assert found.defects and all(d.kind != "bias_reduction" for d in found.defects), str(found)
    assert {n for d in found.defects for n in d.parameters} == {"Wh"}


def test_a_layer_whose_weight_has_its_own_defect_is_not_reasoned_inside() -> None:
    """W1 off by a plain factor 2 (named scale) beside right gamma and beta: no propagation
    inside the layer is claimed (it would name no parameter), and nothing crashes."""
    rng = np.random.default_rng(0)
    A, C, D = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
              "gamma1": rng.standard_normal(4), "beta1": rng.standard_normal(4),
              "s": rng.standard_normal(5)}  # fmt: skip
    noise = rng.standard_normal(5)

    def loss(p):  # b1 has no effect, as a bias that batch norm cancels
        return float((p["W1"] * A).sum() + (p["gamma1"] * C).sum() + (p["beta1"] * D).sum()
                     + (p["s"] ** 3).sum())  # fmt: skip

    def grad(p):
        return {"W1": 2 * A, "b1": np.zeros(4), "gamma1": C, "beta1": D,
                "s": 3 * p["s"] ** 2 + noise}  # fmt: skip

    found = diagnose(loss, grad, params, layers=[("W1", "b1", "gamma1", "beta1")])
    assert [(d.kind, d.parameters) for d in found.defects] == [
        ("scale", ("W1",)),
        ("unexplained", ("s",)),
    ], str(found)


@pytest.mark.parametrize("shape", [(8,), (3, 8)])
def test_a_gate_block_taken_from_another_gate_is_named_as_that_block(shape) -> None:
    """An LSTM's b (4H,) or Wx (D, 4H): the forget gate's block of the gradient copied from the
    input gate's reads as block 2 of 4, not a list of entries."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal(shape)
    params = {"Wx": rng.standard_normal(shape)}

    def grad(p):
        g = np.array(A)
        g[..., 2:4] = g[..., 0:2]  # H = 2: the second gate's slice is the first's
        return {"Wx": g}

    found = diagnose(lambda p: float(np.sum(A * p["Wx"])), grad, params)
    assert [(d.kind, d.parameters) for d in found.defects] == [("localized", ("Wx",))]
    assert "2-3, block 2 of 4 equal blocks along the last axis: stacked gates" in str(found)
