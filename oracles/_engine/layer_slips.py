"""Named slips of one layer's backward, read from where its wrong entries lie (``check_backward``
knows the layer's inputs, outputs and upstream gradient, which a whole network's check does not).

- ``repeated_indices``: wrong only at rows whose index repeats in an integer input (an
  embedding's ``dW[x] = dout`` where repeated words must add: ``np.add.at``);
- ``overlapping_windows``: each entry keeps only the last window's (or filter's) share, or is
  wrong only where it feeds several outputs (``dx[...] = ...`` where ``+=`` must add);
- ``first_output_only``: exactly the first output entry's share (a ``return`` inside the loop
  over windows or steps);
- ``softmax_diagonal``: exactly ``dout * s (1 - s)``, the softmax Jacobian's diagonal alone;
- ``mean_over_axis``: a ``scale`` whose factor is the size (3 or more) of an axis of an output or
  an input (a mean over that axis where the gradient sums it, or the reverse);
- ``normalisation_term``: the error the same along an axis (a normalisation's mean term
  dropped) or the centred input times one number per column (its variance term);
- ``last_step_only``, ``no_carry``: a layer over a sequence, out (N, T, H), whose gradient is
  what the last step's upstream alone gives, or each step's own with nothing carried back;
- a vanilla tanh RNN's ``derivative_of_output``, ``state_off_by_one``, ``one_step_only``
  (``oracles._engine.recurrent``, by recomputing its backward with each slip).

Which output feeds which entry is probed one input entry at a time (small layers only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.diagnosis import LAYER_DEFECTS, Defect
from oracles._engine.records import GradientReport
from oracles._engine.recurrent import recurrent_defect, slip_matches

FAN_OUT_LIMIT = 4096  # input entries probed one by one for the outputs they feed


def layer_defects(
    defects: Sequence[Defect],
    report: GradientReport,
    inputs: Mapping[str, Any],
    constants: Mapping[str, Any],
    outputs: Callable[[Mapping[str, Any]], list[NDArray[np.float64]]],
    douts: Sequence[NDArray[np.float64]],
) -> list[Defect]:
    """``defects`` (of one layer's check, ``report``), each replaced by a named slip of the
    layer where one explains it. ``inputs``: the float inputs at the point; ``constants`` the
    others; ``outputs(point)`` the forward's outputs at a point; ``douts`` the upstream."""
    outs = outputs(inputs)
    named = []
    for d in defects:
        found = None
        if d.kind == "regularisation":  # no L2 term lives in one layer's own check
            found = Defect("unexplained", d.parameters, (
                f"off by {d.value:.3g} times the value itself, which no L2 term explains inside "
                "one layer; in a layer that updates itself, an input gradient taken through "
                "the weights after their update reads so"), d.value)  # fmt: skip
        elif d.kind == "scale" and d.value is not None:
            rtol = max(report[name].rtol for name in d.parameters)
            found = _mean_over_axis(d, outs, inputs, rtol)
        elif all(name in inputs for name in d.parameters):
            for name in d.parameters:  # one slip may leave several inputs wrong: read each
                wrong = _wrong_entries(report, name)
                found = (_softmax_diagonal(name, report, outs, douts)
                         or _repeated_indices(name, wrong, inputs[name], constants)
                         or _dropped_term(name, report, inputs[name])
                         or _fan_out(name, wrong, report.gradient[name], inputs, outputs, outs,
                                     douts))  # fmt: skip
                if found is not None:
                    found = replace(found, parameters=d.parameters)
                    break
        named.append(found or d)
    if all(d.kind in LAYER_DEFECTS for d in named):
        return named
    of_output = _derivative_of_output(report, inputs, outputs, outs, douts)
    if of_output is not None:
        return [of_output]
    # A vanilla recurrent layer: its slips recomputed, one named slip for every failing input.
    whole = recurrent_defect(report.failed, report.gradient, inputs, outs, douts)
    return [whole] if whole is not None else named


# The activations whose derivative a backward may take of the output by mistake: the right
# derivative in terms of the output a, and the one taken of a itself.
Of = Callable[[NDArray[np.float64]], Any]
ACTIVATIONS: dict[str, tuple[Of, Of, Of]] = {
    "tanh": (lambda a: np.all(np.abs(a) < 1), lambda a: 1 - a**2, lambda a: 1 - np.tanh(a) ** 2),
    "sigmoid": (lambda a: np.all((a > 0) & (a < 1)), lambda a: a * (1 - a),
                lambda a: _sigmoid(a) * (1 - _sigmoid(a))),
}  # fmt: skip


def _sigmoid(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1 / (1 + np.exp(-a))


def _derivative_of_output(
    report: GradientReport,
    inputs: Mapping[str, Any],
    outputs: Callable[[Mapping[str, Any]], list[NDArray[np.float64]]],
    outs: list[NDArray[np.float64]],
    douts: Sequence[NDArray[np.float64]],
) -> Defect | None:
    """A layer whose output is tanh or sigmoid of something, and whose every failing gradient
    is what the upstream scaled by f'(f(z)) / f'(z) gives: the derivative taken of the output
    (probed entry by entry: small layers only)."""
    failed = [n for n in report.failed if n in inputs]
    if len(outs) != 1 or len(douts) != 1 or not failed or len(failed) < len(report.failed):
        return None
    if sum(np.size(inputs[n]) for n in failed) > FAN_OUT_LIMIT:
        return None
    out, dout = outs[0], np.asarray(douts[0], dtype=np.float64).reshape(outs[0].shape)
    rights = cache(lambda n: _vjp(n, inputs, outputs, dout))  # each input's right gradient, once
    for name, (applies, right, taken) in ACTIVATIONS.items():
        if not applies(out) or np.any(right(out) == 0):
            continue
        scaled = dout * taken(out) / right(out)
        # The slip's gradient is the user's, and tells from the right one, on each failing input.
        candidates = ((n, _vjp(n, inputs, outputs, scaled)) for n in failed)
        if all(slip_matches(report.gradient[n], c) and not slip_matches(rights(n), c)
               for n, c in candidates):  # fmt: skip
            return Defect("derivative_of_output", tuple(failed), (
                f"{name}' taken of {name}'s output: the backward multiplies by {name}'(a) where "
                f"a = {name}(z) is already the output, so {name}'(z), "
                f"{'1 - a^2' if name == 'tanh' else 'a (1 - a)'}, is meant"))  # fmt: skip
    return None


def _vjp(
    name: str,
    inputs: Mapping[str, Any],
    outputs: Callable[[Mapping[str, Any]], list[NDArray[np.float64]]],
    dout: NDArray[np.float64],
) -> NDArray[np.float64]:
    """d <dout, out> / d inputs[name], by central differences one entry at a time."""
    x = np.asarray(inputs[name], dtype=np.float64)
    flat, grad = x.reshape(-1), np.zeros(x.size)
    for i in range(x.size):
        step = 1e-6 * max(abs(flat[i]), 1.0)
        ends = []
        for sign in (1, -1):
            moved = flat.copy()
            moved[i] += sign * step
            ends.append(float(np.sum(dout * outputs({**inputs, name: moved.reshape(x.shape)})[0])))
        grad[i] = (ends[0] - ends[1]) / (2 * step)
    return grad.reshape(x.shape)


def _wrong_entries(report: GradientReport, name: str) -> NDArray[np.intp] | None:
    """The flat indices of ``name``'s wrong entries, where every entry was compared."""
    p = report[name]
    if p.mode != "all":
        return None
    c = p.comparisons
    return np.asarray(c.index[c.judged & ~c.passed], dtype=np.intp)


def _mean_over_axis(
    d: Defect, outs: list[NDArray[np.float64]], inputs: Mapping[str, Any], rtol: float
) -> Defect | None:
    """A ``scale`` whose factor is the size of an axis of an output or an input, within the
    ``rtol`` its parameters were judged at (float32's, for a float32 loss)."""
    v = float(d.value or 0.0)
    named = [("the output" if len(outs) == 1 else f"output {i + 1}", np.shape(o))
             for i, o in enumerate(outs)]  # fmt: skip
    named += [(name, np.shape(value)) for name, value in inputs.items()]
    for what, shape in named:
        for axis, size in enumerate(shape):
            if size < 3:  # 2 and 1/2 come from a square's derivative as often: left to scale
                continue
            if np.isclose(v, size, rtol=rtol, atol=0):
                why = (f"{size} times the right gradient, the size of axis {axis} of {what}: "
                       "the forward (or its loss) averages over that axis where the gradient "
                       "sums it")  # fmt: skip
                return Defect("mean_over_axis", d.parameters, why, v)
            if np.isclose(v, 1 / size, rtol=rtol, atol=0):
                why = (f"1/{size} of the right gradient, the size of axis {axis} of {what}: the "
                       "gradient averages over that axis where the forward sums it")  # fmt: skip
                return Defect("mean_over_axis", d.parameters, why, v)
    return None


def _softmax_diagonal(
    name: str,
    report: GradientReport,
    outs: list[NDArray[np.float64]],
    douts: Sequence[NDArray[np.float64]],
) -> Defect | None:
    if len(outs) != 1 or np.shape(outs[0]) != np.shape(report.gradient[name]):
        return None
    s, dout, g = outs[0], douts[0], report.gradient[name]
    sums_to_one = any(np.allclose(s.sum(axis=a), 1.0) for a in range(s.ndim))
    if not (sums_to_one and np.all((s >= 0) & (s <= 1))):
        return None
    if not np.allclose(g, dout * s * (1 - s), rtol=1e-6, atol=1e-12):
        return None
    return Defect("softmax_diagonal", (name,), (
        "exactly dout * s (1 - s): the softmax's Jacobian reduced to its diagonal; the right "
        "gradient is s * (dout - sum(dout * s)) over the class axis (each output depends on "
        "every input of its row or column)"))  # fmt: skip


def _right(report: GradientReport, name: str) -> NDArray[np.float64] | None:
    """The right gradient of ``name`` (the values nearest the given one), where every entry
    was measured."""
    p = report[name]
    if p.mode != "all":
        return None
    c = p.comparisons
    right = np.zeros(int(np.prod(p.shape)))
    right[c.index] = np.clip(c.gradient, c.low, c.high)
    return right.reshape(p.shape)


def _dropped_term(name: str, report: GradientReport, value: Any) -> Defect | None:
    """A normalisation's backward without its mean's or its variance's term: the error is the
    same along an axis (the mean's), or the centred input times one number per column (the
    variance's)."""
    right = _right(report, name)
    x = np.asarray(value, dtype=np.float64)
    if right is None or x.ndim < 2 or x.shape != right.shape:
        return None
    e = report.gradient[name] - right
    size = float(np.max(np.abs(e)))
    if size == 0.0:
        return None
    for axis in range(x.ndim):
        if x.shape[axis] < 3:
            continue
        if np.allclose(e, e.mean(axis=axis, keepdims=True), atol=1e-6 * size):
            return Defect("normalisation_term", (name,), (
                f"off by the same amount along axis {axis} (every entry of a column): a term "
                f"averaged over axis {axis} is missing, as a normalisation's mean term "
                "(- sum(dxhat) / N) when the mean's dependence on x is dropped"))  # fmt: skip
        centred = x - x.mean(axis=axis, keepdims=True)
        safe = np.where(np.abs(centred) > 1e-8, centred, np.nan)
        ratio = e / safe
        spread = np.nanmax(np.abs(ratio - np.nanmean(ratio, axis=axis, keepdims=True)))
        if np.isfinite(spread) and spread <= 1e-6 * float(np.nanmax(np.abs(ratio))):
            return Defect("normalisation_term", (name,), (
                f"off by the centred input times one number per column (along axis {axis}): "
                "a normalisation's variance term (- xhat * sum(dxhat * xhat) / N) is missing, "
                "the variance's dependence on x dropped"))  # fmt: skip
    return None


def _repeated_indices(
    name: str, wrong: NDArray[np.intp] | None, value: Any, constants: Mapping[str, Any]
) -> Defect | None:
    if wrong is None or not wrong.size or np.ndim(value) < 1:
        return None
    rows = set(np.unravel_index(wrong, np.shape(value))[0].tolist())
    for key, idx in constants.items():
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu" or not idx.size or idx.max() >= np.shape(value)[0]:
            continue
        values, counts = np.unique(idx, return_counts=True)
        repeated = set(values[counts > 1].tolist())
        if repeated and rows <= repeated:
            return Defect("repeated_indices", (name,), (
                f"wrong only at rows {sorted(rows)} of {name}, exactly indices that repeat in "
                f"{key}: the gradient is assigned ({name}[{key}] = dout) where repeated indices "
                f"must add (np.add.at(d{name}, {key}, dout))"),
                indices=tuple((r,) for r in sorted(rows)))  # fmt: skip
    return None


def _fan_out(
    name: str,
    wrong: NDArray[np.intp] | None,
    given: NDArray[np.float64],
    inputs: Mapping[str, Any],
    outputs: Callable[[Mapping[str, Any]], list[NDArray[np.float64]]],
    outs: list[NDArray[np.float64]],
    douts: Sequence[NDArray[np.float64]],
) -> Defect | None:
    """Overlapping windows, or the first output's share alone, from which output entries each
    entry of ``name`` feeds (probed one entry at a time: small layers only)."""
    x = np.asarray(inputs[name], dtype=np.float64)
    if wrong is None or not wrong.size or x.size > FAN_OUT_LIMIT:
        return None
    feeds = np.zeros(x.size, dtype=np.intp)  # how many output entries each entry feeds
    first = np.zeros(x.size)  # d(first output entry) / d(entry), by a forward difference
    last = np.zeros(x.size)  # the share of the last output entry it feeds, in loop order
    flat_x, upstream = x.reshape(-1), np.concatenate([d.reshape(-1) for d in douts])
    before = np.concatenate([o.reshape(-1) for o in outs])
    # A sequence out of (N, T, H): each entry's derivatives of every output, by time step.
    timed = len(outs) == 1 and outs[0].ndim == 3 and outs[0].shape[1] > 1
    jacobian = np.zeros((x.size, before.size)) if timed else None
    for i in range(x.size):
        moved = flat_x.copy()
        step = 1e-6 * max(abs(moved[i]), 1.0)
        moved[i] += step
        after = np.concatenate([o.reshape(-1) for o in
                                outputs({**inputs, name: moved.reshape(x.shape)})])  # fmt: skip
        changed = np.flatnonzero(after != before)
        feeds[i] = changed.size
        first[i] = (after[0] - before[0]) / step
        if changed.size:
            k = changed[-1]
            last[i] = upstream[k] * (after[k] - before[k]) / step
        if jacobian is not None:
            jacobian[i] = (after - before) / step
    is_wrong = np.zeros(x.size, dtype=bool)
    is_wrong[wrong] = True
    g = given.reshape(-1)
    scale = float(np.max(np.abs(g))) if g.size else 0.0

    def matches(share: NDArray[np.float64]) -> bool:
        return scale > 0 and bool(np.allclose(g, share, rtol=1e-4, atol=1e-5 * scale))

    several = feeds > 1
    if several.any() and (matches(last) or (np.all(several[is_wrong]) and not np.all(several))):
        return Defect("overlapping_windows", (name,), (
            f"wrong where an entry of {name} feeds several outputs ({int(is_wrong.sum())} of "
            f"the {int(several.sum())} such entries): the gradient assigned (dx[...] = ...), "
            "so each entry keeps only the last window's (or filter's) share, where every "
            "share must add (+=)"))  # fmt: skip
    if jacobian is not None:
        found = _through_time(name, x, outs[0], jacobian, upstream, matches)
        if found is not None:
            return found
    if matches(float(upstream[0]) * first):
        why = (
            "exactly the share of the first output entry, every other output's missing: the "
            "loop over windows or steps stops after the first (a return or break inside it)"
        )
        return Defect("first_output_only", (name,), why)
    return None


def _through_time(
    name: str,
    x: NDArray[np.float64],
    out: NDArray[np.float64],
    jacobian: NDArray[np.float64],
    upstream: NDArray[np.float64],
    matches: Callable[[NDArray[np.float64]], bool],
) -> Defect | None:
    """A recurrent layer over a sequence, out (N, T, H): the gradient that only the last step's
    upstream gives, or (for an input with the same time axis) that each step's own upstream
    gives with nothing carried back to the step before."""
    steps = out.shape[1]
    out_time = np.indices(out.shape)[1].reshape(-1)
    final = out_time == steps - 1
    if matches(jacobian[:, final] @ upstream[final]):
        return Defect("last_step_only", (name,), (
            f"exactly what the last step's upstream gradient gives (dout[:, -1]): the upstream "
            f"gradients of steps 0-{steps - 2} are missing; each step's dh must add its own "
            "dout[:, t] to the gradient carried back"))  # fmt: skip
    if x.ndim == 3 and x.shape[1] == steps:
        in_time = np.indices(x.shape)[1].reshape(-1)
        own = np.array([jacobian[i, out_time == in_time[i]] @ upstream[out_time == in_time[i]]
                        for i in range(x.size)])  # fmt: skip
        if matches(own):
            return Defect("no_carry", (name,), (
                f"exactly what each step's own upstream gradient gives to {name}: nothing is "
                "passed back to step t - 1 (the gradient of the previous state, dprev_h, "
                "dropped from the next step's dh)"))  # fmt: skip
    return None
