"""What the loss itself resolves, measured before any comparison: whether it repeats its value,
how much rounding noise one evaluation carries along each parameter, and which parameters it
reads at all.

A loss computed in float32 inside (a float32 hidden state, a cast, a reduced-precision library)
moves in rounding steps far larger than float64's. Judged with float64's steps and noise those
steps look like kinks, or like a wrong gradient. So the noise is measured first: a cheap screen
along one random direction over every parameter (one-sided third differences, which a kink at
the point itself leaves smooth), and only where that shows more than float64's rounding, the
noise along each parameter (the median of fourth differences, which a kink between two of the
points spoils in a few windows only). Steps, rtol and the noise allowance then follow the
measured noise, parameter by parameter; a float64 loss is judged exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from oracles._engine.inputs import Loss, Point
from oracles._engine.moves import Moves, Signs, random_signs, unit_signs
from oracles._engine.tolerances import EPS64, LOSS_ROUNDING_ULPS, Tolerance, step_for

# Screen: one-sided third differences at a quarter of the central step. Clean when within this
# many float64 noise units (16 eps (|f| + 1)); float32 rounding is 1e6 times above.
SCREEN_UNITS = 4.0
# Per parameter: fourth differences over 8 points each side, at the central step for float64
# and then, where the loss does not register a change that small, at float32's.
SIDE_POINTS = 8
PASSES = 3  # measured again at the spacing the noise found calls for, at most this often
EPS32 = float(np.finfo(np.float32).eps)
# The noise allowance of one evaluation, in estimated standard deviations (float64's
# LOSS_ROUNDING_ULPS keeps a like margin over the largest deviation measured).
NOISE_MARGIN = 16.0
# rtol of a parameter judged at relative noise rho: the central difference's truncation error
# at the step rho^(1/3) is about rho^(2/3) / 6 of the derivative on a smooth slice.
RTOL_PER_NOISE = 10.0
FLOAT64_CLEAN = SCREEN_UNITS * LOSS_ROUNDING_ULPS * EPS64  # relative noise under this: float64


class LossNotRepeatable(ValueError):
    """The loss returned two different values at the same point."""


class LossIgnoresParameters(ValueError):
    """Changing some parameters does not change the loss at all."""


@dataclass(frozen=True)
class LossPrecision:
    """The loss's value at the point, the rounding noise of one evaluation along each
    parameter (a standard deviation, absolute; 0 where float64's own), the smallest spacing
    at which the loss registers a change along each, and the nondeterminism the caller
    allows."""

    f0: float
    noise: Mapping[str, float]
    scales: Mapping[str, float]  # max |entry| of each parameter, for its steps
    spacing: Mapping[str, float] = field(default_factory=dict)
    nondet_tol: float = 0.0

    def relative(self, names: Iterable[str]) -> float:
        """The loss's relative rounding noise along ``names`` (at least float64's eps)."""
        sigma = max((self.noise.get(n, 0.0) for n in names), default=0.0)
        return max(EPS64, (sigma + self.nondet_tol) / (abs(self.f0) + 1.0))

    def low(self, names: Iterable[str]) -> bool:
        """Noise along ``names`` above float64's (or a stated nondeterminism)."""
        return self.relative(names) > FLOAT64_CLEAN

    def unit(self, names: Iterable[str], f: float) -> float:
        """The noise allowance of one evaluation near the value ``f``."""
        names = tuple(names)
        sigma = max((self.noise.get(n, 0.0) for n in names), default=0.0)
        floor = LOSS_ROUNDING_ULPS * EPS64 * (abs(f) + 1.0)
        return max(floor, NOISE_MARGIN * sigma) + self.nondet_tol

    def kink_units(self, names: Iterable[str]) -> float:
        """How many noise allowances two estimates may differ by and the slice still count as
        smooth: float64's 8 (its allowance bounds the rounding), 1.5 at a measured noise (its
        allowance is 16 standard deviations; a kink's slope change above that shows)."""
        return 1.0 if self.low(names) else 8.0

    def step(self, method: str, names: Iterable[str], scale: float) -> float:
        """The difference step along ``names`` at a value of magnitude ``scale``: the method's
        balance of truncation and rounding at the measured noise, and at least twice the
        spacing the loss registers where float64's step registers nothing."""
        names = tuple(names)
        if method == "complex_step" or not self.low(names):
            return step_for(method, scale)
        h = step_for(method, scale, self.relative(names))
        return max(h, 2.0 * max((self.spacing.get(n, 0.0) for n in names), default=0.0))

    def tolerance(self, names: Iterable[str], tol: Tolerance, given_rtol: bool) -> Tolerance:
        """``tol`` with rtol raised to the truncation error the noise forces (unless the caller
        gave rtol)."""
        names = tuple(names)
        if given_rtol or not self.low(names):
            return tol
        floor = RTOL_PER_NOISE * self.relative(names) ** (2 / 3)
        return Tolerance(max(tol.rtol, floor), tol.atol)

    def words(self, names: Iterable[str]) -> str:
        """The precision a relative noise corresponds to, in words."""
        rho = self.relative(names)
        if rho <= FLOAT64_CLEAN:
            return "float64"
        if rho <= 1e3 * EPS32:
            return "float32"
        return "less than float32 (float16 or noise)"

    def sentences(self, method: str, rtols: Mapping[str, float]) -> list[str]:
        """What the report says of a loss less precise than float64, one line per precision
        (``rtols``: each parameter's, as judged)."""
        lines = []
        if self.nondet_tol:
            lines.append(f"nondeterminism allowed: {self.nondet_tol:.3g} in the loss's value")
        low = [n for n in self.noise if self.low((n,))]
        if not low:
            return lines
        by_words: dict[str, list[str]] = {}
        for n in low:
            by_words.setdefault(self.words((n,)), []).append(n)
        for words, names in by_words.items():
            rho = max(self.relative((n,)) for n in names)
            rtol = max(rtols.get(n, 0.0) for n in names)
            step = max(self.step(method, (n,), self.scales[n]) for n in names)
            lines.append(
                f"your loss is computed with about {words} precision along "
                f"{', '.join(names)} (rounding noise {rho:.1e} of its value, float64's is "
                f"{EPS64:.1e}): judged at rtol {rtol:.1e} with steps up to {step:.1e}, and "
                "rounding steps are never taken for kinks"
            )
        return lines


def repeatable(loss: Loss, x: Point, f0: float, nondet_tol: float) -> None:
    """Raise LossNotRepeatable when ``loss`` at ``x`` differs from ``f0`` by more than
    ``nondet_tol``."""
    again = float(loss(x))
    if again != f0 and not abs(again - f0) <= nondet_tol:
        raise LossNotRepeatable(
            f"your loss returns different values at the same point ({f0!r}, then {again!r}): "
            "a dropout mask or a sample drawn inside? Fix its seed or hand the mask in, so that "
            "the loss is a function of the parameters; or pass nondet_tol (here at least "
            f"{abs(again - f0):.2g}) to judge it at that noise"
        )


def measure_precision(
    loss: Loss,
    x: Point,
    f0: float,
    rng: np.random.Generator,
    nondet_tol: float = 0.0,
    moves: Moves | None = None,
) -> LossPrecision:
    """The loss's precision at ``x`` (where it is ``f0``): LossNotRepeatable when it does not
    repeat its value; else the screen, and where it fails the noise along each parameter
    (its points in the buffers of ``moves``)."""
    repeatable(loss, x, f0, nondet_tol)
    moves = Moves() if moves is None else moves
    scales = {name: max(float(v.max()), -float(v.min())) for name, v in x.items()}  # max |v|
    if _screen_clean(loss, x, f0, rng, moves, max(scales.values())):
        return LossPrecision(f0, dict.fromkeys(x, 0.0), scales, {}, nondet_tol)
    noise, spacing = {}, {}
    for name in x:
        noise[name], spacing[name] = _noise_along(loss, x, f0, name, rng, moves, scales[name])
    return LossPrecision(f0, noise, scales, spacing, nondet_tol)


def _signs(x: Point, names: Iterable[str], rng: np.random.Generator) -> Signs:
    """Random signs over ``names``, scaled to unit length; never one sign over a whole
    parameter, the direction that a softmax's bias or a normalised layer does not feel."""
    return unit_signs(rng, {n: x[n].shape for n in names}, mixed=True)


def _screen_clean(
    loss: Loss, x: Point, f0: float, rng: np.random.Generator, moves: Moves, scale: float
) -> bool:
    """Along one random direction over every parameter, three steps to one side: the third
    difference within float64's rounding, and the loss moved. Float32's rounding is a million
    times float64's, so one difference tells them apart; a kink within the three steps (rare)
    only sends the loss to the measurement along each parameter."""
    along = moves.along(loss, x, _signs(x, x, rng))
    delta = step_for("central", scale) / 4
    unit = LOSS_ROUNDING_ULPS * EPS64 * (abs(f0) + 1.0)
    g = [f0] + [along(k * delta) for k in (1, 2, 3)]
    third = g[3] - 3 * g[2] + 3 * g[1] - g[0]
    smooth = abs(third) / np.sqrt(20.0) <= SCREEN_UNITS * unit
    return smooth and any(v != f0 for v in g[1:]) and not _float32_values(np.array(g))


def _float32_values(values: NDArray[np.float64]) -> bool:
    """Every value is a float32 number: the loss returns float32 (a float64 loss's values are
    float32 numbers by chance once in 2^29)."""
    return bool(np.all(values == values.astype(np.float32)))


def _noise_along(
    loss: Loss, x: Point, f0: float, name: str, rng: np.random.Generator, moves: Moves,
    scale: float,
) -> tuple[float, float]:  # fmt: skip
    """The standard deviation of the loss's rounding noise along ``name`` (0 where within
    float64's), and the smallest spacing at which it registers a change where float64's
    central step does not (0 where that step does). First at float64's central step; then,
    since a loss that moves in rounding steps shows less noise at spacings under its steps
    than at its own step, again at a quarter of the step the noise found calls for."""
    along = moves.along(loss, x, _signs(x, (name,), rng))
    delta, sigma, registers, flat = step_for("central", scale), 0.0, 0.0, False
    for _ in range(PASSES):
        values = {0: f0}
        for k in range(1, SIDE_POINTS + 1):
            values[k] = along(k * delta)
            values[-k] = along(-k * delta)
        ordered = np.array([values[k] for k in range(-SIDE_POINTS, SIDE_POINTS + 1)])
        changes = np.abs(np.diff(ordered))
        # A loss that returns float32 numbers has at least their rounding's uniform noise.
        if _float32_values(ordered):
            sigma = max(sigma, float(np.spacing(np.float32(abs(f0)))) / np.sqrt(12.0))
        if np.count_nonzero(changes) < SIDE_POINTS:
            # Most steps register no change: the loss is coarser than this spacing.
            delta, flat = max(4 * delta, step_for("central", scale, EPS32) / 4), True
            continue
        if flat and registers == 0.0:
            registers = delta
        # Fourth differences in windows on one side of 0 or the other (a kink at the point
        # itself spoils none); sqrt(70) is the norm of (1, -4, 6, -4, 1). A loss rounded to
        # a grid (some steps register no change) has at least the grid's uniform noise, its
        # smallest step over sqrt(12).
        fourth = np.array([
            ordered[i] - 4 * ordered[i + 1] + 6 * ordered[i + 2] - 4 * ordered[i + 3]
            + ordered[i + 4]
            for i in range(len(ordered) - 4)
            if not i < SIDE_POINTS < i + 4
        ])  # fmt: skip
        coarse = bool(np.any(changes == 0))
        grid = float(np.min(changes[changes > 0])) / np.sqrt(12.0) if coarse else 0.0
        found = max(float(np.median(np.abs(fourth))) / (0.6745 * np.sqrt(70.0)), grid)
        if sigma == 0.0 and found / (abs(f0) + 1.0) <= FLOAT64_CLEAN:
            return 0.0, 0.0
        sigma = max(sigma, found)
        wanted = step_for("central", scale, sigma / (abs(f0) + 1.0)) / 4
        if wanted <= 2 * delta:
            break
        delta = wanted
    return sigma, registers


def ignored(
    loss: Loss, x: Point, f0: float, names: Iterable[str], rng: np.random.Generator
) -> list[str]:
    """Those of ``names`` whose change, by a thousandth of their scale and then by a random
    draw at their scale, leaves the loss exactly as it was."""
    out = []
    for name in names:
        scale = max(float(np.max(np.abs(x[name]))), 1.0)
        small = 1e-3 * scale * random_signs(rng, x[name].shape)
        if float(loss({**x, name: x[name] + small})) != f0:
            continue
        # As large as the parameter itself: enough to switch on units a dead layer keeps off.
        spread = max(float(np.std(x[name])), scale)
        drawn = x[name] + spread * rng.standard_normal(x[name].shape)
        if float(loss({**x, name: drawn})) == f0:
            out.append(name)
    return out
