"""The diagnosis of a wrong gradient: which defect, where, in plain words.

It reads a check's report (finite differences, or an exact reference) and matches each failing
parameter against kinds of defect. A kind that implies a correction is claimed only when the
corrected right values explain every measured coordinate within tolerance. Per parameter,
tried in order: sign, scale, zero, transpose, bias_sum_over_units, regularisation, localized;
then, from which parameters of which layers are wrong: bias_reduction, weight_product,
propagation, output_error; ``unexplained`` for the rest. Kinds that need every coordinate are
undecided for a parameter measured on a sample.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oracles._engine.degenerate import degenerate, degenerate_words
from oracles._engine.inputs import Grad, Loss, Params, Point, float64_copies
from oracles._engine.measure import measure, problem_for
from oracles._engine.records import GradientReport, ParameterReport
from oracles._engine.tolerances import Tolerance
from oracles._engine.wording import BIAS_SUM, SIGN, TRANSPOSE, l2_words, scale_words

__all__ = ["DEFECTS", "Defect", "Diagnosis", "diagnosis_of"]

DEFECTS: dict[str, str] = {
    "sign": "the negative of the right gradient",
    "scale": "a constant multiple of the right gradient",
    "zero": "all zeros where the right gradient is not",
    "transpose": "the transpose of the right gradient",
    "bias_sum_over_units": "one number shared by every unit: the sum over units and examples",
    "regularisation": "off by a constant times the parameter itself (an L2 term)",
    "localized": "wrong only at a few entries, rows or columns",
    "bias_reduction": "only biases wrong, every weight right: the sum over examples for db",
    "weight_product": "only weights wrong, their biases right: the product dZ_k A_{k-1}^T",
    "propagation": "wrong in one layer and every layer below it, right above it",
    "output_error": "wrong in every layer: the output layer's error dZ_L is wrong",
    "unexplained": "wrong, and no known kind explains it",
    "degenerate": "named at no defect: the point is degenerate (a weight matrix of one value)",
    # Found by oracles.audit's diagnose_network, for a network whose architecture is known:
    "slip": "a named slip of the derivation, at a layer, matched to rounding",
    "forward": "right for the code's own forward pass, which is not the network described",
    "numerical_guard": "the described network's gradient; the code's own loss has a guard",
    # Found by check_backward, which knows one layer's inputs, outputs and upstream gradient:
    "repeated_indices": "wrong only at rows whose index repeats: assigned where it must add",
    "overlapping_windows": "wrong only where an input feeds several outputs: overwritten there",
    "first_output_only": "the first output's share alone: the loop stops after it",
    "softmax_diagonal": "the softmax Jacobian reduced to its diagonal, dout * s (1 - s)",
    "mean_over_axis": "a mean over an output axis where the gradient sums it, or the reverse",
    "normalisation_term": "a normalisation's mean or variance term missing from dx",
    "last_step_only": "a recurrent layer's gradient from the last step's upstream alone",
    "no_carry": "a recurrent layer passing nothing back to the step before",
    "derivative_of_output": "an activation's derivative taken of its output, tanh'(tanh(z))",
    "state_off_by_one": "a recurrent weight's gradient from the states one step off",
    "one_step_only": "a shared weight's gradient from one step alone: assigned, not added",
}
NETWORK_DEFECTS = ("slip", "forward", "numerical_guard")  # oracles.audit's diagnose_network's
POINT_DEFECTS = ("degenerate",)  # said of the point checked, not of the code
# oracles._engine.layer_slips': named where one layer's inputs and outputs are known
LAYER_DEFECTS = ("repeated_indices", "overlapping_windows", "first_output_only",
                 "softmax_diagonal", "mean_over_axis", "normalisation_term", "last_step_only",
                 "no_carry", "derivative_of_output", "state_off_by_one",
                 "one_step_only")  # fmt: skip
SAMPLE = 64  # coordinates measured per large parameter above max_coordinates
FEW_ENTRIES = 8  # "a few entries"; or the wrong entries fill at most two rows or columns
NEEDS_EVERY_COORDINATE = ("transpose", "localized", "bias_sum_over_units")
STRUCTURAL_SLIPS = ("propagation", "output_error")
STRUCTURAL_FLOOR = 1e-2


@dataclass(frozen=True)
class Defect:
    """One defect: its ``kind`` (a key of DEFECTS), the parameters it concerns, a sentence a
    learner can act on, and what was measured (``value``: the factor or the L2 coefficient;
    ``indices``: the wrong entries; ``layer``: 1-based, as in W1; ``slip``: the key of
    ``oracles._engine.slips.SLIPS`` for kind ``slip``)."""

    kind: str
    parameters: tuple[str, ...]
    detail: str
    value: float | None = None
    indices: tuple[tuple[int, ...], ...] | None = None
    layer: int | None = None
    slip: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with a hand-written gradient: ``correct``, or the ``defects`` found.

    ``trusted`` says what the gradient was compared with; ``undecided`` lists the kinds
    that could not be decided (and for which parameters), with the reason.
    """

    correct: bool
    defects: tuple[Defect, ...]
    trusted: str
    undecided: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.correct:
            return f"diagnosis: the gradient is right (against {self.trusted})"
        lines = [f"diagnosis (against {self.trusted}):"]
        for defect in self.defects:
            lines.append(f"  [{defect.kind}] {', '.join(defect.parameters)}: {defect.detail}")
        lines += [f"  undecided: {what}" for what in self.undecided]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Evidence:
    """One parameter as the diagnosis reads its report: the hand-written values g at the
    measured flat ``indices``, the range [low, high] of right values there, the absolute
    slack beyond rtol, and the parameter's own values there."""

    report: ParameterReport
    value: NDArray[np.float64]
    failed: bool

    @property
    def name(self) -> str:
        return self.report.name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.report.shape

    @property
    def indices(self) -> NDArray[np.intp]:
        return self.report.comparisons.index

    @property
    def g(self) -> NDArray[np.float64]:
        return self.report.comparisons.gradient

    @property
    def low(self) -> NDArray[np.float64]:
        return self.report.comparisons.low

    @property
    def high(self) -> NDArray[np.float64]:
        return self.report.comparisons.high

    @property
    def rtol(self) -> float:
        return self.report.rtol

    @property
    def full(self) -> bool:
        return self.indices.size == int(np.prod(self.shape))

    @property
    def slack(self) -> NDArray[np.float64]:
        """Each comparison's allowance beyond rtol times the larger of g and a right value."""
        with np.errstate(invalid="ignore"):
            middle = (self.low + self.high) / 2
        middle = np.where(np.isfinite(middle), middle, 0.0)
        beyond = self.report.comparisons.allowed - self.rtol * np.maximum(
            np.abs(self.g), np.abs(middle)
        )
        return np.maximum(beyond, 0.0)

    @property
    def t(self) -> NDArray[np.float64]:
        """A right value at each measured coordinate (the middle of its range; 0 where the
        range is unbounded: an entry set aside)."""
        with np.errstate(invalid="ignore"):
            middle = (self.low + self.high) / 2
        return np.where(np.isfinite(middle), middle, 0.0)

    def _within(
        self,
        values: NDArray[np.float64],
        lo: NDArray[np.float64],
        hi: NDArray[np.float64],
        spread: float = 1.0,
    ) -> NDArray[np.bool_]:
        """Entry by entry: ``values`` lie within tolerance of [lo, hi] (the measurement's own
        noise allowance times ``spread``, where [lo, hi] is the right range times it)."""
        nearest = np.clip(values, lo, hi)
        allowed = self.rtol * np.maximum(np.abs(values), np.abs(nearest)) + self.slack * spread
        return np.abs(values - nearest) <= allowed

    def right(self, candidate: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Entry by entry: ``candidate`` lies within tolerance of the range of right values."""
        return self._within(candidate, self.low, self.high)

    def explains(
        self, low_if: NDArray[np.float64], high_if: NDArray[np.float64], factor: float = 1.0
    ) -> bool:
        """True when the hand-written values lie, within tolerance at every measured
        coordinate, in [``low_if``, ``high_if``]: where a defect takes the range of right
        values (one value off a kink), scaled by ``factor`` where it scales them (their
        measurement noise scales with it)."""
        lo, hi = np.minimum(low_if, high_if), np.maximum(low_if, high_if)
        # The noise scales with the factor only where the right values stand above it: a
        # right gradient of about 0 (rounding alone) times 1e10 explains nothing.
        resolved = float(np.linalg.norm(self.t)) > 10 * float(np.linalg.norm(self.slack))
        spread = max(abs(factor), 1.0) if resolved else 1.0
        return bool(np.all(self._within(self.g, lo, hi, spread)))


def _layers_from_names(names: Sequence[str]) -> list[tuple[str, str]] | None:
    """[(W1, b1), (W2, b2), ...] read from the names, either case; None if they don't fit."""
    found: dict[int, dict[str, str]] = {}
    for name in names:
        match = re.fullmatch(r"([WwBb])(\d+)", name)
        if match is None:
            return None
        found.setdefault(int(match.group(2)), {})[match.group(1).lower()] = name
    if sorted(found) != list(range(1, len(found) + 1)):
        return None
    if any(set(pair) != {"w", "b"} for pair in found.values()):
        return None
    return [(found[k]["w"], found[k]["b"]) for k in range(1, len(found) + 1)]


def _roles(layer: tuple[str, ...], x: Point) -> tuple[str, ...]:
    """A layer's parameters, its weight first and its bias second, read by shape wherever
    they stand (("Wx", "Wh", "b") -> ("Wx", "b", "Wh"); Nielsen's ("b3", "W3") -> ("W3", "b3")):
    the weight has two or more axes longer than 1, the bias at most one. Left as given where
    the shapes do not tell (a weight of one output unit)."""

    def matrix(name: str) -> bool:
        return sum(int(n) > 1 for n in np.shape(x[name])) >= 2

    known = [name for name in layer if name in x]
    weights = [name for name in known if matrix(name)]
    vectors = [name for name in known if not matrix(name)]
    if not weights or not vectors:
        return layer
    first = (weights[0], vectors[0])
    return first + tuple(name for name in layer if name not in first)


def diagnosis_of(
    report: GradientReport,
    loss: Loss,
    grad: Grad,
    params: Params,
    *,
    layers: Sequence[tuple[str, ...]] | None = None,
    examples: int | None = None,
    seed: int | np.random.Generator = 0,
    trusted: str | None = None,
) -> Diagnosis:
    """The defects that ``report`` (a check of ``grad`` against ``loss`` at ``params``) shows.

    A report by coordinates is read as it is. One by directions says which parameters fail;
    SAMPLE coordinates of each are then measured, from the gradient the report holds.
    """
    x = float64_copies(params)
    failed = {p.name for p in report.parameters if p.mismatched}
    undecided: list[str] = []
    measured = report.parameters
    if report.mode == "directional":
        # The check's own tolerance: the least rtol (a parameter's is raised only where the
        # loss's precision calls for it, and the precision measured raises it again).
        first = min(report.parameters, key=lambda p: p.rtol)
        tol = Tolerance(first.rtol, first.atol)
        rng = np.random.default_rng(seed)
        problem = problem_for(loss, grad, x, dict(report.gradient), "central", tol,
                              rng.spawn(1)[0], precision=report.precision)  # fmt: skip
        measured = measure(problem, "sample", samples=SAMPLE, rng=rng)
        trusted = trusted or (
            f"finite differences ({report.mode} for the verdict, {SAMPLE} coordinates "
            "of each larger parameter for the kind)"
        )
    elif trusted is None:
        trusted = (
            "finite differences over every coordinate"
            if report.mode == "all"
            else f"finite differences ({report.mode} of the coordinates)"
        )
    evidence = {
        p.name: _Evidence(p, x[p.name].reshape(-1)[p.comparisons.index], p.name in failed)
        for p in measured
        if p.name in x
    }
    sampled = [e.name for e in evidence.values() if e.failed and not e.full]
    if sampled:
        undecided.append(
            f"{', '.join(NEEDS_EVERY_COORDINATE)} for {', '.join(sampled)} "
            f"(measured on a sample of coordinates, not every one)"
        )
    if not any(e.failed for e in evidence.values()):
        return Diagnosis(True, (), trusted, tuple(undecided))
    point = degenerate(x)
    if point:
        return Diagnosis(False, (Defect("degenerate", tuple(sorted(failed)),
                                        degenerate_words(point)),), trusted)  # fmt: skip
    flat = [e.name for e in evidence.values() if e.failed and e.g.size > 1
            and not np.any(e.low) and not np.any(e.high)]  # fmt: skip
    if flat:
        return Diagnosis(False, (Defect("degenerate", tuple(flat), (
            f"the loss does not change with {', '.join(flat)} at all at this point (every unit "
            "they feed is off, say: a whole layer on one side of its kink), so their gradient "
            "is zero here and any other value is wrong; no defect is named from such a point: "
            "check at other points (check_at_points)")),), trusted)  # fmt: skip
    order = list(layers) if layers is not None else _layers_from_names(list(x))
    if order is None:
        undecided.append("propagation, output_error (no layer order: name the parameters "
                         "W1, b1, W2, b2, ... or pass layers=)")  # fmt: skip
    elif not order:
        undecided.append("propagation, output_error (layers=[]: no layer order, so no layer "
                         "is reasoned about)")  # fmt: skip
    else:
        order = [_roles(tuple(layer), x) for layer in order]
    biases = {layer[1] for layer in order if len(layer) > 1} if order else set()
    found = {
        e.name: _per_parameter(e, e.name in biases, examples) for e in evidence.values() if e.failed
    }
    found = _supported(_shared_factors(found, evidence), evidence)
    defects = _one_per_layer(_merged([d for d in found.values() if d is not None]), order)
    unexplained = [name for name, d in found.items() if d is None]
    if order and unexplained:
        structural = _structure(order, evidence, set(unexplained))
        if structural is not None and structural.kind in STRUCTURAL_SLIPS:
            # A slip in backpropagation changes a gradient at its own scale; errors under
            # STRUCTURAL_FLOOR of it everywhere are a precision or constant issue.
            worst = max(_relative_error(evidence[n]) for n in structural.parameters)
            if worst < STRUCTURAL_FLOOR:
                structural = None
        if structural is not None:
            structural, defects = _carried(structural, defects, order, evidence)
            defects.append(structural)
            unexplained = [n for n in unexplained if n not in structural.parameters]
    if unexplained:
        defects.append(_unexplained([evidence[n] for n in unexplained]))
    return Diagnosis(False, tuple(defects), trusted, tuple(undecided))


def _per_parameter(e: _Evidence, is_bias: bool, examples: int | None) -> Defect | None:
    """The first per-parameter kind that explains ``e``'s hand-written values, or None."""
    t, g = e.t, e.g
    if is_bias and e.full and t.size > 1 and _bias_sum(e):
        return Defect("bias_sum_over_units", (e.name,), BIAS_SUM, float(np.mean(g)))
    lo, hi = e.low, e.high
    if e.explains(lo, hi):
        return None  # right at every coordinate measured here: the failure was seen nearby
    if np.all(g == 0):
        return Defect("zero", (e.name,), "all zeros: it is never computed, or never stored")
    if int(np.prod(e.shape)) == 1:
        return None  # one entry: any factor, sign or L2 term would fit it, so none is claimed
    if e.explains(-hi, -lo):
        return Defect("sign", (e.name,), SIGN, -1.0)
    # Constants are fitted where the right value is one number (off any kink), if anywhere.
    exact = lo == hi if bool(np.any(lo == hi)) else np.ones_like(lo, dtype=bool)
    norm = float(np.dot(t[exact], t[exact]))
    if norm > 0:
        c = _plain(float(np.dot(g[exact], t[exact])) / norm, e, examples)
        if abs(c - 1) > 2 * e.rtol and c != 0 and e.explains(c * lo, c * hi, c):
            return Defect("scale", (e.name,), scale_words(c, examples), c)
    if e.full and len(e.shape) == 2 and e.shape[0] == e.shape[1] > 1:
        flip = (lo.reshape(e.shape).T.reshape(-1), hi.reshape(e.shape).T.reshape(-1))
        if e.explains(*flip):
            return Defect("transpose", (e.name,), TRANSPOSE)
    w = e.value
    if float(np.dot(w[exact], w[exact])) > 0:
        lam = float(np.dot((g - t)[exact], w[exact])) / float(np.dot(w[exact], w[exact]))
        if e.explains(lo + lam * w, hi + lam * w):
            return Defect("regularisation", (e.name,), l2_words(lam, e.name), lam)
    if e.full:
        wrong = ~e.right(g)
        local = _localized(e, wrong)
        if local is not None:
            return local
    return None


def _plain(c: float, e: _Evidence, examples: int | None) -> float:
    """The fitted factor ``c`` as the plain number it rounds to (m, 1/m, an integer or its
    inverse) where that number explains the evidence as well: a float32 loss fits 24.0005 for
    a missing division by 24."""
    if c == 0 or not np.isfinite(c):
        return c
    near = [float(examples), 1 / examples] if examples else []
    near += [float(round(c))] if abs(c) >= 1 else [1 / round(1 / c)]
    for plain in near:
        near_enough = plain != 0 and abs(c - plain) <= 1e-2 * abs(plain)
        if near_enough and e.explains(plain * e.low, plain * e.high, plain):
            return plain
    return c


def _bias_sum(e: _Evidence) -> bool:
    """Every unit's value is one number G, and G is the right gradient summed over units."""
    G = float(np.mean(e.g))
    shared = np.abs(e.g - G) <= e.rtol * abs(G) + e.slack
    total_slack = e.rtol * abs(G) + float(np.sum(e.slack))
    within = float(np.sum(e.low)) - total_slack <= G <= float(np.sum(e.high)) + total_slack
    return bool(np.all(shared)) and within


def _localized(e: _Evidence, wrong: NDArray[np.bool_]) -> Defect | None:
    count = int(wrong.sum())
    if count == 0 or 2 * count > e.g.size:
        return None
    entries = [tuple(int(i) for i in np.unravel_index(j, e.shape)) for j in e.indices[wrong]]
    rows, cols = ({entry[axis] for entry in entries} for axis in (0, -1))
    block = _gate_block(cols, e.shape[-1]) if e.shape else None
    if block is not None:
        (a, b), k, j = block
        words = (
            f"wrong only in {'entries' if len(e.shape) == 1 else 'columns'} {a}-{b}, block "
            f"{j} of {k} equal blocks along the last axis: stacked gates (an LSTM's 4H, a "
            "GRU's 3H), one gate's slice computed wrong or taken from another gate"
        )
        return Defect("localized", (e.name,), f"{words} ({count} of {e.g.size} entries)",
                      indices=tuple(entries))  # fmt: skip
    if count <= FEW_ENTRIES:
        where = ", ".join(map(str, entries))
        words = f"wrong only at {count} entr{'y' if count == 1 else 'ies'} {where}"
    elif len(e.shape) == 2 and len(rows) <= 2 and 2 * len(rows) < e.shape[0]:
        words = f"wrong only in row{'s' * (len(rows) > 1)} {', '.join(map(str, sorted(rows)))}"
    elif len(e.shape) == 2 and len(cols) <= 2 and 2 * len(cols) < e.shape[1]:
        words = f"wrong only in column{'s' * (len(cols) > 1)} {', '.join(map(str, sorted(cols)))}"
    else:
        return None
    return Defect(
        "localized",
        (e.name,),
        f"{words} ({count} of {e.g.size}); the rest is right: an indexing or slicing slip "
        "(an off-by-one range, a dropped row or column, one element overwritten)",
        indices=tuple(entries),
    )


def _gate_block(cols: set[int], size: int) -> tuple[tuple[int, int], int, int] | None:
    """((first, last), k, j): the wrong indices along the last axis are exactly block j (from
    1) of k = 4 or 3 equal blocks of at least 2 (stacked gates); None otherwise."""
    for k in (4, 3):
        if size % k or size // k < 2:
            continue
        H = size // k
        j = min(cols) // H
        if cols == set(range(j * H, (j + 1) * H)):
            return (j * H, (j + 1) * H - 1), k, j + 1
    return None


def _null(e: _Evidence) -> bool:
    """Every right value is zero within tolerance (a bias that feeds batch norm): such a
    parameter says nothing about the dZ of its layer."""
    return e.full and bool(np.all(np.abs(e.t) <= e.slack))


def _structure(
    order: Sequence[tuple[str, ...]], evidence: dict[str, _Evidence], unexplained: set[str]
) -> Defect | None:
    """The kind that follows from which parameters of which layers are wrong (among those no
    per-parameter kind explains), or None. A parameter whose right gradient is identically zero
    is no witness for or against its layer."""
    failed = {name for name, e in evidence.items() if e.failed}
    witnesses = [tuple(n for n in layer if n in evidence and not _null(evidence[n]))
                 for layer in order]  # fmt: skip
    weights = [layer[0] for layer in order]
    biases = [layer[1] for layer in order if len(layer) > 1]
    if unexplained and unexplained <= set(biases) and not failed & set(weights):
        return Defect(
            "bias_reduction",
            tuple(b for b in biases if b in unexplained),
            "every weight gradient is right, so dZ is right: the error is in the bias "
            "gradient's own reduction, db_k = sum of dZ_k over the examples (axis 1) / m "
            "(its axis, the terms it sums, or its 1/m)",
        )
    # db_k = sum of dZ_k: a right bias says dZ_k is right, unless its right gradient is zero.
    bias_of = {layer[0]: layer[1] for layer in order if len(layer) > 1}

    def right_bias(w: str) -> bool:
        b = bias_of.get(w)
        return b is not None and b in evidence and not _null(evidence[b]) and b not in failed

    if unexplained and unexplained <= set(weights) and all(map(right_bias, unexplained)):
        return Defect(
            "weight_product",
            tuple(w for w in weights if w in unexplained),
            "the biases of the same layers are right, so dZ_k is right there: the error is in "
            "dW_k = dZ_k A_{k-1}^T / m (with examples as rows: A_{k-1}^T dZ_k / m): its input "
            "A_{k-1} (Z used for A, another layer's A) or the order of the product",
        )
    wrong = [bool(seen) and all(n in failed for n in seen) for seen in witnesses]
    inside = _inside(order, witnesses, failed, wrong, unexplained)
    if inside is not None:
        return inside
    if not any(wrong):
        return None
    top = max(k for k, w in enumerate(wrong, start=1) if w)
    if not all(wrong[:top]) or any(n in failed for seen in witnesses[top:] for n in seen):
        return None
    params = tuple(n for layer in order[:top] for n in layer if n in unexplained)
    if not params:
        return None
    L = len(order)
    if L == 1:
        return None  # one layer: "every layer is wrong" would say only what the check said
    if top == L:
        return Defect(
            "output_error",
            params,
            "every layer is wrong, so the error starts in the output layer's dZ_L = A_L - Y "
            "(check the labels' one-hot, the softmax's derivative, and the division by m)",
            layer=L,
        )
    above = _above(top, L)
    return Defect(
        "propagation",
        params,
        f"layer {top} and every layer below it are wrong while {above} right: the error "
        f"enters while backpropagating into layer {top}; check dA_{top} = W_{top + 1}^T "
        f"dZ_{top + 1} (with examples as rows: dZ_{top + 1} W_{top + 1}^T) and layer {top}'s "
        f"activation derivative g'(Z_{top})",
        layer=top,
    )


def _above(top: int, L: int) -> str:
    """The layers above layer ``top`` of ``L``, with their verb: "layer 3 is", "layers 3-4
    are"."""
    return f"layer {L} is" if top + 1 == L else f"layers {top + 1}-{L} are"


def _carried(
    structural: Defect,
    defects: list[Defect],
    order: Sequence[tuple[str, ...]],
    evidence: dict[str, _Evidence],
) -> tuple[Defect, list[Defect]]:
    """``structural`` (the error entering at its layer, every layer below wrong) with the
    ``localized`` defect of that very layer folded in: one slip (a mask or an index taken from
    elsewhere) leaves some entries of its layer wrong and is carried down into every layer
    below. The other defects are returned as they were."""
    top = structural.layer
    layer_of = {n: k for k, layer in enumerate(order, start=1) for n in layer}
    local = [d for d in defects if d.kind == "localized"
             and all(layer_of.get(n) == top for n in d.parameters)]  # fmt: skip
    if top is None or not local:
        return structural, defects
    names = {n for d in local for n in d.parameters} | set(structural.parameters)
    params = tuple(n for layer in order for n in layer if n in names)
    counts = []
    for n in (n for d in local for n in d.parameters):
        e = evidence[n]
        counts.append(f"{n}: {int(np.sum(~e.right(e.g)))} of {e.g.size}")
    L = len(order)
    above = "" if top == L else f", while {_above(top, L)} right"
    words = (
        f"layer {top} is wrong only at some entries ({'; '.join(counts)}) and every layer "
        f"below it wholly{above}: one slip where backpropagation enters layer {top}, "
        f"carried down (a mask, an index or a slice taken from another layer: check dZ_{top}"
        f"'s mask and g'(Z_{top}))"
    )
    rest = [d for d in defects if not any(d is l for l in local)]
    return Defect(structural.kind, params, words, layer=top), rest


def _inside(
    order: Sequence[tuple[str, ...]],
    witnesses: list[tuple[str, ...]],
    failed: set[str],
    wrong: list[bool],
    unexplained: set[str],
) -> Defect | None:
    """A layer whose weight is wrong while its further parameters (batch norm's gamma and
    beta, after its weight and bias) are right, every layer below it wrong and every one above
    right: the error enters inside that layer, between them."""
    for k in range(len(order), 0, -1):
        layer, seen = order[k - 1], witnesses[k - 1]
        right = [n for n in seen if n not in failed]
        if layer[0] not in unexplained or not right:
            continue
        if not all(layer.index(n) >= 2 for n in right):
            return None
        if not all(wrong[: k - 1]) or any(n in failed for s in witnesses[k:] for n in s):
            return None
        params = tuple(n for lay in order[:k] for n in lay if n in unexplained)
        below = "" if k == 1 else ", and every layer below it is wrong from there"
        return Defect("propagation", params, (
            f"in layer {k}, {', '.join(right)} {'is' if len(right) == 1 else 'are'} right while "
            f"{layer[0]} is wrong{below}: the error enters inside layer {k}, in the backward "
            f"through what lies between {layer[0]} and {right[0]} (a normalisation's dx: its "
            "mean or variance term)"), layer=k)  # fmt: skip
    return None


def _supported(
    found: dict[str, Defect | None], evidence: dict[str, _Evidence]
) -> dict[str, Defect | None]:
    """A bias sum that is 0 (a softmax layer's) is evidence only beside one that is not."""
    sums = {n: d for n, d in found.items() if d is not None and d.kind == "bias_sum_over_units"}

    def zero(name: str) -> bool:
        e = evidence[name]
        return abs(float(np.mean(e.g))) <= float(np.max(e.slack)) + e.rtol * float(
            np.max(np.abs(e.t))
        )

    if sums and all(zero(n) for n in sums):
        return {n: (None if n in sums else d) for n, d in found.items()}
    return found


def _shared_factors(
    found: dict[str, Defect | None], evidence: dict[str, _Evidence]
) -> dict[str, Defect | None]:
    """A parameter of one entry, which any factor would fit alone, joins a ``scale`` or
    ``sign`` that another parameter shows when it is off by that very factor (a 1/m left out
    of every bias gradient, the output layer's of one unit among them)."""
    factors = [d for d in found.values() if d is not None and d.kind in ("scale", "sign")]
    out = dict(found)
    for name, d in found.items():
        e = evidence[name]
        if d is not None or int(np.prod(e.shape)) != 1:
            continue
        for f in factors:
            c = float(f.value or 1.0)
            if e.explains(c * e.low, c * e.high, c):
                out[name] = Defect(f.kind, (name,), f.detail, f.value)
                break
    return out


def _relative_error(e: _Evidence) -> float:
    """||g - right|| / ||right|| over the measured coordinates (right: nearest valid value)."""
    nearest = np.clip(e.g, e.low, e.high)
    return float(np.linalg.norm(e.g - nearest) / max(float(np.linalg.norm(nearest)), 1e-300))


def _error_words(e: _Evidence) -> str:
    """The relative error; where the right gradient is about zero (a millionth of the given or
    less: a bias before a normalisation), both sizes instead of a ratio like 1e+10."""
    nearest = np.clip(e.g, e.low, e.high)
    right, given = float(np.linalg.norm(nearest)), float(np.linalg.norm(e.g))
    if right <= 1e-6 * given:
        return f"its right gradient is about 0 here (norm {right:.2g}), the one given {given:.2g}"
    return f"relative error {_relative_error(e):.2g}"


def _unexplained(items: list[_Evidence]) -> Defect:
    parts = []
    for e in items:
        wrong = ~e.right(e.g)
        parts.append(f"{e.name} ({_error_words(e)}, {int(wrong.sum())} of {e.g.size} entries off)")
    return Defect(
        "unexplained",
        tuple(e.name for e in items),
        "wrong, and no sign, scale, transpose, bias sum, L2 term or local slip explains it: "
        + "; ".join(parts),
    )


def _one_per_layer(defects: list[Defect], order: Sequence[tuple[str, ...]] | None) -> list[Defect]:
    """Localized defects of parameters of one layer as one defect: one slip at one place (a
    mask taken from another layer) leaves wrong entries in each of that layer's parameters."""
    layer_of = {n: k for k, layer in enumerate(order or ()) for n in layer}
    out: list[Defect] = []
    for d in defects:
        k = layer_of.get(d.parameters[0]) if d.kind == "localized" else None
        same = next(
            (i for i, o in enumerate(out)
             if k is not None and o.kind == "localized" and layer_of.get(o.parameters[0]) == k),
            None,
        )  # fmt: skip
        if same is None or k is None:
            out.append(d)
            continue
        o = out[same]
        first = o.detail if len(o.parameters) > 1 else f"{o.parameters[0]}: {o.detail}"
        out[same] = Defect("localized", o.parameters + d.parameters,
                           f"{first}; {', '.join(d.parameters)}: {d.detail}",
                           layer=k + 1)  # fmt: skip
    return out


def _merged(defects: list[Defect]) -> list[Defect]:
    """One defect per kind (and value, for scale and regularisation), listing its parameters."""
    out: list[Defect] = []
    for d in defects:
        for k, other in enumerate(out):
            same_value = d.value is None or (
                other.value is not None and abs(d.value - other.value) <= 1e-6 * abs(d.value)
            )
            if d.kind == "bias_sum_over_units":
                same_value = True  # each layer has its own sum
            if other.kind == d.kind and same_value and d.kind not in ("localized",):
                out[k] = Defect(other.kind, other.parameters + d.parameters, other.detail,
                                other.value, other.indices, other.layer)  # fmt: skip
                break
        else:
            out.append(d)
    return out
