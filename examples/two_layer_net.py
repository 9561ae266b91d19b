"""A from-scratch two-layer network as tutorials write it (a class whose ``loss(X, y)``
returns the loss and its gradients, examples as rows), audited with ``python -m oracles.audit
examples/two_layer_net.py:cases``.

``cases()`` returns three Cases: the network as written, the same network with a guard in
its loss (``log(p + 1e-8)``), and one with a slip in its backward (the ReLU mask forgotten).
"""

from __future__ import annotations

import numpy as np

from oracles import Case, mlp_reference


def softmax(Z):
    """Row-wise softmax of logits Z (m, C), shifted by each row's maximum."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def relu(Z):
    return np.maximum(Z, 0)


def cross_entropy(Z, y):
    """Mean over the m rows of -log softmax(Z)[i, y_i], from the logits."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


class TwoLayerNet:
    """input - fully connected - ReLU - fully connected - softmax, weights W1 (D, H), W2 (H, C)."""

    def __init__(self, D, H, C, seed=0, guard=0.0, slip=False):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.standard_normal((D, H)) * np.sqrt(2 / D),
            "b1": np.zeros(H),
            "W2": rng.standard_normal((H, C)) * np.sqrt(2 / H),
            "b2": np.zeros(C),
        }
        self.guard, self.slip = guard, slip

    def loss(self, X, y):
        """(mean cross-entropy, gradients) over the m rows of X (m, D), labels y (m,)."""
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        m = X.shape[0]
        Z1 = X @ W1 + b1
        A1 = relu(Z1)
        Z2 = A1 @ W2 + b2
        P = softmax(Z2)
        loss = -np.log(P[np.arange(m), y] + self.guard).mean()
        dZ2 = P.copy()
        dZ2[np.arange(m), y] -= 1
        dZ2 /= m
        dA1 = dZ2 @ W2.T
        dZ1 = dA1 if self.slip else dA1 * (Z1 > 0)
        grads = {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}
        return loss, grads


def case_of(net, X, y, name):
    """The Case of ``net`` on (X, y): its own loss() judged against the network meant."""

    def loss_and_grads(params):
        net.params = params  # the net reads its parameters from here, as its update does
        return net.loss(X, y)

    meant = mlp_reference(
        X, y, activation="relu", output="softmax", loss="cross_entropy", examples="rows"
    )
    primitives = {
        "softmax": (softmax, {"axis": 1}),
        "relu": relu,
        "cross_entropy": (cross_entropy, {"axis": 1}),
    }
    return Case(
        loss_and_grads,
        None,
        net.params,
        reference=meant,
        primitives=primitives,
        name=name,
        examples=len(y),
    )


def cases():
    """The network as written, with a guard in its loss, and with a slip in its backward."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    return [
        case_of(TwoLayerNet(6, 5, 3), X, y, "as written"),
        case_of(TwoLayerNet(6, 5, 3, guard=1e-8), X, y, "log(p + 1e-8)"),
        case_of(TwoLayerNet(6, 5, 3, slip=True), X, y, "no ReLU mask"),
    ]
