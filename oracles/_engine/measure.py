"""Measuring a gradient by finite differences, mode by mode, into a ``GradientReport``.

Modes: ``all`` (every coordinate), ``sample`` (``samples`` random coordinates per parameter),
``directional`` (random unit directions of random signs, per parameter and over all at once:
SCREEN first, all ``directions`` only where none fails but one comes within SUSPICIOUS of its
allowance, an error near the resolution that more directions give more chances to show).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.degenerate import degenerate
from oracles._engine.inputs import Grad, Loss, Point
from oracles._engine.kinks import Measured, Problem, allowed
from oracles._engine.moves import Moves, Signs, unit_signs
from oracles._engine.precision import LossPrecision, measure_precision
from oracles._engine.records import ALL_PARAMETERS, ParameterReport, comparisons
from oracles._engine.tolerances import Tolerance, step_for

MODES = ("all", "sample", "directional")
METHODS = ("central", "richardson", "complex_step")
SCREEN = 3  # directions tried first per parameter in mode directional
SUSPICIOUS = 0.25  # a screened direction this close to its allowance calls for them all


@dataclass(frozen=True)
class Coordinate:
    """The unit vector of one coordinate (a flat index into one parameter)."""

    name: str
    index: int

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        return float(gradient[self.name].reshape(-1)[self.index])

    def slice(self, loss: Loss, point: Point, moves: Moves) -> Callable[[float], float]:
        flat = point[self.name].reshape(-1)  # a view: the coordinate is set and restored
        old, i = float(flat[self.index]), self.index

        def g(t: float) -> float:
            flat[i] = old + t
            try:
                return float(loss(point))
            finally:
                flat[i] = old

        return g

    def dense(self, x: Point) -> Dense:
        e = np.zeros(x[self.name].size)
        e[self.index] = 1.0
        return Dense({self.name: e.reshape(x[self.name].shape)})


@dataclass(frozen=True)
class Dense:
    """A direction over one or more whole parameters."""

    v: dict[str, NDArray[np.float64]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.v)

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        return float(sum(np.vdot(gradient[name], d) for name, d in self.v.items()))

    def slice(self, loss: Loss, point: Point, moves: Moves) -> Callable[[float], float]:
        return moves.along(loss, point, self.v)


def measure(
    problem: Problem,
    mode: str,
    *,
    samples: int = 32,
    directions: int = 16,
    rng: np.random.Generator,
    names: tuple[str, ...] | None = None,
) -> tuple[ParameterReport, ...]:
    """Every comparison of one check of ``problem`` in ``mode``, per parameter (of ``names``,
    default all), and ``(all)`` for the directions over every parameter at once."""
    x = problem.x
    names = tuple(x) if names is None else names
    found: dict[str, tuple[list[Measured], list[int], list[Any], list[float]]] = {}
    for name in names:
        if mode == "directional":
            found[name] = _directional(problem, (name,), directions, rng)
        else:
            found[name] = _coordinates(problem, name, mode, samples, rng)
    if mode == "directional" and len(x) > 1:
        found[ALL_PARAMETERS] = _directional(problem, tuple(x), directions, rng)
    if problem.on_kink_seen:
        # x sits on a kink: a failure on a smooth slice may be a valid value too.
        for measured, _, taken, steps in found.values():
            for k, m in enumerate(measured):
                if not m.passed and not m.on_kink and problem.method != "complex_step":
                    measured[k] = problem.off_the_point(taken[k], steps[k], m)
    if problem.degenerate:
        # A whole layer on its kinks: a value on a kink cannot be judged from nearby points.
        for measured, *_ in found.values():
            for k, m in enumerate(measured):
                if not m.passed and (m.kink or m.nearby):
                    measured[k] = replace(m, set_aside=True)
    total = sum(v.size for v in x.values())
    reports = []
    for name, (measured, index, taken, _) in found.items():
        if not measured:
            raise ValueError(f"{name}: nothing was checked")
        along = [problem.moves.dot(d, problem.analytic) for d in taken]
        kept = tuple(taken) if mode == "directional" else ()
        tol = problem.tolerance(tuple(x) if name == ALL_PARAMETERS else (name,))
        reports.append(ParameterReport(
            name, x[name].shape if name in x else (total,), mode, tol.rtol, tol.atol,
            comparisons(measured, index, along, kept),
        ))  # fmt: skip
    return tuple(reports)


def problem_for(
    loss: Loss, grad: Grad, x: Point, analytic: Point, method: str, tol: Tolerance,
    rng: np.random.Generator, *, precision: LossPrecision | None = None,
    nondet_tol: float = 0.0, given_rtol: bool = False,
) -> Problem:  # fmt: skip
    """The shared state of a check at ``x``, where the loss must be finite: the loss's
    precision there is measured (``oracles._engine.precision``) unless given."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if not nondet_tol >= 0:
        raise ValueError(f"nondet_tol must be a non-negative number, got {nondet_tol}")
    seconds: list[float] = []  # of each evaluation before the comparisons: the fastest is kept

    def clocked(point: Point) -> float:
        started = time.perf_counter()
        try:
            return float(loss(point))
        finally:
            seconds.append(time.perf_counter() - started)

    f0 = clocked(x)
    if not np.isfinite(f0):
        raise ValueError(f"loss(params) is {f0}; finite differences need a finite loss")
    moves = Moves()
    if precision is None:
        precision = measure_precision(clocked, x, f0, rng.spawn(1)[0], nondet_tol, moves)
    return Problem(loss, grad, x, analytic, f0, method, tol, rng, precision, given_rtol,
                   degenerate(x), moves=moves, seconds_per_loss=min(seconds))  # fmt: skip


def _compare(problem: Problem, direction: Coordinate | Dense | Signs, h: float) -> Measured:
    if problem.method != "complex_step":
        return problem.judge(direction, h)
    dense = direction.dense(problem.x) if isinstance(direction, Coordinate) else direction
    step = step_for("complex_step", 0.0)
    shifted = {k: v.astype(np.complex128) for k, v in problem.x.items()}
    for name, d in dense.v.items():
        shifted[name] = shifted[name] + 1j * step * d
    a = direction.dot(problem.analytic)
    n = float(np.imag(problem.loss(shifted))) / step
    allowance = allowed(a, n, problem.tolerance(direction.names), 0.0)
    return Measured(a, n, allowance, abs(a - n) <= allowance)


def _coordinates(
    problem: Problem, name: str, mode: str, samples: int, rng: np.random.Generator
) -> tuple[list[Measured], list[int], list[Any], list[float]]:
    value = problem.x[name]
    if mode == "all" or value.size <= samples:
        indices = np.arange(value.size)
    else:
        indices = np.sort(rng.choice(value.size, size=samples, replace=False))
    flat = value.reshape(-1)
    measured, taken, steps = [], [], []
    for i in indices:
        coordinate = Coordinate(name, int(i))
        h = problem.step((name,), float(flat[i]))
        measured.append(_compare(problem, coordinate, h))
        taken.append(coordinate)
        steps.append(h)
    return measured, [int(i) for i in indices], taken, steps


def _directional(
    problem: Problem, names: tuple[str, ...], directions: int, rng: np.random.Generator
) -> tuple[list[Measured], list[int], list[Any], list[float]]:
    """Comparisons along random unit directions over ``names`` (one parameter, or all)."""
    x = problem.x
    scale = problem.scale(names)
    measured: list[Measured] = []
    taken: list[Any] = []
    for k in range(directions):
        if k == SCREEN and (
            any(not m.passed and not m.set_aside for m in measured)  # wrong: settled
            or all(abs(m.analytic - m.numerical) <= SUSPICIOUS * m.allowed for m in measured)
        ):
            break
        # Random signs, scaled to unit length: as good a probe as a normal vector (the same
        # E[(v . e)^2] = ||e||^2 / n for any error e) and several times cheaper to draw.
        direction = unit_signs(rng, {name: x[name].shape for name in names})
        measured.append(_compare(problem, direction, problem.step(names, scale)))
        taken.append(direction)
    h = problem.step(names, scale)
    return measured, list(range(len(measured))), taken, [h] * len(measured)
