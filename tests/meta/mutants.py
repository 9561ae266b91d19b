"""A mutation suite for the harness: realistic backprop bugs that a gradient check must catch.

Every bug is a slip of ``oracles._engine.slips`` (the table ``diagnose_network`` also tries) made at
some layers, or one of the few errors defined here that no derivation makes (errors of a stated
small size, errors confined to units on a ReLU kink, indexing slips); ``EQUIVALENTS`` are other
correct ways of writing the backward, which the check must pass. ``python -m tests.meta.mutants``
prints the score.

Shapes: X (n_0, m) with examples as columns, y (m,) integer labels, W_k (n_k, n_{k-1}),
b_k (n_k, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oracles._engine.slips import MLP, STEPS, Pass, Slip, activation, derivative
from oracles._engine.slips import forward as mlp_forward
from oracles._engine.slips import gradients as slipped

Array = NDArray[np.float64]
Params = dict[str, Array]


@dataclass(frozen=True)
class Architecture(MLP):
    """An MLP of the suite (``oracles._engine.slips.MLP``), with a name."""

    name: str = ""

    @property
    def layers(self) -> int:
        """L, the number of layers with parameters."""
        return self.L

    def has_square_hidden_layer(self) -> bool:
        """True when some W_k with 1 < k < L is square (n_k == n_{k-1})."""
        return any(self.sizes[k] == self.sizes[k - 1] for k in range(2, self.layers))


ARCHITECTURES = (
    Architecture((12, 6, 6, 4), "relu", name="relu_square"),
    Architecture((20, 9, 5), "relu", name="relu_wide"),
    Architecture((10, 7, 7, 3), "sigmoid", name="sigmoid_square"),
    Architecture((8, 6, 6, 3), "tanh", name="tanh_l2", l2=0.05),
    Architecture((9, 8, 4), "relu", name="relu_l2", l2=0.02),
    Architecture((10, 7, 7, 3), "sigmoid", name="sigmoid_quadratic", output="sigmoid"),
)


KINKS: dict[str, str] = {
    "zero_example": "an all-zero input column and b_1[:2] = 0: two units on the kink for it",
    "dead_unit": "a zero row of W_1 and b_1[0] = 0: unit 0 on the kink for every example",
    "all_layers": "an all-zero input column and every bias 0: every hidden unit on the kink "
    "for it, in every layer",
}


def init(
    arch: Architecture, seed: int, *, kinks: str | None = None
) -> tuple[Params, Array, NDArray[np.int64]]:
    """Parameters, inputs X (n_0, 16) and labels for ``arch``, drawn from ``seed``.

    ``kinks`` (a key of KINKS) puts units exactly on the ReLU kink; unit 0 of layer 1 is
    on it in every structure.
    """
    rng = np.random.default_rng(seed)
    params: Params = {}
    for k in range(1, arch.layers + 1):
        n, n_prev = arch.sizes[k], arch.sizes[k - 1]
        params[f"W{k}"] = rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)
        params[f"b{k}"] = rng.uniform(-0.5, 0.5, (n, 1))
    m = 16
    X = rng.standard_normal((arch.sizes[0], m))
    y = rng.integers(0, arch.sizes[-1], m)
    if kinks == "zero_example":
        X[:, 0] = 0.0
        params["b1"][:2] = 0.0
    elif kinks == "dead_unit":
        params["W1"][0] = 0.0
        params["b1"][0] = 0.0
    elif kinks == "all_layers":
        X[:, 0] = 0.0
        for k in range(1, arch.layers + 1):
            params[f"b{k}"][:] = 0.0
    elif kinks is not None:
        raise ValueError(f"unknown kinks {kinks!r}; expected one of {list(KINKS)}")
    return params, X, y


def kinks_for(arch: Architecture, seed: int) -> str | None:
    """The kink structure the suite gives ``arch`` at ``seed``: ReLU architectures cycle
    through KINKS with the seed, so that a few seeds cover every structure on each."""
    if arch.activation != "relu":
        return None
    structures = list(KINKS)
    return structures[(seed + ARCHITECTURES.index(arch)) % len(structures)]


def forward(params: Params, X: Array, arch: Architecture) -> tuple[list[Array], list[Array]]:
    """(Zs, As): Zs[k-1] = Z_k, As[k] = A_k with As[0] = X and A_L the output."""
    return mlp_forward(params, X, arch)


def loss(params: Params, X: Array, y: NDArray[np.int64], arch: Architecture) -> float:
    """Mean cross-entropy over the m columns (or, for a sigmoid output, the quadratic cost
    sum((A_L - Y)^2) / 2m), plus (l2 / 2) * sum of ||W_k||^2."""
    Zs, As = forward(params, X, arch)
    if arch.output == "sigmoid":
        Y = np.zeros_like(As[-1])
        Y[y, np.arange(y.size)] = 1.0
        data = 0.5 * float(np.sum((As[-1] - Y) ** 2)) / y.size
    else:
        Z = Zs[-1]
        shifted = Z - Z.max(axis=0, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        data = -float(np.mean(log_p[y, np.arange(y.size)]))
    reg = (
        0.5 * arch.l2 * sum(float(np.sum(params[f"W{k}"] ** 2)) for k in range(1, arch.layers + 1))
    )
    return data + reg


def _is_relu(arch: Architecture) -> bool:
    return arch.activation == "relu"


def _relu_only(variant: Callable[[Pass], Array]) -> Callable[[Pass], Array]:
    """A derivative step that writes the ReLU's another way, and any other activation's as usual."""
    return lambda p: variant(p) if p.mlp.activation == "relu" else STEPS["derivative"](p)


def _changed(name: str, change: Callable[[Array, Pass], None]) -> Callable[[Pass], Params]:
    """A result step that changes a copy of gradient ``name`` in place."""

    def result(p: Pass) -> Params:
        g = p.grads[name].copy()
        change(g, p)
        return {**p.grads, name: g}

    return result


def _changed_last_weight(p: Pass) -> Params:
    name = f"W{p.mlp.L}"
    return {**p.grads, name: 0.5 * p.grads[name]}


def _zero_largest(g: Array, p: Pass) -> None:
    g.flat[int(np.argmax(np.abs(g)))] = 0.0


def _drop_last_column(g: Array, p: Pass) -> None:
    g[:, -1] = 0.0


def _kink_bias_offset(g: Array, p: Pass) -> None:
    g[0] += 0.3 * np.linalg.norm(g)


def _kink_row(g: Array, p: Pass) -> None:
    g[0] += 1e-4 * np.linalg.norm(g) / np.sqrt(g.shape[1])


def _small(shape: str, size: float) -> Callable[[Pass], Params]:
    def result(p: Pass) -> Params:
        grads = {name: g.copy() for name, g in p.grads.items()}
        small_error(grads, shape, size, p.mlp.L)
        return grads

    return result


def small_error(grads: Params, shape: str, size: float, L: int) -> None:
    """Add, in place, an error of relative size ``size`` (||error|| / ||g_p|| for each
    parameter p it touches) of the given shape (a key of SMALL_SHAPES) to ``grads``."""
    if shape == "scaled":
        grads[f"W{L}"] *= 1 + size
    elif shape == "entry":
        W1 = grads["W1"]
        W1.flat[int(np.argmax(np.abs(W1)))] += size * np.linalg.norm(W1)
    elif shape == "dense":
        rng = np.random.default_rng(12345)  # the same direction at every point
        for g in grads.values():
            u = rng.standard_normal(g.shape)
            g += size * np.linalg.norm(g) * u / np.linalg.norm(u)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {list(SMALL_SHAPES)}")


@dataclass(frozen=True)
class Mutant:
    """One bug: a slip (a key of oracles._engine.slips.SLIPS, or a Slip defined here) at ``layers``
    (default: everywhere it can sit), which architectures it can be written for, and its group:
    ``derivation`` (a slip in the backward pass), ``small`` (an error of a stated relative
    size), ``kink`` (confined to units that sit exactly on the ReLU kink)."""

    description: str
    slip: str | Slip
    applies: Callable[[Architecture], bool] = lambda arch: True
    group: str = "derivation"
    layers: frozenset[int] | None = None


# The relative sizes of the "small" bugs: ||error|| / ||right gradient|| of the parameter.
SMALL_SHAPES: dict[str, str] = {
    "scaled": "dW_L scaled by (1 + r): a stray factor close to 1",
    "entry": "the largest entry of dW_1 off by r ||dW_1||",
    "dense": "every gradient g_p off by r ||g_p|| along a fixed random direction",
}
SMALL_SIZES = (1e-3, 1e-4, 1e-5)


MUTANTS: dict[str, Mutant] = {
    "sign_output_error": Mutant("dZ_L = Y - A_L: the sign of the output error flipped",
                                "sign_output_error"),
    "missing_1_over_m": Mutant("dW_k and db_k not divided by m", "output_not_divided_by_m"),
    "missing_1_over_m_bias": Mutant("db_k not divided by m (dW_k is)", "bias_not_divided_by_m"),
    "divided_by_m_twice": Mutant("dW_k divided by m twice", "divided_by_m_twice"),
    "bias_summed_to_scalar": Mutant("db_k = sum of all of dZ_k: one scalar for every unit",
                                    "bias_sum_all"),
    "bias_wrong_axis": Mutant("db_k summed over units (axis 0) instead of examples",
                              "bias_wrong_axis"),
    "bias_of_first_example": Mutant("db_k = dZ_k[:, 0]: one example instead of the sum",
                                    "bias_of_first_example"),
    "transposed_weight_gradient": Mutant(
        "dW_k = (dZ_k A_{k-1}^T)^T on a square layer: a misplaced transpose",
        "dW_product_order", Architecture.has_square_hidden_layer,
    ),
    "missing_transpose_in_backprop": Mutant(
        "dA_{k-1} = W_k dZ_k instead of W_k^T dZ_k through a square layer",
        "missing_transpose", Architecture.has_square_hidden_layer,
    ),
    "activation_of_wrong_layer": Mutant(
        "dW_k uses A_{k-2} instead of A_{k-1} where the shapes allow it", "dW_from_other_layer",
        lambda arch: arch.layers >= 3 and arch.sizes[1] == arch.sizes[2],
    ),
    "pre_activation_instead_of_activation": Mutant("dW_k = dZ_k Z_{k-1}^T: Z used for A",
                                                   "dW_from_Z"),
    "derivative_from_output_as_input": Mutant(
        "the activation derivative evaluated at A instead of Z (relu: mask of relu(relu(Z)) "
        "is right, so for relu the mask is taken on A - 0.1)",
        Slip("g'(A)", "derivative", lambda p: derivative(
            p.mlp.activation, p.A - 0.1 if p.mlp.activation == "relu" else p.A,
            activation(p.mlp.activation, p.A)), "hidden"),
    ),
    "relu_derivative_is_relu": Mutant("relu'(Z) written as relu(Z)", "derivative_is_activation",
                                      _is_relu),
    "sigmoid_derivative_is_sigmoid": Mutant(
        "sigmoid'(Z) written as sigmoid(Z)", "derivative_is_activation",
        lambda arch: arch.activation == "sigmoid",
    ),
    "tanh_derivative_of_pre_activation": Mutant(
        "tanh'(Z) written as 1 - Z^2", "derivative_formula_on_Z",
        lambda arch: arch.activation == "tanh",
    ),
    "derivative_applied_twice": Mutant(
        "g'(Z) multiplied in twice (harmless for relu, whose mask squared is itself)",
        "derivative_squared", lambda arch: arch.activation != "relu",
    ),
    "missing_derivative_first_layer": Mutant("g'(Z_1) forgotten in the first hidden layer",
                                             "missing_derivative", layers=frozenset({1})),
    "mask_without_bias": Mutant("relu mask taken on W_k A_{k-1}, forgetting + b_k",
                                "mask_without_bias", _is_relu),
    "softmax_treated_elementwise": Mutant(
        "dZ_L = (A_L - Y) * A_L * (1 - A_L)", "softmax_elementwise",
        lambda arch: arch.output == "softmax",
    ),
    "quadratic_delta_without_derivative": Mutant(
        "the quadratic cost's dZ_L = A_L - Y, without sigmoid'(Z_L)",
        "quadratic_delta_without_derivative", lambda arch: arch.output == "sigmoid",
    ),
    "bias_not_accumulated": Mutant(
        "db_k = dZ_k[:, -1] / m: a per-example loop that assigns the bias gradient, not adds it",
        "bias_not_accumulated",
    ),
    "l2_coefficient_halved": Mutant(
        "the L2 term l2 / 2 * W_k in dW_k (the loss's 1/2 kept)", "l2_coefficient_halved",
        lambda arch: arch.l2 > 0,
    ),
    "labels_off_by_one": Mutant("the one-hot Y built from (y + 1) mod C", "labels_off_by_one"),
    "loop_skips_first_example": Mutant("the per-example sum starts at example 1, still / m",
                                       "loop_skips_first_example"),
    "last_column_of_dW1_dropped": Mutant(
        "dW_1[:, -1] left at 0: a slice off by one",
        Slip("dW_1[:, -1] = 0", "result", _changed("W1", _drop_last_column)),
    ),
    "forgotten_regularisation": Mutant(
        "the L2 term l2 * W_k left out of dW_k", "forgotten_regularisation",
        lambda arch: arch.l2 > 0,
    ),
    "regularisation_on_biases": Mutant(
        "an L2 term l2 * b_k added to db_k, though the loss has none",
        "regularisation_on_biases", lambda arch: arch.l2 > 0,
    ),
    "wrong_single_entry": Mutant(
        "the largest entry of dW_1 set to 0",
        Slip("max |dW_1| = 0", "result", _changed("W1", _zero_largest)),
    ),
    "wrong_layer_scaled": Mutant(
        "dW_L scaled by 0.5 (a stray factor in one layer)",
        Slip("dW_L / 2", "result", _changed_last_weight),
    ),
    **{
        f"{shape}_{size:.0e}": Mutant(f"{text}, r = {size:.0e}", Slip(text, "result",
                                      _small(shape, size)), group="small")
        for shape, text in SMALL_SHAPES.items()
        for size in SMALL_SIZES
    },
    "kink_bias_offset": Mutant(
        "db_1[0], the bias gradient of a unit on its kink, off by 0.3 ||db_1||",
        Slip("db_1[0] off", "result", _changed("b1", _kink_bias_offset)), _is_relu, "kink",
    ),
    "kink_row_1e-04": Mutant(
        "dW_1[0, :], the weights of a unit on its kink, off by 1e-4 ||dW_1||",
        Slip("dW_1[0] off", "result", _changed("W1", _kink_row)), _is_relu, "kink",
    ),
    "relu_derivative_2_at_zero": Mutant(
        "ReLU'(0) taken as 2: wrong only where a unit sits exactly on its kink",
        Slip("ReLU'(0) = 2", "derivative",
             _relu_only(lambda p: np.where(p.Z == 0, 2.0, (p.Z > 0).astype(p.Z.dtype))), "hidden"),
        _is_relu, "kink",
    ),
}  # fmt: skip

# The kinds of oracles._engine.diagnosis that name each bug rightly. Where an L2 term sits beside
# the bug, a scale or a transpose no longer explains dW alone, and the diagnosis can only
# say which parameters are wrong (weight_product, output_error).
SCALED_SHAPES = {"scaled": ("scale",), "entry": ("localized",), "dense": ("unexplained",)}
DIAGNOSES: dict[str, tuple[str, ...]] = {
    "sign_output_error": ("sign", "output_error"),
    "missing_1_over_m": ("scale", "output_error"),
    "missing_1_over_m_bias": ("scale", "bias_reduction"),
    "divided_by_m_twice": ("scale", "weight_product"),
    "bias_summed_to_scalar": ("bias_sum_over_units",),
    "bias_wrong_axis": ("bias_reduction",),
    "bias_of_first_example": ("bias_reduction", "zero"),
    "transposed_weight_gradient": ("transpose", "weight_product"),
    "missing_transpose_in_backprop": ("propagation",),
    "activation_of_wrong_layer": ("weight_product",),
    "pre_activation_instead_of_activation": ("weight_product",),
    "derivative_from_output_as_input": ("propagation", "localized"),
    "relu_derivative_is_relu": ("propagation",),
    "sigmoid_derivative_is_sigmoid": ("propagation",),
    "tanh_derivative_of_pre_activation": ("propagation",),
    "derivative_applied_twice": ("propagation",),
    "missing_derivative_first_layer": ("propagation",),
    "mask_without_bias": ("propagation",),
    "softmax_treated_elementwise": ("output_error",),
    "quadratic_delta_without_derivative": ("output_error",),
    "bias_not_accumulated": ("bias_reduction",),
    "l2_coefficient_halved": ("regularisation",),
    "labels_off_by_one": ("output_error",),
    "loop_skips_first_example": ("output_error",),
    "last_column_of_dW1_dropped": ("localized",),
    "forgotten_regularisation": ("regularisation",),
    "regularisation_on_biases": ("regularisation",),
    "wrong_single_entry": ("localized",),
    "wrong_layer_scaled": ("scale",),
    **{
        f"{shape}_{size:.0e}": SCALED_SHAPES[shape]
        for shape in SMALL_SHAPES
        for size in SMALL_SIZES
    },
    "kink_bias_offset": ("localized",),
    "kink_row_1e-04": ("localized",),
    "relu_derivative_2_at_zero": ("localized", "bias_reduction"),
}

# Correct gradients whose numbers differ from the plain backward's (by rounding, or on the
# kink where any ReLU'(0) in [0, 1] is right): a check must pass them.
EQUIVALENTS: dict[str, str] = {
    "relu_mask_ge": "ReLU mask z >= 0 instead of z > 0 (differs only exactly on the kink)",
    "relu_derivative_half_at_zero": "ReLU'(0) taken as 1/2 (differs only exactly on the kink)",
    "per_example_loop": "gradients summed example by example, divided by m at the end",
    "unshifted_softmax": "the softmax as exp(Z) / sum(exp(Z)), without subtracting the max",
    "bias_via_ones": "db_k = dZ_k @ ones((m, 1))",
}
# The equivalents whose numbers differ from the plain backward's by more than rounding: only
# where a unit sits exactly on its kink. The others give its numbers up to rounding.
ON_THE_KINK = frozenset({"relu_mask_ge", "relu_derivative_half_at_zero"})
# Other ways of writing the plain backward by its own operations, which give its numbers up to
# rounding (bit for bit on some BLAS kernels, not on all: the transposed product's sums may run
# in another order): passing them says nothing about false alarms, so they are counted apart.
REWRITES: dict[str, str] = {
    "mask_on_activation": "ReLU mask taken on A > 0 instead of Z > 0",
    "transposed_product": "dW_k = (A_{k-1} dZ_k^T)^T",
}


_EQUIVALENT_SLIPS: dict[str, Slip] = {
    "relu_mask_ge": Slip("z >= 0", "derivative",
                         _relu_only(lambda p: (p.Z >= 0).astype(p.Z.dtype)), "hidden"),
    "relu_derivative_half_at_zero": Slip("ReLU'(0) = 1/2", "derivative", _relu_only(
        lambda p: np.where(p.Z == 0, 0.5, (p.Z > 0).astype(p.Z.dtype))), "hidden"),
    "unshifted_softmax": Slip("exp(Z) / sum(exp(Z))", "probabilities", lambda p: (
        np.exp(p.Zs[-1]) / np.exp(p.Zs[-1]).sum(axis=0, keepdims=True)
        if p.mlp.output == "softmax" else p.As[-1])),
    "bias_via_ones": Slip("dZ 1", "bias_gradient",
                          lambda p: p.dZ @ np.ones((p.m, 1)) * p.scale, "weights"),
    "mask_on_activation": Slip("A > 0", "derivative",
                               _relu_only(lambda p: (p.A > 0).astype(p.Z.dtype)), "hidden"),
    "transposed_product": Slip("(A dZ^T)^T", "weight_gradient",
                               lambda p: (p.A_in @ p.dZ.T).T * p.scale, "weights"),
}  # fmt: skip


def gradients(
    params: Params,
    X: Array,
    y: NDArray[np.int64],
    arch: Architecture,
    bug: str | None = None,
    equivalent: str | None = None,
) -> Params:
    """The gradient of ``loss``; ``bug`` (a key of MUTANTS) injects one mistake,
    ``equivalent`` (a key of EQUIVALENTS or REWRITES) writes it another correct way."""
    if bug is not None and bug not in MUTANTS:
        raise ValueError(f"unknown bug {bug!r}")
    if equivalent is not None and equivalent not in {**EQUIVALENTS, **REWRITES}:
        raise ValueError(f"unknown equivalent {equivalent!r}")
    if equivalent == "per_example_loop":
        # Each one-example call adds the L2 term once; it belongs once to the mean.
        reg = {key: arch.l2 * value * key.startswith("W") for key, value in params.items()}
        totals = {key: np.zeros_like(value) for key, value in params.items()}
        for j in range(X.shape[1]):
            one = gradients(params, X[:, j : j + 1], y[j : j + 1], arch, bug)
            for key in totals:
                totals[key] += one[key] - reg[key]
        return {key: totals[key] / X.shape[1] + reg[key] for key in totals}
    if bug is not None:
        mutant = MUTANTS[bug]
        return slipped(params, X, y, arch, mutant.slip, mutant.layers)
    return slipped(params, X, y, arch, _EQUIVALENT_SLIPS.get(equivalent or ""))
