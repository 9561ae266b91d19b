"""Named slips of a hand-written backward, one small function each.

``gradients`` is backpropagation through an MLP (examples as columns) written as a few named
steps; a slip replaces one step at the layers it is given. ``SLIPS`` is the one table that
``oracles.audit.diagnose_network`` tries as exact hypotheses and that the mutation suite
(tests/meta/mutants.py) and the tests inject.

Shapes: X (n_0, m), y (m,) integer labels, W_k (n_k, n_{k-1}), b_k (n_k, 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MLP", "SLIPS", "Pass", "Slip", "forward", "gradients", "hypotheses", "layer_words"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class MLP:
    """An MLP: sizes (n_0, ..., n_L), hidden activation (relu, sigmoid, tanh), L2 strength on
    the weights, and its output: ``softmax`` with the cross-entropy, or ``sigmoid`` with the
    quadratic cost."""

    sizes: tuple[int, ...]
    activation: str
    l2: float = 0.0
    output: str = "softmax"

    @property
    def L(self) -> int:
        """The number of layers with parameters."""
        return len(self.sizes) - 1


def activation(name: str, Z: Array) -> Array:
    """g(Z) for ``relu``, ``sigmoid`` or ``tanh``."""
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    return np.tanh(Z)


def derivative(name: str, Z: Array, A: Array) -> Array:
    """g'(Z), given A = g(Z)."""
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    if name == "sigmoid":
        return A * (1 - A)
    return 1 - A**2


def forward(params: Mapping[str, Array], X: Array, mlp: MLP) -> tuple[list[Array], list[Array]]:
    """(Zs, As): Zs[k-1] = Z_k = W_k A_{k-1} + b_k, As[k] = A_k with As[0] = X, A_L the output."""
    Zs, As = [], [X]
    for k in range(1, mlp.L + 1):
        Z = params[f"W{k}"] @ As[-1] + params[f"b{k}"]
        Zs.append(Z)
        if k < mlp.L:
            As.append(activation(mlp.activation, Z))
        elif mlp.output == "sigmoid":
            As.append(activation("sigmoid", Z))
        else:
            E = np.exp(Z - Z.max(axis=0, keepdims=True))
            As.append(E / E.sum(axis=0, keepdims=True))
    return Zs, As


@dataclass
class Pass:
    """One backward pass as its steps see it: the network, the point, the forward pass, and
    what the steps have made so far (``k``: the layer the current step serves)."""

    mlp: MLP
    params: Mapping[str, Array]
    y: NDArray[np.integer]
    Zs: list[Array]
    As: list[Array]
    m: int
    k: int = 0
    Y: Array = field(default_factory=lambda: np.zeros(0))
    dZ: Array = field(default_factory=lambda: np.zeros(0))
    scale: float = 1.0
    A_in: Array = field(default_factory=lambda: np.zeros(0))
    grads: dict[str, Array] = field(default_factory=dict)

    @property
    def Z(self) -> Array:
        """Z_k."""
        return self.Zs[self.k - 1]

    @property
    def A(self) -> Array:
        """A_k."""
        return self.As[self.k]

    @property
    def W(self) -> Array:
        """W_k."""
        return self.params[f"W{self.k}"]


def _output_error(p: Pass) -> Array:
    dZ = p.As[-1] - p.Y
    return dZ * p.As[-1] * (1 - p.As[-1]) if p.mlp.output == "sigmoid" else dZ


# The steps of the right backward, in the order they run. ``derivative`` serves hidden layer k
# (g'(Z_k)); ``backpropagate``, ``layer_input`` and the gradients serve layer k.
STEPS: dict[str, Callable[[Pass], Any]] = {
    "probabilities": lambda p: p.As[-1],  # A_L, as the forward pass left it
    "labels": lambda p: p.y,
    "output_error": _output_error,  # dZ_L, before the 1/m
    "scale": lambda p: 1.0 / p.m,
    "layer_input": lambda p: p.As[p.k - 1],  # A_{k-1}
    "weight_gradient": lambda p: p.dZ @ p.A_in.T * p.scale,
    "weight_decay": lambda p: p.mlp.l2 * p.W,
    "bias_gradient": lambda p: p.dZ.sum(axis=1, keepdims=True) * p.scale,
    "bias_decay": lambda p: 0.0,
    "backpropagate": lambda p: p.W.T @ p.dZ,  # dA_{k-1}
    "derivative": lambda p: derivative(p.mlp.activation, p.Z, p.A),
    "result": lambda p: p.grads,
}


@dataclass(frozen=True)
class Slip:
    """A slip: what it is in words, the step it replaces, how, and where it can sit:
    ``global``, or layers ``hidden`` (1..L-1), ``weights`` (1..L), ``deep`` (2..L),
    ``square`` (2..L where W_k is square), ``skip`` (3..L where A_{k-2} has A_{k-1}'s shape)."""

    words: str
    step: str
    fn: Callable[[Pass], Any]
    where: str = "global"

    def places(self, mlp: MLP) -> frozenset[int]:
        """Every layer where this slip can sit in ``mlp`` (empty for a global slip)."""
        s, L = mlp.sizes, mlp.L
        return frozenset({
            "global": [],
            "hidden": range(1, L),
            "weights": range(1, L + 1),
            "deep": range(2, L + 1),
            "square": [k for k in range(2, L + 1) if s[k] == s[k - 1]],
            "skip": [k for k in range(3, L + 1) if s[k - 2] == s[k - 1]],
        }[self.where])  # fmt: skip


def _other_derivative(p: Pass) -> Array:
    other = "sigmoid" if p.mlp.activation == "relu" else "relu"
    return derivative(other, p.Z, activation(other, p.Z))


def _formula_on_Z(p: Pass) -> Array:
    if p.mlp.activation == "sigmoid":
        return p.Z * (1 - p.Z)
    if p.mlp.activation == "tanh":
        return 1 - p.Z**2
    return derivative("relu", p.Z, p.A)  # the ReLU's mask is the same formula on Z and on A


def _bias_wrong_axis(p: Pass) -> Array:
    return np.resize(p.dZ.sum(axis=0), p.dZ.shape[0])[:, None] * p.scale


def _skips_first_example(p: Pass) -> Array:
    dZ = _output_error(p).copy()
    dZ[:, 0] = 0.0
    return dZ


SLIPS: dict[str, Slip] = {
    "derivative_formula_on_Z": Slip(
        "the activation's derivative written for A (A(1 - A), 1 - A^2) but applied to Z",
        "derivative", _formula_on_Z, "hidden",
    ),
    "derivative_at_A": Slip(
        "the activation's derivative evaluated at A instead of Z", "derivative",
        lambda p: derivative(p.mlp.activation, p.A, activation(p.mlp.activation, p.A)), "hidden",
    ),
    "other_activation_derivative": Slip(
        "the derivative of another activation (the ReLU's mask for a sigmoid, the sigmoid's "
        "for a ReLU)", "derivative", _other_derivative, "hidden",
    ),
    "missing_derivative": Slip(
        "the activation's derivative g'(Z) left out", "derivative",
        lambda p: np.ones_like(p.Z), "hidden",
    ),
    "missing_transpose": Slip(
        "dA_{k-1} = W_k dZ_k instead of W_k^T dZ_k", "backpropagate", lambda p: p.W @ p.dZ,
        "square",
    ),
    "dW_product_order": Slip(
        "dW_k = A_{k-1} dZ_k^T, the product in the wrong order", "weight_gradient",
        lambda p: (p.dZ @ p.A_in.T * p.scale).T, "square",
    ),
    "dW_from_Z": Slip(
        "dW_k from Z_{k-1} instead of A_{k-1} = g(Z_{k-1})", "layer_input",
        lambda p: p.Zs[p.k - 2], "deep",
    ),
    "bias_sum_all": Slip(
        "db_k = sum of every entry of dZ_k (units and examples): one number for every unit",
        "bias_gradient", lambda p: np.full((p.dZ.shape[0], 1), p.dZ.sum()) * p.scale, "weights",
    ),
    "bias_not_divided_by_m": Slip(
        "db_k not divided by m", "bias_gradient", lambda p: p.dZ.sum(axis=1, keepdims=True),
        "weights",
    ),
    "output_not_divided_by_m": Slip(
        "dZ_L = A_L - Y without the 1/m: every gradient m times too large", "scale",
        lambda p: 1.0,
    ),
    "divided_by_m_twice": Slip(
        "dW_k divided by m twice", "weight_gradient", lambda p: p.dZ @ p.A_in.T * p.scale / p.m,
    ),
    "sign_output_error": Slip(
        "dZ_L = Y - A_L, the sign of the output error flipped", "output_error",
        lambda p: -_output_error(p),
    ),
    "softmax_elementwise": Slip(
        "dZ_L = (A_L - Y) A_L (1 - A_L): the softmax differentiated as an elementwise sigmoid",
        "output_error", lambda p: _output_error(p) * p.As[-1] * (1 - p.As[-1]),
    ),
    # The slips above are tried first by diagnose_network, in this order.
    "bias_wrong_axis": Slip(
        "db_k summed over units (axis 0) instead of examples", "bias_gradient",
        _bias_wrong_axis, "weights",
    ),
    "bias_of_first_example": Slip(
        "db_k = dZ_k[:, 0]: one example instead of the sum", "bias_gradient",
        lambda p: p.dZ[:, :1] * p.m * p.scale, "weights",
    ),
    "bias_not_accumulated": Slip(
        "db_k = dZ_k[:, -1] / m: a per-example loop that assigns the bias gradient, not adds it",
        "bias_gradient", lambda p: p.dZ[:, -1:] * p.scale, "weights",
    ),
    "dW_from_other_layer": Slip(
        "dW_k uses A_{k-2} instead of A_{k-1}", "layer_input", lambda p: p.As[p.k - 2], "skip",
    ),
    "derivative_is_activation": Slip(
        "g'(Z) written as g(Z) (relu'(Z) as relu(Z), sigmoid'(Z) as sigmoid(Z))", "derivative",
        lambda p: p.A, "hidden",
    ),
    "derivative_squared": Slip(
        "g'(Z) multiplied in twice", "derivative",
        lambda p: STEPS["derivative"](p) * STEPS["derivative"](p), "hidden",
    ),
    "mask_without_bias": Slip(
        "the ReLU's mask taken on W_k A_{k-1}, forgetting + b_k", "derivative",
        lambda p: ((p.Z - p.params[f"b{p.k}"]) > 0).astype(p.Z.dtype)
        if p.mlp.activation == "relu" else STEPS["derivative"](p), "hidden",
    ),
    "labels_off_by_one": Slip(
        "the one-hot Y built from (y + 1) mod C", "labels", lambda p: (p.y + 1) % p.mlp.sizes[-1],
    ),
    "loop_skips_first_example": Slip(
        "the per-example sum starts at example 1, still / m", "output_error",
        _skips_first_example,
    ),
    "quadratic_delta_without_derivative": Slip(
        "the quadratic cost's dZ_L = A_L - Y, without sigmoid'(Z_L)", "output_error",
        lambda p: p.As[-1] - p.Y,
    ),
    "l2_coefficient_halved": Slip(
        "the L2 term l2 / 2 * W_k in dW_k (the loss's 1/2 kept)", "weight_decay",
        lambda p: p.mlp.l2 / 2 * p.W, "weights",
    ),
    "forgotten_regularisation": Slip(
        "the L2 term l2 * W_k left out of dW_k", "weight_decay", lambda p: 0.0, "weights",
    ),
    "regularisation_on_biases": Slip(
        "an L2 term l2 * b_k added to db_k, though the loss has none", "bias_decay",
        lambda p: p.mlp.l2 * p.params[f"b{p.k}"], "weights",
    ),
}  # fmt: skip


def gradients(
    params: Mapping[str, Array],
    X: Array,
    y: NDArray[np.integer],
    mlp: MLP,
    slip: str | Slip | None = None,
    layers: frozenset[int] | None = None,
) -> dict[str, Array]:
    """The gradient of the mean loss of ``mlp`` (plus (l2 / 2) sum ||W_k||^2), with ``slip``
    (a key of SLIPS, or a Slip) made at ``layers`` (default: everywhere it can sit)."""
    made = SLIPS[slip] if isinstance(slip, str) else slip
    where = made.places(mlp) if made is not None and layers is None else layers or frozenset()

    def step(name: str, p: Pass) -> Any:
        if made is not None and made.step == name and (made.where == "global" or p.k in where):
            return made.fn(p)
        return STEPS[name](p)

    with np.errstate(over="ignore"):
        p = Pass(mlp, params, y, *forward(params, X, mlp), m=X.shape[1])
    p.As[-1] = step("probabilities", p)
    labels = step("labels", p)
    p.Y = np.zeros_like(p.As[-1])
    p.Y[labels, np.arange(p.m)] = 1.0
    p.dZ = step("output_error", p)
    p.scale = step("scale", p)
    for k in range(mlp.L, 0, -1):
        p.k = k
        p.A_in = step("layer_input", p)
        p.grads[f"W{k}"] = step("weight_gradient", p) + step("weight_decay", p)
        p.grads[f"b{k}"] = step("bias_gradient", p) + step("bias_decay", p)
        if k == 1:
            break
        dA = step("backpropagate", p)
        p.k = k - 1
        p.dZ = dA * step("derivative", p)
    p.k = 0
    grads = step("result", p)
    return {name: grads[name] for name in params}


def hypotheses(mlp: MLP) -> Iterator[tuple[str, frozenset[int]]]:
    """Every (slip, layers) to try on ``mlp``: each slip at each place it can sit, then at all."""
    for name, slip in SLIPS.items():
        places = sorted(slip.places(mlp))
        if slip.where == "global":
            yield name, frozenset()
            continue
        for k in places:
            yield name, frozenset({k})
        if len(places) > 1:
            yield name, frozenset(places)


def layer_words(layers: frozenset[int]) -> str:
    """Where a slip sits, in words."""
    if not layers:
        return "output layer"
    if len(layers) > 1:
        return f"layers {', '.join(map(str, sorted(layers)))}"
    return f"layer {next(iter(layers))}"
