"""``diagnose_network``: for a network whose architecture is known, name the slip.

Beyond ``diagnose``'s kinds, a known architecture (sizes, hidden activation, softmax and
cross-entropy output, examples as columns) lets each slip that hand-written derivations
commonly make be tested as an exact hypothesis: the gradients that backward would give with
that slip, at one layer or at every layer, matched to the hand-written ones to rounding.
A match names the slip and its layer, in words a learner can act on. With JAX, it also
tells a backward that is right for a forward departing from the network described (kind
``forward``) from one that is the described network's gradient but not that of the code's
own loss, which carries a numerical guard (kind ``numerical_guard``).

Shapes: X (n_0, m), y (m,) integer labels, W_k (n_k, n_{k-1}), b_k (n_k, 1).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles.diagnosis import Defect, Diagnosis, diagnose
from oracles.tolerances import autodiff_tolerance_for
from reference_nn.network import Network

__all__ = ["SLIPS", "diagnose_network", "slipped_gradients"]

Array = NDArray[np.float64]

# slip -> (words, where it can sit: "hidden" layers 1..L-1, "weights" layers 1..L, "global")
SLIPS: dict[str, tuple[str, str]] = {
    "derivative_formula_on_Z": (
        "the activation's derivative written for A (A(1 - A), 1 - A^2) but applied to Z",
        "hidden",
    ),
    "derivative_at_A": ("the activation's derivative evaluated at A instead of Z", "hidden"),
    "other_activation_derivative": (
        "the derivative of another activation (the ReLU's mask for a sigmoid, the sigmoid's "
        "for a ReLU)",
        "hidden",
    ),
    "missing_derivative": ("the activation's derivative g'(Z) left out", "hidden"),
    "missing_transpose": ("dA_{k-1} = W_k dZ_k instead of W_k^T dZ_k", "square"),
    "dW_product_order": ("dW_k = A_{k-1} dZ_k^T, the product in the wrong order", "square"),
    "dW_from_Z": ("dW_k from Z_{k-1} instead of A_{k-1} = g(Z_{k-1})", "deep"),
    "bias_sum_all": (
        "db_k = sum of every entry of dZ_k (units and examples): one number for every unit",
        "weights",
    ),
    "bias_not_divided_by_m": ("db_k not divided by m", "weights"),
    "output_not_divided_by_m": (
        "dZ_L = A_L - Y without the 1/m: every gradient m times too large",
        "global",
    ),
    "divided_by_m_twice": ("dW_k divided by m twice", "global"),
    "sign_output_error": ("dZ_L = Y - A_L, the sign of the output error flipped", "global"),
    "softmax_elementwise": (
        "dZ_L = (A_L - Y) A_L (1 - A_L): the softmax differentiated as an elementwise sigmoid",
        "global",
    ),
}


def _g(activation: str, Z: Array) -> Array:
    return np.maximum(Z, 0.0) if activation == "relu" else 1 / (1 + np.exp(-Z))


def _g_prime(activation: str, Z: Array) -> Array:
    if activation == "relu":
        return (Z > 0).astype(Z.dtype)
    s = 1 / (1 + np.exp(-Z))
    return s * (1 - s)


def slipped_gradients(
    params: Mapping[str, Array],
    X: Array,
    y: NDArray[np.integer],
    activation: str,
    slip: str | None = None,
    layers: frozenset[int] = frozenset(),
) -> dict[str, Array]:
    """The gradients of the mean cross-entropy of a softmax MLP, with ``slip`` (a key of
    SLIPS) made at the given ``layers`` (1-based; ignored by global slips)."""
    L = len(params) // 2
    m = X.shape[1]
    Zs, As = [], [X]
    with np.errstate(over="ignore"):
        for k in range(1, L + 1):
            Z = params[f"W{k}"] @ As[-1] + params[f"b{k}"]
            Zs.append(Z)
            if k < L:
                As.append(_g(activation, Z))
        E = np.exp(Zs[-1] - Zs[-1].max(axis=0, keepdims=True))
        A_L = E / E.sum(axis=0, keepdims=True)
    Y = np.zeros_like(A_L)
    Y[y, np.arange(m)] = 1.0
    dZ = Y - A_L if slip == "sign_output_error" else A_L - Y
    if slip == "softmax_elementwise":
        dZ = dZ * A_L * (1 - A_L)
    dZ = dZ if slip == "output_not_divided_by_m" else dZ / m
    grads: dict[str, Array] = {}
    for k in range(L, 0, -1):
        here = k in layers
        A_in = Zs[k - 2] if slip == "dW_from_Z" and here else As[k - 1]
        dW = A_in @ dZ.T if slip == "dW_product_order" and here else dZ @ A_in.T
        grads[f"W{k}"] = dW / m if slip == "divided_by_m_twice" else dW
        db = dZ.sum(axis=1, keepdims=True)
        if slip == "bias_sum_all" and here:
            db = np.full_like(db, dZ.sum())
        grads[f"b{k}"] = db * m if slip == "bias_not_divided_by_m" and here else db
        if k == 1:
            break
        W = params[f"W{k}"]
        dA = W @ dZ if slip == "missing_transpose" and k in layers else W.T @ dZ
        Z, A = Zs[k - 2], As[k - 1]
        derivative = _g_prime(activation, Z)
        if k - 1 in layers:
            other = "sigmoid" if activation == "relu" else "relu"
            derivative = {
                "derivative_formula_on_Z": Z * (1 - Z) if activation == "sigmoid" else derivative,
                "derivative_at_A": _g_prime(activation, A),
                "other_activation_derivative": _g_prime(other, Z),
                "missing_derivative": np.ones_like(Z),
            }.get(slip or "", derivative)
        dZ = dA * derivative
    return {name: grads[name] for name in params}


def _hypotheses(sizes: tuple[int, ...]) -> Iterator[tuple[str, frozenset[int]]]:
    """Every (slip, layers) to try: each slip at each layer where it can sit, then at all."""
    L = len(sizes) - 1
    where = {
        "hidden": range(1, L),
        "weights": range(1, L + 1),
        "deep": range(2, L + 1),
        "square": [k for k in range(2, L + 1) if sizes[k] == sizes[k - 1]],
    }
    for slip, (_, place) in SLIPS.items():
        if place == "global":
            yield slip, frozenset()
            continue
        layers = list(where[place])
        for k in layers:
            yield slip, frozenset({k})
        if len(layers) > 1:
            yield slip, frozenset(layers)


def _close(
    a: Mapping[str, Array], b: Mapping[str, Array], rtol: float, scale: Mapping[str, Array]
) -> bool:
    """Every finite entry of ``b`` matches ``a`` to ``rtol`` of the largest entry of
    ``scale`` (the right gradient: a slip may leave a parameter at rounding level)."""
    for k in b:
        finite = np.isfinite(b[k])
        size = float(np.max(np.abs(scale[k][np.isfinite(scale[k])]), initial=0.0))
        if not np.all(np.abs(a[k][finite] - b[k][finite]) <= rtol * size + 1e-300):
            return False
    return True


def _layer_words(layers: frozenset[int]) -> str:
    if not layers:
        return "output layer"
    if len(layers) > 1:
        return f"layers {', '.join(map(str, sorted(layers)))}"
    return f"layer {next(iter(layers))}"


def diagnose_network(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    *,
    rtol: float = 1e-9,
) -> Diagnosis:
    """``diagnose`` for ``net``'s hand-written gradients at ``params`` on X (n_0, m) and y (m,),
    with the named slips of SLIPS tested against them (each match to ``rtol`` of the
    parameter's largest entry is a defect of kind ``slip``); with JAX, the trusted gradient
    is jax.grad of the network's own forward, and the described network's is compared too."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    spec = net.spec
    g = {k: np.asarray(v, dtype=np.float64) for k, v in net.gradients(p, X64, y).items()}
    own = described = None
    try:
        importlib.import_module("jax")
    except ImportError:
        pass
    else:
        from oracles.jax_oracle import jax_gradients

        own = jax_gradients(net, p, X64, y, "own_forward")
        described = jax_gradients(net, p, X64, y, "independent")

    def hand_written(q: dict[str, Any]) -> dict[str, Any]:
        return dict(net.gradients(q, X64, y))

    def loss(q: dict[str, Any]) -> float:
        return float(net.loss(q, X64, y))

    if own is not None and described is not None:
        tol = autodiff_tolerance_for(np.float64)
        own_ok = _close(g, own, tol.rtol * 10, own)
        described_ok = _close(g, described, tol.rtol * 10, described)
        if own_ok and described_ok:
            return Diagnosis(True, (), "jax.grad of its own forward and of the network described")
        if own_ok:
            wrong = tuple(
                k for k in g if not _close({k: g[k]}, {k: described[k]}, tol.rtol * 10, described)
            )
            return Diagnosis(False, (Defect(
                "forward", wrong,
                "the backward is the derivative of the code's own forward pass, but that forward "
                "is not the network described (an activation or softmax computed otherwise)",
            ),), "jax.grad of its own forward and of the network described")  # fmt: skip
        if described_ok:
            return Diagnosis(False, (Defect(
                "numerical_guard", tuple(g),
                "the gradient is that of the network described, not of the code's own loss: "
                "they differ by a numerical guard (an epsilon inside a log or an exp) that the "
                "gradient does not follow",
            ),), "jax.grad of its own forward and of the network described")  # fmt: skip
        found = replace(
            diagnose(loss, hand_written, p, reference=lambda q: own),
            trusted="jax.grad of the code's own forward pass",
        )
    else:
        found = diagnose(loss, hand_written, p)
    if found.correct:
        return found
    L = spec.num_layers
    right = slipped_gradients(p, X64, y, spec.hidden_activation)
    slips = []
    for slip, layers in _hypotheses(spec.sizes):
        candidate = slipped_gradients(p, X64, y, spec.hidden_activation, slip, layers)
        if _close(candidate, right, rtol, right) or not _close(g, candidate, rtol, right):
            continue  # no slip at all here, or not this one
        changed = tuple(k for k in g if not _close({k: candidate[k]}, {k: right[k]}, rtol, right))
        where = _layer_words(layers)
        slips.append(
            Defect(
                "slip",
                changed,
                f"{where}: {SLIPS[slip][0]}",
                layer=max(layers) if layers else L,
                slip=slip,
            )
        )
        break  # the first, most local match
    return replace(found, defects=(*found.defects, *slips))
