"""Slips of a vanilla recurrent layer's backward, named by recomputing them.

A layer whose output is ``h`` (N, T, H) with h_t = tanh(x_t Wx + h_{t-1} Wh + b) from inputs x
(N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,) (or one step of it: x (N, D), prev_h (N, H),
next_h (N, H)) is recognised by its inputs' shapes and by reproducing its output; its backward
is then recomputed with each named slip, and the slip whose gradients are the user's, on every
input that fails, is named:

- ``derivative_of_output``: tanh' taken of tanh's output, 1 - tanh(h)^2 where 1 - h^2 is meant;
- ``state_off_by_one``: dWh from h_t, the state a step produces, where h_{t-1} enters it; or
  step 0's previous state read as h[:, -1] (Python's index t - 1 at t = 0) where h0 enters;
- ``one_step_only``: a shared weight's gradient equal to one step's contribution (``dWx =``
  where the steps must add, ``+=``).

Only the shapes above, examples as rows, are recognised; any other layer gets no name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import permutations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.diagnosis import Defect

Arrays = dict[str, NDArray[np.float64]]
ROLES = ("x", "h0", "Wx", "Wh", "b")


def recurrent_defect(
    failed: Sequence[str],
    given: Mapping[str, NDArray[np.float64]],
    inputs: Mapping[str, Any],
    outs: Sequence[NDArray[np.float64]],
    douts: Sequence[NDArray[np.float64]],
) -> Defect | None:
    """The named slip whose gradients are ``given`` (the user's, by input name) on every input
    in ``failed``, where the layer is a vanilla tanh RNN (over a sequence, or one step)."""
    if len(outs) != 1 or len(douts) != 1 or outs[0].ndim not in (2, 3):
        return None
    seq = outs[0].ndim == 3
    out = outs[0] if seq else outs[0][:, None]
    dout = np.asarray(douts[0], dtype=np.float64).reshape(out.shape)
    floats = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()
              if isinstance(v, np.ndarray) and v.dtype.kind == "f"}  # fmt: skip
    for roles in _assignments(floats, out.shape, seq):
        a = {role: floats[name] for role, name in roles.items()}
        a["x"], a["b"] = (a["x"] if seq else a["x"][:, None]), a["b"].reshape(-1)
        h = _forward(a)
        if not np.allclose(h, out, rtol=1e-8, atol=1e-12):
            continue
        if any(name not in roles.values() for name in failed):
            return None  # another input fails too: not this structure's slip alone
        wrong = [role for role, name in roles.items() if name in failed]
        right, dz = _through_time(a, h, dout)
        for kind, words, grads in _slipped(a, h, dout, right, dz):
            # The slip's gradient is the user's, and tells from the right one, on each input
            # that fails (a candidate that leaves an input right names nothing there).
            if all(slip_matches(given[roles[r]], grads[r]) and not slip_matches(right[r], grads[r])
                   for r in wrong):  # fmt: skip
                return Defect(kind, tuple(roles[r] for r in wrong), words.format(**roles))
        return None
    return None


def _assignments(floats: Arrays, shape: tuple[int, ...], seq: bool) -> list[dict[str, str]]:
    """Each way of reading five of the float inputs as x, h0, Wx, Wh, b that their shapes
    allow (out of shape (N, T, H))."""
    N, T, H = shape
    found: list[dict[str, str]] = []
    if len(floats) > 8:  # more float inputs than a recurrent layer takes: not this structure
        return found
    for names in permutations(floats, len(ROLES)):
        s = {role: floats[name].shape for role, name in zip(ROLES, names, strict=True)}
        x = s["x"]
        if (len(x) == (3 if seq else 2) and x[0] == N and (not seq or x[1] == T)
                and s["h0"] == (N, H) and s["Wx"] == (x[-1], H) and s["Wh"] == (H, H)
                and s["b"] in ((H,), (1, H))):  # fmt: skip
            found.append(dict(zip(ROLES, names, strict=True)))
    return found


def _forward(a: Arrays) -> NDArray[np.float64]:
    """h (N, T, H): h_t = tanh(x_t Wx + h_{t-1} Wh + b), h_{-1} = h0 (``a`` by role)."""
    x, Wh = a["x"], a["Wh"]
    h, prev = np.zeros((x.shape[0], x.shape[1], Wh.shape[0])), a["h0"]
    for t in range(x.shape[1]):
        prev = h[:, t] = np.tanh(x[:, t] @ a["Wx"] + prev @ Wh + a["b"])
    return h


def _entering(a: Arrays, h: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """The state entering each step: h0, then h_0 ... h_(T-2)."""
    return [a["h0"]] + [h[:, t] for t in range(h.shape[1] - 1)]


def _through_time(
    a: Arrays, h: NDArray[np.float64], dout: NDArray[np.float64], of_output: bool = False
) -> tuple[Arrays, list[NDArray[np.float64]]]:
    """The gradients (x, h0, Wx, Wh, b) by backpropagation through time, and each step's dz;
    ``of_output``: tanh' taken of the output (the slip)."""
    x, T = a["x"], a["x"].shape[1]
    dx, dz_t = np.zeros_like(x), [np.zeros_like(a["h0"])] * T
    carried = np.zeros_like(a["h0"])
    for t in reversed(range(T)):
        slope = 1 - np.tanh(h[:, t]) ** 2 if of_output else 1 - h[:, t] ** 2
        dz = dz_t[t] = (dout[:, t] + carried) * slope
        dx[:, t] = dz @ a["Wx"].T
        carried = dz @ a["Wh"].T
    prev = _entering(a, h)
    grads = {
        "x": dx,
        "h0": carried,
        "Wx": sum(x[:, t].T @ dz_t[t] for t in range(T)),
        "Wh": sum(prev[t].T @ dz_t[t] for t in range(T)),
        "b": sum(dz.sum(axis=0) for dz in dz_t),
    }
    return grads, dz_t


OF_OUTPUT = (
    "tanh' taken of tanh's output: the backward multiplies by 1 - tanh(h)^2 where h is already "
    "tanh(z), so 1 - h^2 is meant"
)
OWN_STATE = (
    "d{Wh} sums h_t^T dz_t, the state step t produces, where the state entering step t, "
    "h_(t-1) (h0 at t = 0), is meant: the states are off by one step"
)
WRAPPED_STATE = (
    "at step 0, d{Wh} takes the last step's state, h[:, -1] (index t - 1 at t = 0), where {h0} "
    "enters: the previous state of step 0 is h0"
)
ONE_STEP = (
    "d{{{role}}} is step {k}'s contribution alone (of {T} steps): it is assigned in the loop "
    "over steps (d{{{role}}} = ...) where every step's must add (+=)"
)


def _slipped(
    a: Arrays,
    h: NDArray[np.float64],
    dout: NDArray[np.float64],
    right: Arrays,
    dz: list[NDArray[np.float64]],
) -> list[tuple[str, str, Arrays]]:
    """(kind, words with {x}, {Wh}, ... for the inputs' names, the gradients) of each slip,
    from the ``right`` gradients and each step's ``dz``."""
    x, h0, T = a["x"], a["h0"], a["x"].shape[1]
    prev = _entering(a, h)
    own = sum((h[:, t].T @ dz[t] for t in range(T)), np.zeros_like(a["Wh"]))
    out: list[tuple[str, str, Arrays]] = [
        ("derivative_of_output", OF_OUTPUT, _through_time(a, h, dout, True)[0]),
        ("state_off_by_one", OWN_STATE, {**right, "Wh": own}),
    ]
    if T > 1:
        wrapped = right["Wh"] - h0.T @ dz[0] + h[:, -1].T @ dz[0]
        out.append(("state_off_by_one", WRAPPED_STATE, {**right, "Wh": wrapped}))
        for k in (T - 1, 0):
            share = {"Wx": x[:, k].T @ dz[k], "Wh": prev[k].T @ dz[k], "b": dz[k].sum(axis=0)}
            out += [("one_step_only", ONE_STEP.format(role=role, k=k, T=T), {**right, role: v})
                    for role, v in share.items()]  # fmt: skip
    return out


def slip_matches(given: Any, candidate: NDArray[np.float64]) -> bool:
    """``given`` (read in ``candidate``'s shape) is ``candidate`` to the loose tolerance a
    named slip is matched at (its values recomputed or probed, not measured to rounding)."""
    g = np.asarray(given, dtype=np.float64).reshape(candidate.shape)
    scale = float(np.max(np.abs(candidate))) if candidate.size else 0.0
    return scale > 0 and bool(np.allclose(g, candidate, rtol=1e-4, atol=1e-5 * scale))
