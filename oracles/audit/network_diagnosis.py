"""``diagnose_network``: for a network whose architecture is known, name the slip.

Each slip of ``slips.SLIPS`` is an exact hypothesis: the gradients a backward with that
slip gives, at one layer or at all, matched to the hand-written ones to rounding. With JAX it
also tells a backward right for a forward that departs from the network described (kind
``forward``) from one that is the described network's gradient but not that of the code's own
loss, which carries a numerical guard (kind ``numerical_guard``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles import diagnose
from oracles._engine.diagnosis import Defect, Diagnosis
from oracles._engine.optional import missing
from oracles._engine.slips import MLP, SLIPS, gradients, hypotheses, layer_words
from oracles._engine.tolerances import autodiff_tolerance_for
from oracles.checks import compare_gradients
from reference_nn.network import Network

Array = NDArray[np.float64]
BOTH = "jax.grad of its own forward and of the network described"


def _wrong(
    a: Mapping[str, Array], b: Mapping[str, Array], rtol: float, scale: Mapping[str, Array]
) -> tuple[str, ...]:
    """The parameters where ``a`` differs from ``b`` by more than ``rtol`` of the largest
    entry of ``scale`` (the right gradient)."""
    report = compare_gradients(a, b, oracle="slip", rtol=0.0, atol=rtol, scale=scale)
    return tuple(p.name for p in report.parameters if p.mismatched)


def diagnose_network(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    *,
    rtol: float = 1e-9,
) -> Diagnosis:
    """``diagnose`` for ``net``'s hand-written gradients at ``params`` on X (n_0, m) and y (m,),
    with the named slips tested against them (a match to ``rtol`` of the parameter's largest
    right entry is a defect of kind ``slip``); with JAX, the trusted gradient is jax.grad of
    the network's own forward, and the described network's is compared too."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    spec = net.spec
    g = {k: np.asarray(v, dtype=np.float64) for k, v in net.gradients(p, X64, y).items()}

    def hand_written(q: dict[str, Any]) -> dict[str, Any]:
        return dict(net.gradients(q, X64, y))

    def loss(q: dict[str, Any]) -> float:
        return float(net.loss(q, X64, y))

    if missing("jax") is None:
        from oracles.audit.jax_oracle import jax_gradients

        own = jax_gradients(net, p, X64, y, "own_forward")
        described = jax_gradients(net, p, X64, y, "independent")
        near = 10 * autodiff_tolerance_for(np.float64).rtol
        own_wrong = _wrong(g, own, near, own)
        described_wrong = _wrong(g, described, near, described)
        if not own_wrong and not described_wrong:
            return Diagnosis(True, (), BOTH)
        if not own_wrong:
            return Diagnosis(False, (Defect(
                "forward", described_wrong,
                "the backward is the derivative of the code's own forward pass, but that forward "
                "is not the network described (an activation or softmax computed otherwise)",
            ),), BOTH)  # fmt: skip
        if not described_wrong:
            return Diagnosis(False, (Defect(
                "numerical_guard", tuple(g),
                "the gradient is that of the network described, not of the code's own loss: "
                "they differ by a numerical guard (an epsilon inside a log or an exp) that the "
                "gradient does not follow",
            ),), BOTH)  # fmt: skip
        found = replace(
            diagnose(loss, hand_written, p, reference=lambda q: own),
            trusted="jax.grad of the code's own forward pass",
        )
    else:
        found = diagnose(loss, hand_written, p)
    if found.correct:
        return found
    mlp = MLP(spec.sizes, spec.hidden_activation)
    right = gradients(p, X64, y, mlp)
    for slip, layers in hypotheses(mlp):
        candidate = gradients(p, X64, y, mlp, slip, layers)
        changed = _wrong(candidate, right, rtol, right)
        if not changed or _wrong(g, candidate, rtol, right):
            continue  # no slip at all here, or not this one
        words = f"{layer_words(layers)}: {SLIPS[slip].words}"
        defect = Defect("slip", changed, words, layer=max(layers, default=spec.num_layers),
                        slip=slip)  # fmt: skip
        return replace(found, defects=(*found.defects, defect))  # the first, most local match
    return found
