"""diagnose_network names each slip of a derivation, at its layer, on a network it knows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from oracles._engine.slips import MLP, SLIPS, gradients, hypotheses
from oracles.audit.network_diagnosis import diagnose_network
from reference_nn import NETWORKS
from reference_nn.network import build

SIZES = (12, 6, 6, 4)


class Slipped:
    """A network whose hand-written gradients carry one slip; everything else is ``net``'s."""

    def __init__(self, net: Any, slip: str | None, layers: frozenset[int]) -> None:
        self._net, self._slip, self._layers = net, slip, layers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._net, name)

    def gradients(self, params, X, y):
        mlp = MLP(self._net.spec.sizes, self._net.spec.hidden_activation)
        return gradients(params, X, y, mlp, self._slip, self._layers)


def _problem(document: str, seed: int = 0):
    net = build(replace(NETWORKS[document], sizes=SIZES))
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(v.shape) / 2 for k, v in net.init_params(0).items()}
    X, y = rng.standard_normal((SIZES[0], 16)), rng.integers(0, SIZES[-1], 16)
    return net, params, X, y


def _changes(document: str, slip: str, layers: frozenset[int]) -> bool:
    """The slip changes this network's gradient (an L2 slip without L2, or the ReLU's mask on A
    for Z, changes nothing, and is no case)."""
    _, params, X, y = _problem(document)
    mlp = MLP(SIZES, NETWORKS[document].hidden_activation)
    injected, right = gradients(params, X, y, mlp, slip, layers), gradients(params, X, y, mlp)
    return not all(np.allclose(injected[k], right[k], rtol=1e-12, atol=1e-15) for k in right)


CASES = [
    (document, slip, layers)
    for document in ("sigmoid_16_16", "relu_16_16")
    for slip, layers in hypotheses(MLP(SIZES, NETWORKS[document].hidden_activation))
    if _changes(document, slip, layers)
]


def test_there_are_at_least_eight_slips() -> None:
    assert len(SLIPS) >= 8 and all(slip.words for slip in SLIPS.values())
    assert len(CASES) >= 60  # most slips change these two networks at some layer


@pytest.mark.jax
@pytest.mark.parametrize(("document", "slip", "layers"), CASES)
def test_each_slip_is_named_with_its_layer(document, slip, layers) -> None:
    net, params, X, y = _problem(document)
    act = net.spec.hidden_activation
    mlp = MLP(SIZES, act)
    injected = gradients(params, X, y, mlp, slip, layers)
    right = gradients(params, X, y, mlp)
    found = diagnose_network(Slipped(net, slip, layers), params, X, y)
    assert not found.correct
    named = [d for d in found.defects if d.kind == "slip"]
    assert len(named) == 1, str(found)
    (defect,) = named
    # Where two slips give the very same gradients, naming either is right.
    again = gradients(params, X, y, mlp, defect.slip, _layers_of(defect, layers))
    assert all(np.allclose(again[k], injected[k], rtol=1e-12, atol=1e-15) for k in right), (
        f"named {defect.slip} at {defect.detail}, injected {slip} at {sorted(layers)}"
    )
    assert SLIPS[defect.slip].words in defect.detail and "layer" in defect.detail


def _layers_of(defect, injected: frozenset[int]) -> frozenset[int]:
    words = defect.detail.split(":")[0]
    if words == "output layer":
        return frozenset()
    return frozenset(int(n) for n in words.replace("layers", "").replace("layer", "").split(","))


@pytest.mark.jax
@pytest.mark.parametrize("document", ["sigmoid_16_16", "relu_16_16"])
def test_a_right_network_gets_no_slip(document) -> None:
    net, params, X, y = _problem(document)
    assert diagnose_network(net, params, X, y).correct
    assert diagnose_network(Slipped(net, None, frozenset()), params, X, y).correct


@pytest.mark.jax
@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ("sigmoid_16_16", "forward"),
        ("relu_532", "numerical_guard"),
        ("relu_500_150", "numerical_guard"),
    ],
)
def test_a_forward_departure_and_a_numerical_guard_are_told_apart(document, kind) -> None:
    """001's published forward shifts its sigmoid (the backward is right for it); 000 and
    002 print a loss with log(Y_hat + 1e-8), whose gradient the backward is not."""
    spec = replace(NETWORKS[document], sizes=(12, 6, 4) if document == "relu_532" else SIZES)
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 16)), rng.integers(0, 4, 16)
    for variant, expected in (("published", kind), ("reference", None)):
        net = build(spec, variant=variant)
        params = {k: v.astype(np.float64) for k, v in net.init_params(0).items()}
        found = diagnose_network(net, params, X, y)
        assert [d.kind for d in found.defects] == ([expected] if expected else []), str(found)
