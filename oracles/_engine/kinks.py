"""Judging one directional derivative, kinks included.

Along a direction v the loss is a slice g(t) = f(x + t v). Where a ReLU (max, abs) switches
branch within the step, the central difference straddles the switch: the step shrinks until
the slice is smooth, and the central difference there decides. Kinked down to the smallest
step, the switch is at x itself: the one-sided derivatives are measured, and a value between
them (some choice of ReLU'(0)) passes. With several units on their kinks the valid values can
lie outside that pair, so the check also moves off the kink, to nearby points x + r u (all-ones
over every parameter, over each one, growing by layer, random; both signs; r and r/2, to
extrapolate the drift away). There the gradient function is judged on its own, and the
derivatives measured widen the range a value at x may take. A value outside every range
measured, from a gradient right at every nearby point, fails; one with no side measured cleanly
and no nearby point judged is set aside: not judged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from oracles._engine.differences import Estimates, estimates
from oracles._engine.inputs import Grad, Loss, Point, gradient_at
from oracles._engine.moves import Moves
from oracles._engine.precision import LossPrecision
from oracles._engine.tolerances import EPS64, LOSS_ROUNDING_ULPS, RELATIVE_STEPS, Tolerance

RETRY_LEVELS = 3  # steps h/8, h/64, h/512 after h
NEARBY_RADIUS = 32  # nearby points lie 32 central steps away (and 16, to extrapolate)
RANDOM_PROBES = 2  # random nearby directions, each with both signs, after the structured ones


@dataclass(frozen=True)
class Measured:
    """One coordinate's or direction's comparison: the two values compared and the allowance.

    ``kink``: a kink lay within the step; ``on_kink``: kinked down to the smallest step;
    ``nearby``: the values were measured at a point near x, off its kink (a failure found
    there); ``set_aside``: not judged. ``limits``: the right values at x (empty: ``numerical``).
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


class Direction(Protocol):
    """A unit vector over the parameters."""

    @property
    def names(self) -> tuple[str, ...]: ...

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float: ...

    def slice(self, loss: Loss, point: Point, moves: Moves) -> Callable[[float], float]: ...


def allowed(a: float, n: float, tol: Tolerance, noise: float) -> float:
    """rtol max(|a|, |n|) + atol + the rounding noise of the difference."""
    return tol.rtol * max(abs(a), abs(n)) + tol.atol + noise


def noise_unit(f0: float) -> float:
    """The rounding error of one loss evaluation near the value ``f0``."""
    return LOSS_ROUNDING_ULPS * EPS64 * (abs(f0) + 1.0)


def _within(a: float, limits: tuple[float, ...], tol: Tolerance, noise: float) -> Measured:
    """``a`` against the range spanned by ``limits`` (a kink's valid derivatives)."""
    nearest = min(max(a, min(limits)), max(limits))
    allowance = allowed(a, nearest, tol, noise)
    passed = abs(a - nearest) <= allowance
    return Measured(a, nearest, allowance, passed, kink=True, on_kink=True, limits=limits)


def judge_slice(
    g: Callable[[float], float],
    f0: float,
    a: float,
    h: float,
    method: str,
    tol: Tolerance,
    unit: float | None = None,
    kink_units: float = 8.0,
) -> Measured:
    """``a`` judged as the derivative at 0 of the slice ``g`` (g(0) = ``f0``), at x only.
    ``unit``: the noise allowance of one evaluation of g (float64's rounding by default);
    ``kink_units``: how many of it two estimates may differ by on a smooth slice."""
    unit = noise_unit(f0) if unit is None else unit

    def close(value: float, step: float, weight: float) -> tuple[bool, float]:
        allowance = allowed(a, value, tol, weight * unit / step)
        return abs(a - value) <= allowance, allowance

    g = functools.cache(g)  # the estimates below share evaluations
    if method == "central":
        n = (g(h) - g(-h)) / (2 * h)
        ok, allowance = close(n, h, 1.0)
        if ok:
            return Measured(a, n, allowance, True)
    levels = [estimates(g, f0, h)]
    n = levels[0].richardson if method == "richardson" else levels[0].central
    ok, allowance = close(n, h, 1.5 if method == "richardson" else 1.0)
    if ok:
        return Measured(a, n, allowance, True)

    def smooth(est: Estimates) -> bool:
        # A kink at t0 in (0, 2s) can make the one-sided differences agree (at t0 = 2s/3),
        # but then the central differences at s and 2s disagree, by (R - L)(2s - t0) / 4s.
        noise = kink_units * unit / est.step
        return abs(est.forward - est.backward) <= allowed(
            est.forward, est.backward, tol, noise
        ) and abs(est.central - est.central2) <= allowed(est.central, est.central2, tol, noise)

    # Not within tolerance at h: wrong, or a kink within 2h. The first step at which the slice
    # is smooth decides; the step shrinks by 8 down to an eighth of the central method's own.
    if smooth(levels[0]):
        return Measured(a, n, allowance, False)
    min_step = h / RELATIVE_STEPS[method] * RELATIVE_STEPS["central"] / 8
    for level in range(1, RETRY_LEVELS + 1):
        if h / 8**level < min_step:
            break
        est = estimates(g, f0, h / 8**level)
        levels.append(est)
        if smooth(est):
            ok, allowance = close(est.central, est.step, 1.0)
            return Measured(a, est.central, allowance, ok, kink=True)
    # Kinked at every step: a side is clean when its one-sided difference agrees at the two
    # smallest steps.
    last, before = levels[-1], levels[-2] if len(levels) > 1 else levels[-1]
    noise = 4.0 * unit / last.step
    limits = tuple(
        now
        for now, then in ((last.forward, before.forward), (last.backward, before.backward))
        if abs(now - then) <= allowed(now, then, tol, 2 * noise)
    )
    if not limits:
        return Measured(a, n, allowance, False, kink=True, on_kink=True, set_aside=True)
    return _within(a, limits, tol, noise)


@dataclass
class Problem:
    """What every comparison of one check shares: the functions, the point x, the gradient
    under test there, the tolerance, and the nearby points off the kinks (built on first use)."""

    loss: Loss
    grad: Grad
    x: Point
    analytic: Point
    f0: float
    method: str
    tol: Tolerance
    rng: np.random.Generator
    precision: LossPrecision
    given_rtol: bool = False
    degenerate: tuple[str, ...] = ()  # oracles._engine.degenerate's phrases for x
    on_kink_seen: bool = False
    moves: Moves = field(default_factory=Moves)  # the buffers of every moved point
    seconds_per_loss: float = 0.0  # the fastest evaluation of the loss before any comparison
    _nearby: list[tuple[Point, ...]] = field(default_factory=list)

    def tolerance(self, names: tuple[str, ...]) -> Tolerance:
        """The tolerance along ``names``: the check's, at the loss's measured precision."""
        return self.precision.tolerance(names, self.tol, self.given_rtol)

    def scale(self, names: tuple[str, ...]) -> float:
        """The largest |entry| of the parameters ``names`` at x."""
        return max(self.precision.scales[name] for name in names)

    def step(self, names: tuple[str, ...], scale: float) -> float:
        """The difference step along ``names`` at a value of magnitude ``scale``."""
        return self.precision.step(self.method, names, scale)

    def _judge_slice(
        self, direction: Direction, point: Point, f0: float, a: float, h: float, method: str
    ) -> Measured:
        """``judge_slice`` along ``direction`` through ``point`` (where the loss is ``f0``), at
        the tolerance and noise of the loss's precision along it."""
        names = direction.names
        return judge_slice(direction.slice(self.loss, point, self.moves), f0, a, h, method,
                           self.tolerance(names), self.precision.unit(names, f0),
                           self.precision.kink_units(names))  # fmt: skip

    def judge(self, direction: Direction, h: float) -> Measured:
        """The comparison along ``direction`` at x, moving off a kink when there is one."""
        a = self.moves.dot(direction, self.analytic)
        measured = self._judge_slice(direction, self.x, self.f0, a, h, self.method)
        if not measured.on_kink:
            return measured
        self.on_kink_seen = True
        return self.off_the_point(direction, h, measured)

    def off_the_point(self, direction: Direction, h: float, measured: Measured) -> Measured:
        """Judge the gradient at nearby points, and widen the valid range at x by the
        derivatives measured there. Also for a failure on a smooth slice at a point that is on a
        kink elsewhere: units this direction moves one way only leave the slice smooth, yet
        ReLU'(0) = 1 at them gives another value."""
        a = measured.analytic
        limits = measured.limits
        names = direction.names
        tol = self.tolerance(names)
        noise = 4.0 * self.precision.unit(names, self.f0) / h
        verified = False
        failure: Measured | None = None
        for pair in self._points(structured_only=not measured.on_kink):
            outcome, found = self._judge_near(direction, pair, h)
            limits += found  # on a kink every limit, even after a failure: the diagnosis reads them
            if outcome is None:
                continue
            if not outcome.passed:
                failure = failure or outcome
                if not measured.on_kink:
                    break  # wrong near x too; only a value on a kink keeps its range of limits
                continue
            verified = True
            inside = _within(a, limits, tol, noise) if failure is None and limits else None
            if inside is not None and inside.passed:
                return inside
        if failure is not None:
            # Reported with the nearby point's values; the limits are the range at x.
            return replace(failure, limits=limits) if measured.on_kink else measured
        if not measured.on_kink:
            return measured  # a smooth slice, and no kink at x explains the value
        if verified and limits:
            # Right nearby, yet outside every derivative measured at and around x: no choice
            # of the derivative at the kink gives this value.
            return _within(a, limits, tol, noise)
        return measured if measured.passed else replace(measured, set_aside=True)

    def _judge_near(
        self, direction: Direction, pair: tuple[Point, ...], h: float
    ) -> tuple[Measured | None, tuple[float, ...]]:
        """At x + r u and x + r/2 u: the comparison there (None where also on a kink), and
        the limits of the derivative extrapolated to r = 0."""
        far, near, far_grad, near_grad = pair
        found = []
        for point, gradient in ((far, far_grad), (near, near_grad)):
            f0 = float(self.loss(point))
            measured = self._judge_slice(direction, point, f0, direction.dot(gradient), h,
                                         "central")  # fmt: skip
            if measured.set_aside or (measured.kink and not measured.passed):
                return None, ()
            found.append(measured)
        failed = next((m for m in found if not m.passed), None)
        outcome = replace(failed, nearby=True, kink=True) if failed else found[0]
        lf, ln = (m.limits or (m.numerical,) for m in found)
        if len(lf) != len(ln):
            return outcome, ()
        return outcome, tuple(2 * b - c for b, c in zip(ln, lf, strict=True))

    def _points(self, structured_only: bool) -> Iterator[tuple[Point, ...]]:
        """Pairs (x + r u, x + r/2 u) with the gradient at each; the random u last, left out
        with ``structured_only``."""
        structured = 2 * (2 + (len(self.x) if len(self.x) > 1 else 0))
        for k, u in enumerate(self._directions()):
            if structured_only and k >= structured:
                return
            if k == len(self._nearby):
                scale = max(float(np.max(np.abs(v))) for v in self.x.values())
                r = NEARBY_RADIUS * self.precision.step("central", tuple(self.x), scale)
                far = {n: self.x[n] + r * u[n] for n in self.x}
                near = {n: self.x[n] + r / 2 * u[n] for n in self.x}
                self._nearby.append((far, near, gradient_at(self.grad, far)[0],
                                     gradient_at(self.grad, near)[0]))  # fmt: skip
            yield self._nearby[k]

    def _directions(self) -> Iterator[Point]:
        """All-ones over every parameter, growing by layer, over each parameter alone, then
        random; each with both signs, as unit vectors. A bias shifted up moves every unit of
        its layer up, so these reach the sides of a kink where all its units are on, or off."""
        total = sum(v.size for v in self.x.values())
        ones = {n: np.full(v.shape, 1 / np.sqrt(total)) for n, v in self.x.items()}
        blocks = [{n: np.where(n == m, 1 / np.sqrt(v.size), 0.0) * np.ones(v.shape)
                   for n, v in self.x.items()} for m, v in self.x.items()]  # fmt: skip
        # Each parameter after the first shifted twice as much as the one before: a deeper
        # layer's own shift outweighs what reaches it from below, so units on their kinks in
        # several layers all move one way.
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
