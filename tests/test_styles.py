"""The short form for each style of public code (docs/own-code.md, "Your style, in at most five
lines"), run as the page prints it on a network written in that style: right, the block
passes; with a slip, it raises AssertionError naming the slip's kind. A block longer than five
lines, or one the page lacks, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import oracles
from tests import test_own_code as own

PAGE = Path(__file__).parents[1] / "docs" / "own-code.md"


def _blocks() -> dict[str, str]:
    """The section's code blocks, by the first words of their opening comment."""
    text = PAGE.read_text()
    section = text.split("## Your style, in at most five lines", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return {block.splitlines()[0].lstrip("# ").split(":")[0]: block for block in blocks}


# -- networks in each style (the user's code; the glue is the page's) ---------------------------


def _nielsen(slip):
    def cost(net, batch):
        return np.mean([0.5 * np.sum((net.feedforward(x) - y) ** 2) for x, y in batch])

    net = own.Network([5, 4, 3], "prime_of_output_layer" if slip else None)
    return {"net": net, "batch": own.BATCH, "cost": cost}


def _cs231n(slip):
    model = own.TwoLayerNet("scalar_bias" if slip else None)
    return {"model": model, "X": own.X_ROWS, "y": own.Y_LABELS}


def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def _deeplearning_ai(slip):
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((5, 12)), (rng.random((1, 12)) > 0.5).astype(float)

    def L_model_forward(X, parameters):
        caches, A, L = [], X, len(parameters) // 2
        for l in range(1, L + 1):
            W, b = parameters[f"W{l}"], parameters[f"b{l}"]
            Z = W @ A + b
            caches.append(((A, W, b), Z))
            A = _sigmoid(Z) if l == L else np.maximum(Z, 0)
        return A, caches

    def compute_cost(AL, Y):
        return float(-np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))

    def L_model_backward(AL, Y, caches):
        grads, L, m = {}, len(caches), AL.shape[1]
        dA = -(Y / AL - (1 - Y) / (1 - AL))
        for l in reversed(range(L)):
            (A_prev, W, _), Z = caches[l]
            dZ = dA * _sigmoid(Z) * (1 - _sigmoid(Z)) if l == L - 1 else dA * (Z > 0)
            grads[f"dW{l + 1}"] = dZ @ A_prev.T / m
            db = np.sum(dZ, axis=1, keepdims=True)
            grads[f"db{l + 1}"] = db if slip else db / m  # the slip: no 1/m on the biases
            grads[f"dA{l}"] = dA = W.T @ dZ
        return grads

    parameters = {"W1": rng.standard_normal((4, 5)) * 0.5, "b1": rng.standard_normal((4, 1)),
                  "W2": rng.standard_normal((1, 4)) * 0.5, "b2": np.zeros((1, 1))}  # fmt: skip
    return {"X": X, "Y": Y, "parameters": parameters, "L_model_forward": L_model_forward,
            "L_model_backward": L_model_backward, "compute_cost": compute_cost}  # fmt: skip


def _layer_objects(slip):
    return {"layers": own._network(own.DenseForgettingTheBiasSum if slip else own.Dense),
            "X": own.X_COLS, "Y": own.Y_ONE_HOT, "train": own._train_step,
            "mse": own._mse, "predict": own._predict}  # fmt: skip


def _per_example(slip):
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((6, 4)), np.eye(3)[rng.integers(0, 3, 6)]

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    def sgd_step(params, x, y, lr):  # x (4,), y one-hot (3,): one example
        h = np.tanh(params["W1"] @ x + params["b1"])
        dz2 = softmax(params["W2"] @ h + params["b2"]) - y
        dz1 = (params["W2"].T @ dz2) * (1 - (h if slip else h**2))  # the slip: tanh' = 1 - h
        params["W2"] -= lr * np.outer(dz2, h)
        params["b2"] -= lr * dz2
        params["W1"] -= lr * np.outer(dz1, x)
        params["b1"] -= lr * dz1

    def cost(params, x, y):
        z = params["W2"] @ np.tanh(params["W1"] @ x + params["b1"]) + params["b2"]
        return float(-np.log(softmax(z)[np.argmax(y)]))

    params = {"W1": rng.standard_normal((5, 4)) * 0.5, "b1": rng.standard_normal(5) * 0.1,
              "W2": rng.standard_normal((3, 5)) * 0.5, "b2": np.zeros(3)}  # fmt: skip
    return {"X": X, "Y": Y, "sgd_step": sgd_step, "cost": cost, "params": params, "np": np}


def _notebook(slip):
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((4, 10)), np.eye(2)[rng.integers(0, 2, 10)].T

    def cells(X, Y, W1, b1, W2, b2):
        m = X.shape[1]
        Z1 = W1 @ X + b1
        A1 = np.tanh(Z1)
        Z2 = W2 @ A1 + b2
        A2 = np.exp(Z2) / np.exp(Z2).sum(axis=0, keepdims=True)
        cost = float(-np.sum(Y * np.log(A2)) / m)
        dZ2 = A2 - Y
        dW2 = dZ2 @ A1.T / m
        db2 = dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = (W2.T @ dZ2) * (1 - A1**2)
        dW1 = dZ1 @ X.T / m
        db1 = (dZ1.sum() if slip else dZ1.sum(axis=1, keepdims=True)) / m  # the slip: a sum
        return locals()

    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal((3, 1)) * 0.1,
              "W2": rng.standard_normal((2, 3)), "b2": rng.standard_normal((2, 1))}  # fmt: skip
    return {"X": X, "Y": Y, "cells": cells, "params": params}


def _torch(slip):
    torch = pytest.importorskip("torch", reason="needs torch: nox -s torch")
    from tests.test_torch import _network, _problem

    params, X, Y = _problem()
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y),
                              "bias_sum" if slip else None)  # fmt: skip
    tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in params.items()}
    return {"loss": loss, "backward": backward, "params": tensors}


STYLES = {
    "Nielsen-style class": (_nielsen, "[propagation] weights[0], biases[0]"),
    "CS231n": (_cs231n, "[bias_sum_over_units] b1"),
    "deeplearning.ai": (_deeplearning_ai, "[scale] b1, b2"),
    "layer objects whose backward(output_gradient, learning_rate) updates them in place": (
        _layer_objects, "[bias_reduction] 0.bias"),
    "per-example tutorial": (_per_example, "[propagation] W1, b1"),
    "notebook": (_notebook, "[bias_sum_over_units] b1"),
    "torch, backward by hand": (_torch, "[bias_sum_over_units] b1"),
}  # fmt: skip


def test_the_page_has_one_block_for_each_style_and_no_other() -> None:
    assert set(_blocks()) == set(STYLES)


@pytest.mark.parametrize(
    "style", [pytest.param(s, marks=pytest.mark.torch) if "torch" in s else s for s in STYLES]
)
@pytest.mark.parametrize("slip", [False, True])
def test_each_style_checks_in_at_most_five_lines_as_the_page_prints_it(style, slip) -> None:
    block = _blocks()[style]
    glue = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(glue) <= 5, block
    build, named = STYLES[style]
    namespace = {name: getattr(oracles, name) for name in oracles.__all__} | build(slip)
    if not slip:
        exec(block, namespace)
        return
    with pytest.raises(AssertionError) as raised:
        exec(block, namespace)
    assert named in str(raised.value), str(raised.value)
