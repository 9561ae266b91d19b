"""``check_gradients``: judge a hand-written gradient against finite differences.

Works on any architecture, activation or loss: it sees only ``loss(params) -> float``
and ``grad(params) -> dict``, with ``params`` a dict of float arrays. Every
evaluation runs in float64 on copies; the caller's arrays are never changed.

Modes, and what each can detect (measured by the mutation suite, oracles/mutants.py):
  ``all``          every coordinate: any coordinate whose error exceeds the tolerance.
  ``sample``       ``samples`` random coordinates per parameter: an error present in a
                   fraction p of the coordinates is caught with probability
                   1 - (1 - p)^samples; an error in a single coordinate is usually missed.
  ``directional``  random unit directions v (random signs) per parameter and over all
                   parameters at once, comparing v . grad with the directional difference:
                   any error e with |v . e| above tolerance, which for random v holds with
                   high probability once ||e|| exceeds about rtol * ||grad|| (plus the
                   rounding floor); it cannot say which coordinate is wrong. SCREEN (3)
                   directions first; all ``directions`` (16) only where none of those
                   fails but one comes within a quarter of its allowance, an error near the
                   resolution, which more directions give more chances to show.
  ``auto``         ``all`` up to ``max_coordinates`` parameters in total, else ``directional``.

Kinks. Along a direction v the loss is a slice g(t) = f(x + t v). Where a ReLU (or max,
abs) switches branch within the step, the central difference straddles the switch; the
step is shrunk, and where the slice turns smooth the central difference there decides.
Where it stays kinked down to the smallest step, the switch is at the point itself: the
one-sided derivatives g'(0+) and g'(0-) are measured (second-order one-sided differences,
clean when two steps agree). A hand-written value between them is what some choice of
ReLU'(0) gives, and passes. But with several units on their kinks and v moving them in
opposite directions, the values that the usual conventions give (ReLU'(0) = 0 or 1 for
every unit) can lie outside that pair, so one pair does not bound what is valid. There the
check moves off the kink: at nearby points x + r u (u: all-ones over every parameter, over
each parameter alone, and random; both signs; r and r/2, so that the drift with r is
extrapolated away) the slice is smooth, and there
  * the gradient function itself is judged on its own value at that point: any bug that
    the function has near the kink fails here, with the nearby point's values reported;
  * the directional derivative measured there is a limit of the derivative at the point,
    and widens the range a value at the kink may take.
The value at the kink passes once the gradient is right at a nearby point and the value
lies within every limit measured so far. A value outside every limit measured, from a
gradient that is right at every nearby point probed, cannot be decided by differences of
the loss alone (the valid range is not bounded from outside): it is set aside, counted in
``set_aside``, and shown. A parameter none of whose coordinates or directions could be
judged is not ``passed``.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from oracles.differences import Estimates, estimates
from oracles.report import GradientReport, ParameterReport
from oracles.tolerances import (
    EPS64,
    LOSS_ROUNDING_ULPS,
    RELATIVE_STEPS,
    Tolerance,
    step_for,
    tolerance_for,
)

__all__ = [
    "Judgement",
    "LowPrecisionGradientWarning",
    "check_gradients",
    "judge_gradients",
    "measure_coordinates",
]

Params = Mapping[str, NDArray[Any]]
Loss = Callable[[dict[str, Any]], Any]
Grad = Callable[[dict[str, Any]], Mapping[str, Any]]
MODES = ("auto", "all", "sample", "directional")
METHODS = ("central", "richardson", "complex_step")
ALL_PARAMETERS = "(all)"
RETRY_LEVELS = 3  # steps h/8, h/64, h/512 after h
NEARBY_RADIUS = 32  # nearby points lie 32 central steps away (and 16, to extrapolate)
RANDOM_PROBES = 2  # random nearby directions, each with both signs, after the all-ones ones
SCREEN = 3  # directions tried first per parameter in mode directional
SUSPICIOUS = 0.25  # a screened direction this close to its allowance calls for them all


class LowPrecisionGradientWarning(UserWarning):
    """The gradient under test came back in a dtype less precise than float64."""


@dataclass(frozen=True)
class _Verdict:
    """One coordinate's or direction's judgement.

    ``kink``: a kink lay within the step. ``on_kink``: kinked down to the smallest step, so
    on the point itself. ``nearby``: ``analytic`` and ``numerical`` were measured at a point
    near x, off the kink (a failure found there). ``set_aside``: it could not be judged.
    """

    analytic: float
    numerical: float
    allowed: float
    passed: bool
    kink: bool = False
    on_kink: bool = False
    set_aside: bool = False
    nearby: bool = False
    limits: tuple[float, ...] = field(default=(), compare=False)


class _Direction(Protocol):
    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float: ...

    def slice(
        self, loss: Loss, point: dict[str, NDArray[np.float64]]
    ) -> Callable[[float], float]: ...


@dataclass(frozen=True)
class _Coordinate:
    """The unit vector of one coordinate (a flat index into one parameter)."""

    name: str
    index: int

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        return float(gradient[self.name].reshape(-1)[self.index])

    def slice(self, loss: Loss, point: dict[str, NDArray[np.float64]]) -> Callable[[float], float]:
        flat = point[self.name].reshape(-1)  # a view: the coordinate is set and restored
        old, i = float(flat[self.index]), self.index

        def g(t: float) -> float:
            flat[i] = old + t
            try:
                return float(loss(point))
            finally:
                flat[i] = old

        return g


@dataclass(frozen=True)
class _Dense:
    """A direction over one or more whole parameters."""

    v: dict[str, NDArray[np.float64]]

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        return float(sum(np.vdot(gradient[name], d) for name, d in self.v.items()))

    def slice(self, loss: Loss, point: dict[str, NDArray[np.float64]]) -> Callable[[float], float]:
        def g(t: float) -> float:
            return float(loss({**point, **{n: point[n] + t * d for n, d in self.v.items()}}))

        return g


def _allowed(a: float, n: float, tol: Tolerance, noise: float) -> float:
    return tol.rtol * max(abs(a), abs(n)) + tol.atol + noise


def _noise_unit(f0: float) -> float:
    """The rounding error of one loss evaluation near the value ``f0``."""
    return LOSS_ROUNDING_ULPS * EPS64 * (abs(f0) + 1.0)


def _within(a: float, limits: tuple[float, ...], tol: Tolerance, noise: float) -> _Verdict:
    """``a`` against the range spanned by ``limits`` (a kink's valid derivatives)."""
    lo, hi = min(limits), max(limits)
    nearest = min(max(a, lo), hi)
    allowed = _allowed(a, nearest, tol, noise)
    passed = abs(a - nearest) <= allowed
    return _Verdict(a, nearest, allowed, passed, kink=True, on_kink=True, limits=limits)


def _judge_slice(
    g: Callable[[float], float], f0: float, a: float, h: float, method: str, tol: Tolerance
) -> _Verdict:
    """Judge ``a`` as the derivative at 0 of the slice ``g`` (g(0) = ``f0``), at this point only.

    Smooth at some step: passed or failed on the central (or Richardson) difference there.
    Kinked down to the smallest step: ``kink`` with ``limits`` the clean one-sided
    derivatives, passed when ``a`` lies between them; with no clean side, ``set_aside``.
    """
    noise_unit = _noise_unit(f0)

    def close(value: float, step: float, weight: float) -> tuple[bool, float]:
        allowed = _allowed(a, value, tol, weight * noise_unit / step)
        return abs(a - value) <= allowed, allowed

    g = functools.cache(g)  # the estimates below share evaluations
    if method == "central":
        n = (g(h) - g(-h)) / (2 * h)
        ok, allowed = close(n, h, 1.0)
        if ok:
            return _Verdict(a, n, allowed, True)
    levels = [estimates(g, f0, h)]
    weight = 1.5 if method == "richardson" else 1.0
    n = levels[0].richardson if method == "richardson" else levels[0].central
    ok, allowed = close(n, h, weight)
    if ok:
        return _Verdict(a, n, allowed, True)

    def smooth(est: Estimates) -> bool:
        # A kink at t0 in (0, 2s) can make the one-sided differences agree (at t0 = 2s/3),
        # but then the central differences at s and 2s disagree, by (R - L)(2s - t0) / 4s.
        noise = 8.0 * noise_unit / est.step
        return abs(est.forward - est.backward) <= _allowed(
            est.forward, est.backward, tol, noise
        ) and abs(est.central - est.central2) <= _allowed(est.central, est.central2, tol, noise)

    # Not within tolerance at h: the gradient is wrong, or a kink (or strong curvature)
    # lies within 2h. The first step at which the slice is smooth decides, on its central
    # difference (a smaller step would only loosen the rounding allowance); where it is not
    # smooth, the step shrinks by 8, down to an eighth of the central method's own step.
    if smooth(levels[0]):
        return _Verdict(a, n, allowed, False)
    min_step = h / RELATIVE_STEPS[method] * RELATIVE_STEPS["central"] / 8
    for level in range(1, RETRY_LEVELS + 1):
        if h / 8**level < min_step:
            break
        est = estimates(g, f0, h / 8**level)
        levels.append(est)
        if smooth(est):
            ok, allowed = close(est.central, est.step, 1.0)
            return _Verdict(a, est.central, allowed, ok, kink=True)
    # Kinked at every step: a branch switch at the point itself. A side is clean when its
    # one-sided difference agrees at the two smallest steps.
    last, before = levels[-1], levels[-2] if len(levels) > 1 else levels[-1]
    noise = 4.0 * noise_unit / last.step
    limits = tuple(
        now
        for now, then in ((last.forward, before.forward), (last.backward, before.backward))
        if abs(now - then) <= _allowed(now, then, tol, 2 * noise)
    )
    if not limits:
        return _Verdict(a, n, allowed, False, kink=True, on_kink=True, set_aside=True)
    return _within(a, limits, tol, noise)


@dataclass
class _Problem:
    """What every judgement of one check shares: the functions, the point, the tolerance,
    and the nearby points off the kinks (built on first use, then reused)."""

    loss: Loss
    grad: Grad
    x: dict[str, NDArray[np.float64]]
    analytic: dict[str, NDArray[np.float64]]
    f0: float
    method: str
    tol: Tolerance
    rng: np.random.Generator
    on_kink_seen: bool = False
    full_ranges: bool = False  # measure every nearby limit, even after a failure (diagnosis)
    _nearby: list[tuple[dict[str, NDArray[np.float64]], ...]] = field(default_factory=list)

    def judge(self, direction: _Direction, h: float) -> _Verdict:
        """The verdict along ``direction`` at x, moving off a kink when there is one."""
        a = direction.dot(self.analytic)
        g = direction.slice(self.loss, self.x)
        verdict = _judge_slice(g, self.f0, a, h, self.method, self.tol)
        if not verdict.on_kink:
            return verdict
        self.on_kink_seen = True
        return self._off_the_point(direction, h, verdict)

    def recheck(self, direction: _Direction, h: float, verdict: _Verdict) -> _Verdict:
        """A failure on a smooth slice at a point found on a kink elsewhere, judged again
        off the point: units on their kink that this direction moves to one side only (or
        not at all) leave the slice smooth, yet ReLU'(0) = 1 at them gives another value."""
        return self._off_the_point(direction, h, verdict)

    def _off_the_point(self, direction: _Direction, h: float, verdict: _Verdict) -> _Verdict:
        """Judge the gradient function at nearby points, and widen the valid range by the
        derivatives measured there (see the module docstring)."""
        a = verdict.analytic
        limits = verdict.limits
        noise = 4.0 * _noise_unit(self.f0) / h
        verified = False
        failure: _Verdict | None = None
        for pair in self._points(structured_only=not verdict.on_kink):
            outcome, measured = self._judge_near(direction, pair, h)
            limits += measured
            if outcome is None:
                continue
            if not outcome.passed:  # wrong near the point too
                failure = failure or outcome
                if not self.full_ranges:
                    break
                continue
            verified = True
            if (
                failure is None
                and limits
                and (within := _within(a, limits, self.tol, noise)).passed
            ):
                return within
        if failure is not None:
            # Reported with the nearby point's values; the limits are the range at x.
            return replace(failure, limits=limits) if verdict.on_kink else verdict
        if not verdict.on_kink:
            return verdict  # a smooth slice, and no kink at the point explains the value
        if verified and limits:
            # Right at the nearby points, yet outside every derivative measured at and
            # around the point: no choice of the derivative at the kink gives this value.
            return _within(a, limits, self.tol, noise)
        if verdict.passed:
            return verdict  # between the one-sided derivatives; no nearby point judged it
        return replace(verdict, set_aside=True)

    def _judge_near(
        self,
        direction: _Direction,
        pair: tuple[dict[str, NDArray[np.float64]], ...],
        h: float,
    ) -> tuple[_Verdict | None, tuple[float, ...]]:
        """At the nearby points r u and r/2 u: the verdict on the gradient there (None when it
        could not be judged there), and the limits of the derivative extrapolated to r = 0."""
        far, near, far_grad, near_grad = pair
        verdicts = []
        for point, gradient in ((far, far_grad), (near, near_grad)):
            f0 = float(self.loss(point))
            a = direction.dot(gradient)
            verdict = _judge_slice(direction.slice(self.loss, point), f0, a, h, "central", self.tol)
            if verdict.set_aside or (verdict.kink and not verdict.passed):
                return None, ()  # also on a kink there: no judgement from this pair
            verdicts.append(verdict)
        failed = next((v for v in verdicts if not v.passed), None)
        outcome = replace(failed, nearby=True, kink=True) if failed else verdicts[0]
        lf, ln = (v.limits or (v.numerical,) for v in verdicts)
        if len(lf) != len(ln):
            return outcome, ()
        return outcome, tuple(2 * b - c for b, c in zip(ln, lf, strict=True))

    def _points(
        self, structured_only: bool = False
    ) -> Iterator[tuple[dict[str, NDArray[np.float64]], ...]]:
        """Pairs of nearby points (x + r u, x + r/2 u) and the gradient at each; the random
        directions last, left out with ``structured_only``."""
        for k, u in enumerate(self._directions()):
            if structured_only and k >= self._structured():
                return
            if k == len(self._nearby):
                scale = max(float(np.max(np.abs(v))) for v in self.x.values())
                r = NEARBY_RADIUS * step_for("central", scale)
                far = {n: self.x[n] + r * u[n] for n in self.x}
                near = {n: self.x[n] + r / 2 * u[n] for n in self.x}
                self._nearby.append((far, near, _gradient_at(self.grad, far)[0],
                                     _gradient_at(self.grad, near)[0]))  # fmt: skip
            yield self._nearby[k]

    def _structured(self) -> int:
        """How many of the nearby directions are not random."""
        return 2 * (2 + (len(self.x) if len(self.x) > 1 else 0))

    def _directions(self) -> Iterator[dict[str, NDArray[np.float64]]]:
        """All-ones over every parameter, then over each alone, then random; each with both
        signs, as unit vectors. A bias shifted up moves every unit of its layer up, so these
        reach the sides of a kink where all its units are on, or all off."""
        total = sum(v.size for v in self.x.values())
        ones = {n: np.full(v.shape, 1 / np.sqrt(total)) for n, v in self.x.items()}
        blocks = [{n: np.where(n == m, 1 / np.sqrt(v.size), 0.0) * np.ones(v.shape)
                   for n, v in self.x.items()} for m, v in self.x.items()]  # fmt: skip
        # Each parameter after the first shifted twice as much as the one before: with
        # parameters in layer order, a deeper layer's own shift outweighs what reaches it
        # from the layers below, so units on their kinks in several layers all move one way.
        growing = {n: np.full(v.shape, 2.0**k) for k, (n, v) in enumerate(self.x.items())}
        norm = np.sqrt(sum(float(np.sum(d * d)) for d in growing.values()))
        growing = {n: d / norm for n, d in growing.items()}
        for u in [ones, growing, *(blocks if len(self.x) > 1 else [])]:
            yield u
            yield {n: -d for n, d in u.items()}
        for _ in range(RANDOM_PROBES):
            u = {n: self.rng.standard_normal(v.shape) for n, v in self.x.items()}
            norm = np.sqrt(sum(float(np.sum(d * d)) for d in u.values()))
            yield {n: d / norm for n, d in u.items()}
            yield {n: -d / norm for n, d in u.items()}


@dataclass
class _Tally:
    verdicts: list[tuple[tuple[int, ...], _Verdict]]

    def report(
        self, name: str, shape: tuple[int, ...], mode: str, tol: Tolerance
    ) -> ParameterReport:
        if not self.verdicts:
            raise ValueError(f"{name}: nothing was checked")
        floor = tol.atol / tol.rtol
        judged = [(i, v) for i, v in self.verdicts if not v.set_aside]
        errors = [abs(v.analytic - v.numerical) for _, v in judged] or [0.0]
        relative = [
            abs(v.analytic - v.numerical) / max(abs(v.analytic), abs(v.numerical), floor)
            for _, v in judged
        ] or [0.0]
        resolution = float(np.median([
            v.allowed / max(abs(v.analytic), abs(v.numerical), floor) for _, v in judged
        ])) if judged else float("nan")  # fmt: skip
        pool = judged or self.verdicts
        index, worst = max(
            pool, key=lambda iv: abs(iv[1].analytic - iv[1].numerical) / iv[1].allowed
        )
        return ParameterReport(
            name=name,
            shape=shape,
            mode=mode,
            checked=len(self.verdicts),
            kinks=sum(v.kink for _, v in self.verdicts),
            set_aside=len(self.verdicts) - len(judged),
            max_abs_error=max(errors),
            max_relative_error=max(relative),
            worst_index=index,
            analytic=worst.analytic,
            numerical=worst.numerical,
            rtol=tol.rtol,
            atol=tol.atol,
            passed=bool(judged) and all(v.passed for _, v in judged),
            worst_nearby=worst.nearby,
            resolution=resolution,
        )


def _judge_complex(
    loss: Loss, params: dict[str, NDArray[np.float64]], direction: _Dense, a: float, tol: Tolerance
) -> _Verdict:
    h = step_for("complex_step", 0.0)
    shifted = {k: v.astype(np.complex128) for k, v in params.items()}
    for name, d in direction.v.items():
        shifted[name] = shifted[name] + 1j * h * d
    n = float(np.imag(loss(shifted))) / h
    allowed = _allowed(a, n, tol, 0.0)
    return _Verdict(a, n, allowed, abs(a - n) <= allowed)


def _float64_copies(params: Params) -> dict[str, NDArray[np.float64]]:
    if not isinstance(params, Mapping) or not params:
        raise TypeError("params must be a non-empty dict of float arrays")
    copies: dict[str, NDArray[np.float64]] = {}
    for name, value in params.items():
        array = np.asarray(value)
        if array.dtype.kind != "f":
            raise TypeError(f"params[{name!r}] must be a float array, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"params[{name!r}] contains NaN or an infinite value")
        copies[name] = np.array(array, dtype=np.float64, copy=True)
    return copies


def _gradient_at(
    grad: Grad, params: dict[str, NDArray[np.float64]]
) -> tuple[dict[str, NDArray[np.float64]], np.dtype[Any]]:
    """``grad`` at ``params`` (given copies), checked for keys, shapes, dtype and finiteness,
    in float64; and the least precise dtype it came back in."""
    given = grad({k: v.copy() for k, v in params.items()})
    if set(given) != set(params):
        raise ValueError(f"grad returned keys {sorted(given)}, params have {sorted(params)}")
    dtypes = []
    out: dict[str, NDArray[np.float64]] = {}
    for name, value in params.items():
        g = np.asarray(given[name])
        if g.shape != value.shape:
            raise ValueError(f"grad[{name!r}] has shape {g.shape}, params[{name!r}] {value.shape}")
        if g.dtype.kind != "f":
            raise TypeError(f"grad[{name!r}] must be a float array, got dtype {g.dtype}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"grad[{name!r}] contains NaN or an infinite value")
        dtypes.append(g.dtype)
        out[name] = g.astype(np.float64)
    lowest = min(dtypes, key=lambda d: np.finfo(d).bits)
    return out, np.dtype(lowest)


def check_gradients(
    loss: Loss,
    grad: Grad,
    params: Params,
    *,
    mode: str = "auto",
    method: str = "central",
    samples: int = 32,
    directions: int = 16,
    max_coordinates: int = 16_000,
    seed: int | np.random.Generator = 0,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientReport:
    """Compare ``grad(params)`` with finite differences of ``loss``, parameter by parameter.

    ``loss(params) -> float`` and ``grad(params) -> dict`` take a dict of arrays shaped
    like ``params`` (float64 copies; the complex step passes complex128 copies). The
    modes and the treatment of kinks are described in this module's docstring.
    ``method``: ``central`` (step eps^(1/3) max(|x|, 1)), ``richardson`` (extrapolated,
    step eps^(1/5) max(|x|, 1)) or ``complex_step`` (needs a real-analytic loss written
    with complex-safe operations). ``rtol``/``atol`` default to the table in
    ``oracles.tolerances`` for the dtype the gradient came back in; a gradient less
    precise than float64 raises a LowPrecisionGradientWarning.
    """
    run = _run(loss, grad, params, mode=mode, method=method, samples=samples,
               directions=directions, max_coordinates=max_coordinates, seed=seed, rtol=rtol,
               atol=atol)  # fmt: skip
    return _report(run)


@dataclass(frozen=True)
class Judgement:
    """One coordinate or direction as ``check_gradients`` judged it: the analytic and
    numerical directional derivatives, the allowance, the verdict, and ``along``, which
    projects any gradient dict onto the same direction (None for the complex step)."""

    index: tuple[int, ...]
    analytic: float
    numerical: float
    allowed: float
    passed: bool
    set_aside: bool
    along: Callable[[Mapping[str, NDArray[np.float64]]], float] | None


def judge_gradients(
    loss: Loss,
    grad: Grad,
    params: Params,
    **options: Any,
) -> tuple[GradientReport, dict[str, list[Judgement]]]:
    """``check_gradients`` (the same options, and defaults), with every judgement behind the
    report, per parameter (and ``(all)`` for the directions over all parameters at once)."""
    run = _run(loss, grad, params, **{**_CHECK_DEFAULTS, **options})
    judgements = {
        name: [
            Judgement(
                index,
                v.analytic,
                v.numerical,
                v.allowed,
                v.passed,
                v.set_aside,
                None if direction is None else direction.dot,
            )
            for index, v, direction, _ in entries
        ]
        for name, entries in run.judged.items()
    }
    return _report(run), judgements


_CHECK_DEFAULTS = {
    name: option.default
    for name, option in inspect.signature(check_gradients).parameters.items()
    if option.kind is inspect.Parameter.KEYWORD_ONLY
}


def _report(run: _Run) -> GradientReport:
    """The report of one check: each parameter's judgements tallied."""
    x = run.problem.x
    total = sum(v.size for v in x.values())
    reports = [
        _Tally([(index, verdict) for index, verdict, _, _ in entries]).report(
            name, x[name].shape if name in x else (total,), run.mode, run.problem.tol
        )
        for name, entries in run.judged.items()
    ]
    return GradientReport(
        oracle="finite_difference",
        method=run.problem.method,
        mode=run.mode,
        gradient_dtype=str(run.dtype),
        parameters=tuple(reports),
    )


@dataclass(frozen=True)
class Coordinates:
    """Finite-difference measurements of some coordinates of one parameter, flat-indexed.

    ``analytic`` is the gradient under test there; the derivative's valid values lie in
    [``low``, ``high``] (one value where the loss is smooth, the range the one-sided and
    nearby derivatives span at a kink); ``allowed`` is the absolute tolerance of each
    comparison. ``passed`` and ``set_aside`` are the check's verdicts.
    """

    name: str
    shape: tuple[int, ...]
    indices: NDArray[np.intp]
    analytic: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    allowed: NDArray[np.float64]
    passed: NDArray[np.bool_]
    set_aside: NDArray[np.bool_]


def measure_coordinates(
    loss: Loss,
    grad: Grad,
    params: Params,
    *,
    samples: int | None = None,
    seed: int | np.random.Generator = 0,
    rtol: float | None = None,
    atol: float | None = None,
) -> dict[str, Coordinates]:
    """Judge every coordinate of every parameter (or ``samples`` random ones of a parameter
    larger than that), as ``check_gradients`` does in mode ``all``, and return what was
    measured there, for the diagnosis of a wrong gradient."""
    mode = "all" if samples is None else "sample"
    run = _run(loss, grad, params, mode=mode, method="central", samples=samples or 0,
               directions=0, max_coordinates=0, seed=seed, rtol=rtol, atol=atol,
               full_ranges=True)  # fmt: skip
    out: dict[str, Coordinates] = {}
    for name, entries in run.judged.items():
        shape = run.problem.x[name].shape
        verdicts = [v for _, v, _, _ in entries]
        # At the point itself: a failure found at a nearby point keeps x's limits; with
        # none measured at x, the nearby derivative stands in for them.
        limits = [v.limits or (v.numerical,) for v in verdicts]
        indices = np.array([np.ravel_multi_index(i, shape) for i, _, _, _ in entries], np.intp)
        out[name] = Coordinates(
            name=name,
            shape=shape,
            indices=indices,
            analytic=run.problem.analytic[name].reshape(-1)[indices],
            low=np.array([min(lim) for lim in limits]),
            high=np.array([max(lim) for lim in limits]),
            allowed=np.array([v.allowed for v in verdicts]),
            passed=np.array([v.passed for v in verdicts]),
            set_aside=np.array([v.set_aside for v in verdicts]),
        )
    return out


@dataclass(frozen=True)
class _Run:
    problem: _Problem
    judged: dict[str, list[_Judged]]
    mode: str
    dtype: np.dtype[Any]


def _run(
    loss: Loss,
    grad: Grad,
    params: Params,
    *,
    mode: str,
    method: str,
    samples: int,
    directions: int,
    max_coordinates: int,
    seed: int | np.random.Generator,
    rtol: float | None,
    atol: float | None,
    full_ranges: bool = False,
) -> _Run:
    """Every judgement of one check, before it is tallied into a report."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    x = _float64_copies(params)
    analytic, dtype = _gradient_at(grad, x)
    if dtype != np.float64:
        warnings.warn(
            f"the gradient came back in {dtype}; it is judged with {dtype} tolerances",
            LowPrecisionGradientWarning,
            stacklevel=3,  # the caller of check_gradients, judge_gradients...
        )
    table = tolerance_for(dtype)
    tol = Tolerance(
        rtol=table.rtol if rtol is None else rtol, atol=table.atol if atol is None else atol
    )
    f0 = float(loss(x))
    if not np.isfinite(f0):
        raise ValueError(f"loss(params) is {f0}; finite differences need a finite loss")
    total = sum(v.size for v in x.values())
    if mode == "auto":
        mode = "all" if total <= max_coordinates else "directional"
    rng = np.random.default_rng(seed)
    problem = _Problem(
        loss, grad, x, analytic, f0, method, tol, rng.spawn(1)[0], full_ranges=full_ranges
    )
    judged = {name: _judge_parameter(problem, name, mode, samples, directions, rng) for name in x}
    if mode == "directional" and len(x) > 1:
        judged[ALL_PARAMETERS] = _directional(problem, tuple(x), directions, rng)
    if problem.on_kink_seen:
        # The point sits on a kink: a failure on a smooth slice may be a valid value too.
        for entries in judged.values():
            for k, (index, verdict, direction, h) in enumerate(entries):
                if not verdict.passed and not verdict.on_kink and direction is not None:
                    entries[k] = (index, problem.recheck(direction, h, verdict), direction, h)
    return _Run(problem, judged, mode, dtype)


# One judgement: the index (coordinate or direction number), the verdict, and the direction
# with its step (None for the complex step, which needs no second look).
_Judged = tuple[tuple[int, ...], _Verdict, "_Direction | None", float]


def _judge_parameter(
    problem: _Problem,
    name: str,
    mode: str,
    samples: int,
    directions: int,
    rng: np.random.Generator,
) -> list[_Judged]:
    value = problem.x[name]
    if mode == "directional":
        return _directional(problem, (name,), directions, rng)
    if mode == "all" or value.size <= samples:
        indices = np.arange(value.size)
    else:
        indices = np.sort(rng.choice(value.size, size=samples, replace=False))
    out: list[_Judged] = []
    flat = value.reshape(-1)
    for i in indices:
        coordinate = _Coordinate(name, int(i))
        index = tuple(int(j) for j in np.unravel_index(i, value.shape))
        if problem.method == "complex_step":
            e = np.zeros(value.size)
            e[i] = 1.0
            a = coordinate.dot(problem.analytic)
            verdict = _judge_complex(
                problem.loss, problem.x, _Dense({name: e.reshape(value.shape)}), a, problem.tol
            )
            out.append((index, verdict, None, 0.0))
        else:
            h = step_for(problem.method, float(flat[i]))
            out.append((index, problem.judge(coordinate, h), coordinate, h))
    return out


def _directional(
    problem: _Problem,
    names: tuple[str, ...],
    directions: int,
    rng: np.random.Generator,
) -> list[_Judged]:
    """Verdicts along random unit directions over the parameters ``names`` (one parameter
    block, or all of them at once), numbered 0, 1, ...: SCREEN of them first, and all
    ``directions`` when none of those fails but one comes within SUSPICIOUS of its allowance
    (an error near the resolution: more directions give it more chances to show)."""
    x = problem.x
    scale = max(float(np.max(np.abs(x[name]))) for name in names)
    size = sum(x[name].size for name in names)
    out: list[_Judged] = []
    for k in range(directions):
        if k == SCREEN and (
            any(not v.passed and not v.set_aside for _, v, _, _ in out)  # wrong: settled
            or all(abs(v.analytic - v.numerical) <= SUSPICIOUS * v.allowed for _, v, _, _ in out)
        ):
            break  # a screened direction fails, or every one agrees well within tolerance
        # Random signs, scaled to unit length: as good a probe as a normal vector (the same
        # E[(v . e)^2] = ||e||^2 / n for any error e) and several times cheaper to draw.
        direction = _Dense({
            name: np.where(rng.random(x[name].shape) < 0.5, -1.0, 1.0) / np.sqrt(size)
            for name in names
        })  # fmt: skip
        if problem.method == "complex_step":
            a = direction.dot(problem.analytic)
            out.append(
                ((k,), _judge_complex(problem.loss, x, direction, a, problem.tol), None, 0.0)
            )
        else:
            h = step_for(problem.method, scale)
            out.append(((k,), problem.judge(direction, h), direction, h))
    return out
