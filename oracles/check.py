"""``check_gradients``: judge a hand-written gradient against finite differences.

Works on any architecture, activation or loss: it sees only ``loss(params) -> float``
and ``grad(params) -> dict``, with ``params`` a dict of float arrays. Every
evaluation runs in float64 on copies; the caller's arrays are never changed.

Modes, and what each can detect (measured by the mutation suite, oracles/mutants.py):
  ``all``          every coordinate: any coordinate whose error exceeds the tolerance.
  ``sample``       ``samples`` random coordinates per parameter: an error present in a
                   fraction p of the coordinates is caught with probability
                   1 - (1 - p)^samples; an error in a single coordinate is usually missed.
  ``directional``  ``directions`` random unit directions v per parameter and over all
                   parameters at once, comparing v . grad with the directional difference:
                   any error e with |v . e| above tolerance, which for random v holds with
                   high probability once ||e|| exceeds about rtol * ||grad|| (plus the
                   rounding floor); it cannot say which coordinate is wrong, and an error
                   far below that floor (one coordinate off by 1e-9 in a block of 10^5)
                   passes.
  ``auto``         ``all`` up to ``max_coordinates`` parameters in total, else ``directional``.

Kinks: where a ReLU or max switches branch within 2h of the point, the central difference
straddles the kink. Such a coordinate is judged instead on the one-sided second-order
differences (one of which sees only the branch the point is on), first at h, then at h/8;
it is counted in ``kinks``. Where even the one-sided differences disagree with each other
at both steps (a branch switch on both sides), it cannot be judged and is set aside,
counted in ``set_aside``. A wrong gradient at a smooth point still fails.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    "LowPrecisionGradientWarning",
    "assert_gradients",
    "check_gradients",
]

Params = Mapping[str, NDArray[Any]]
MODES = ("auto", "all", "sample", "directional")
METHODS = ("central", "richardson", "complex_step")
ALL_PARAMETERS = "(all)"
RETRY_LEVELS = 3  # steps h/8, h/64, h/512 after h


class LowPrecisionGradientWarning(UserWarning):
    """The gradient under test came back in a dtype less precise than float64."""


@dataclass(frozen=True)
class _Verdict:
    analytic: float
    numerical: float
    allowed: float
    passed: bool
    kink: bool
    set_aside: bool


@dataclass
class _Tally:
    verdicts: list[tuple[tuple[int, ...], _Verdict]]

    def report(
        self, name: str, shape: tuple[int, ...], mode: str, tol: Tolerance
    ) -> ParameterReport:
        if not self.verdicts:
            raise ValueError(f"{name}: nothing was checked")
        floor = tol.atol / tol.rtol
        abs_errors = [abs(v.analytic - v.numerical) for _, v in self.verdicts]
        rel_errors = [
            e / max(abs(v.analytic), abs(v.numerical), floor)
            for e, (_, v) in zip(abs_errors, self.verdicts, strict=True)
        ]
        ratios = [
            0.0 if v.set_aside else e / v.allowed
            for e, (_, v) in zip(abs_errors, self.verdicts, strict=True)
        ]
        worst = int(np.argmax(ratios))
        index, verdict = self.verdicts[worst]
        return ParameterReport(
            name=name,
            shape=shape,
            mode=mode,
            checked=len(self.verdicts),
            kinks=sum(v.kink for _, v in self.verdicts),
            set_aside=sum(v.set_aside for _, v in self.verdicts),
            max_abs_error=max(abs_errors),
            max_relative_error=max(rel_errors),
            worst_index=index,
            analytic=verdict.analytic,
            numerical=verdict.numerical,
            rtol=tol.rtol,
            atol=tol.atol,
            passed=all(v.passed for _, v in self.verdicts),
        )


def _allowed(a: float, n: float, tol: Tolerance, noise: float) -> float:
    return tol.rtol * max(abs(a), abs(n)) + tol.atol + noise


def _judge(
    g: Callable[[float], float], f0: float, a: float, h: float, method: str, tol: Tolerance
) -> _Verdict:
    """Judge the analytic directional derivative ``a`` of the slice g(t) = f(x + t v)."""
    noise_unit = LOSS_ROUNDING_ULPS * EPS64 * (abs(f0) + 1.0)

    def close(value: float, step: float, weight: float) -> tuple[bool, float]:
        allowed = _allowed(a, value, tol, weight * noise_unit / step)
        return abs(a - value) <= allowed, allowed

    g = functools.cache(g)  # the estimates below share evaluations
    if method == "central":
        n = (g(h) - g(-h)) / (2 * h)
        ok, allowed = close(n, h, 1.0)
        if ok:
            return _Verdict(a, n, allowed, True, False, False)
    first = estimates(g, f0, h)
    n = first.richardson if method == "richardson" else first.central
    ok, allowed = close(n, h, 1.5 if method == "richardson" else 1.0)
    if ok:
        return _Verdict(a, n, allowed, True, False, False)

    def one_sided_match(est: Estimates) -> tuple[float, float] | None:
        for value in (est.forward, est.backward):
            matched, room = close(value, est.step, 4.0)
            if matched:
                return value, room
        return None

    def smooth(est: Estimates) -> bool:
        allowed = _allowed(est.forward, est.backward, tol, 8.0 * noise_unit / est.step)
        return abs(est.forward - est.backward) <= allowed

    # Not within tolerance at h. Either the gradient is wrong, or a kink (or strong
    # curvature) lies within 2h: look closer, in steps of h/8 down to an eighth of the
    # central method's own step (so that rounding noise stays small), and judge on the
    # central difference, or on a one-sided one where the slice is not smooth.
    min_step = h / RELATIVE_STEPS[method] * RELATIVE_STEPS["central"] / 8
    kink = smooth_somewhere = False
    est = first
    for level in range(RETRY_LEVELS + 1):
        if level:
            if h / 8**level < min_step:
                break
            est = estimates(g, f0, h / 8**level)
            ok, room = close(est.central, est.step, 1.0)
            if ok:
                return _Verdict(a, est.central, room, True, kink, False)
        if smooth(est):
            smooth_somewhere = True
            continue
        kink = True
        match = one_sided_match(est)
        if match is not None:
            return _Verdict(a, match[0], match[1], True, True, False)
    if smooth_somewhere:
        return _Verdict(a, n, allowed, False, kink, False)
    # A branch switch on both sides at every step: this coordinate cannot be judged.
    return _Verdict(a, n, allowed, True, True, True)


def _judge_complex(
    loss: Callable[[dict[str, Any]], Any],
    params: dict[str, NDArray[Any]],
    name: str,
    direction: NDArray[np.float64],
    a: float,
    tol: Tolerance,
) -> _Verdict:
    h = step_for("complex_step", 0.0)
    shifted = {k: v.astype(np.complex128) for k, v in params.items()}
    shifted[name] = shifted[name] + 1j * h * direction
    n = float(np.imag(loss(shifted))) / h
    allowed = _allowed(a, n, tol, 0.0)
    return _Verdict(a, n, allowed, abs(a - n) <= allowed, False, False)


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


def _analytic(
    grad: Callable[[dict[str, Any]], Mapping[str, Any]], params: dict[str, NDArray[np.float64]]
) -> tuple[dict[str, NDArray[np.float64]], np.dtype[Any]]:
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
    loss: Callable[[dict[str, Any]], Any],
    grad: Callable[[dict[str, Any]], Mapping[str, Any]],
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
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    x = _float64_copies(params)
    analytic, dtype = _analytic(grad, x)
    if dtype != np.float64:
        warnings.warn(
            f"the gradient came back in {dtype}; it is judged with {dtype} tolerances",
            LowPrecisionGradientWarning,
            stacklevel=2,
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
    reports = [
        _check_parameter(loss, x, analytic, name, mode, method, samples, directions, f0, tol, rng)
        for name in x
    ]
    if mode == "directional" and len(x) > 1:
        reports.append(_check_all_at_once(loss, x, analytic, method, directions, f0, tol, rng))
    return GradientReport(
        oracle="finite_difference",
        method=method,
        mode=mode,
        gradient_dtype=str(dtype),
        parameters=tuple(reports),
    )


def _check_parameter(
    loss: Callable[[dict[str, Any]], Any],
    x: dict[str, NDArray[np.float64]],
    analytic: dict[str, NDArray[np.float64]],
    name: str,
    mode: str,
    method: str,
    samples: int,
    directions: int,
    f0: float,
    tol: Tolerance,
    rng: np.random.Generator,
) -> ParameterReport:
    value = x[name]
    tally = _Tally([])
    if mode == "directional":
        verdicts = _directional(loss, x, analytic, (name,), method, directions, f0, tol, rng)
        return _Tally(verdicts).report(name, value.shape, mode, tol)
    flat = value.reshape(-1)  # a view: coordinates are set and restored in place
    if mode == "all" or value.size <= samples:
        indices = np.arange(value.size)
    else:
        indices = np.sort(rng.choice(value.size, size=samples, replace=False))
    for i in indices:
        a = float(analytic[name].reshape(-1)[i])
        old = float(flat[i])
        if method == "complex_step":
            e = np.zeros(value.size)
            e[i] = 1.0
            verdict = _judge_complex(loss, x, name, e.reshape(value.shape), a, tol)
        else:

            def coordinate(t: float, i: int = int(i), old: float = old) -> float:
                flat[i] = old + t
                try:
                    return float(loss(x))
                finally:
                    flat[i] = old

            verdict = _judge(coordinate, f0, a, step_for(method, old), method, tol)
        tally.verdicts.append((tuple(int(j) for j in np.unravel_index(i, value.shape)), verdict))
    return tally.report(name, value.shape, mode, tol)


def _check_all_at_once(
    loss: Callable[[dict[str, Any]], Any],
    x: dict[str, NDArray[np.float64]],
    analytic: dict[str, NDArray[np.float64]],
    method: str,
    directions: int,
    f0: float,
    tol: Tolerance,
    rng: np.random.Generator,
) -> ParameterReport:
    verdicts = _directional(loss, x, analytic, tuple(x), method, directions, f0, tol, rng)
    size = sum(v.size for v in x.values())
    return _Tally(verdicts).report(ALL_PARAMETERS, (size,), "directional", tol)


def _directional(
    loss: Callable[[dict[str, Any]], Any],
    x: dict[str, NDArray[np.float64]],
    analytic: dict[str, NDArray[np.float64]],
    names: tuple[str, ...],
    method: str,
    directions: int,
    f0: float,
    tol: Tolerance,
    rng: np.random.Generator,
) -> list[tuple[tuple[int, ...], _Verdict]]:
    """Verdicts along ``directions`` random unit directions over the parameters ``names``
    (one parameter block, or all of them at once), numbered 0, 1, ..."""
    scale = max(float(np.max(np.abs(x[name]))) for name in names)
    out: list[tuple[tuple[int, ...], _Verdict]] = []
    for k in range(directions):
        v = {name: rng.standard_normal(x[name].shape) for name in names}
        norm = float(np.sqrt(sum(np.sum(d * d) for d in v.values())))
        v = {name: d / norm for name, d in v.items()}
        a = float(sum(np.sum(analytic[name] * v[name]) for name in names))
        if method == "complex_step":
            h = step_for("complex_step", 0.0)
            shifted = {name: value.astype(np.complex128) for name, value in x.items()}
            for name in names:
                shifted[name] = shifted[name] + 1j * h * v[name]
            n = float(np.imag(loss(shifted))) / h
            allowed = _allowed(a, n, tol, 0.0)
            verdict = _Verdict(a, n, allowed, abs(a - n) <= allowed, False, False)
        else:

            def along(t: float, v: dict[str, NDArray[np.float64]] = v) -> float:
                return float(loss({**x, **{name: x[name] + t * v[name] for name in names}}))

            verdict = _judge(along, f0, a, step_for(method, scale), method, tol)
        out.append(((k,), verdict))
    return out


def assert_gradients(
    loss: Callable[[dict[str, Any]], Any],
    grad: Callable[[dict[str, Any]], Mapping[str, Any]],
    params: Params,
    **options: Any,
) -> GradientReport:
    """check_gradients, raising AssertionError with the report's table when any disagrees."""
    __tracebackhide__ = True
    report = check_gradients(loss, grad, params, **options)
    if not report.passed:
        raise AssertionError(report.summary())
    return report
