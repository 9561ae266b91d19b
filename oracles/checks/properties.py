"""Property checks of a user's primitives: softmax, cross-entropy, one-hot, activations and
their derivatives, each against its defining properties, the breaking input shrunk by
hypothesis (needs ``hypothesis``, which the gradient checker itself does not).

Conventions: ``axis``, the class axis (0: examples as columns, 1: examples as rows);
``num_classes`` for ``one_hot`` (given to the check; ``passes_num_classes=False`` when the
user's function takes the labels alone); ``takes`` for ``cross_entropy`` (``"logits"`` or
``"probabilities"``) and ``labels`` (``"indices"`` or ``"one_hot"``); ``of`` for a derivative
(``"input"``: it takes Z; ``"output"``: it takes A = g(Z)); ``slope`` for ``leaky_relu``;
``arrays`` (``"numpy"``, ``"cupy"`` or ``"jax"``): the kind of array ``fn`` takes and returns
(its inputs are copied to the device, its outputs read back).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import scipy.special
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from oracles._engine.arrays import ARRAY_KINDS, Kind
from oracles._engine.optional import missing
from oracles.checks.primitives import PRIMITIVES

Array = NDArray[np.float64]
SEARCH = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip


@dataclass(frozen=True)
class PropertyFailure:
    """One property that fails: its words, the input that breaks it (shrunk), and what was
    expected against what came back."""

    property: str
    input: Any
    expected: str
    got: str


@dataclass(frozen=True)
class PrimitiveReport:
    """The properties checked on one primitive, and those that fail."""

    kind: str
    checked: tuple[str, ...]
    failures: tuple[PropertyFailure, ...]

    @property
    def passed(self) -> bool:
        """Every property holds on every input tried."""
        return not self.failures

    def __bool__(self) -> bool:
        """The verdict: false when a property fails."""
        return self.passed

    def __str__(self) -> str:
        """The summary: ``print(report)`` shows what a person reads, not the arrays."""
        return self.summary()

    def summary(self) -> str:
        """One line per property checked, then each failure with its input."""
        failed = {f.property for f in self.failures}
        lines = [f"{self.kind}: {len(self.checked) - len(failed)}/{len(self.checked)} properties"]
        lines += [f"  {'FAILS' if p in failed else 'ok':<5} {p}" for p in self.checked]
        for f in self.failures:
            lines.append(f"{f.property}:\n  input {f.input!r}\n  expected {f.expected}\n"
                         f"  got {f.got}")  # fmt: skip
        return "\n".join(lines)


Outcome = tuple[str, str] | None  # None: the property holds; else (expected, got)


@dataclass(frozen=True)
class _Property:
    words: str
    inputs: st.SearchStrategy[Any]
    check: Callable[[Callable[..., Any], Any], Outcome]


class _Broke(Exception):
    """The user's function warned or raised."""


def _call(fn: Callable[..., Any], *args: Any) -> Array:
    """``fn(*args)`` as a float64 array; a warning or an error is a failure of its own."""
    # Underflow to 0 is the right answer of exp(-1e3); overflow, 0/0 and log(0) are not.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("always")
        try:
            out = np.asarray(fn(*(a.copy() if isinstance(a, np.ndarray) else a for a in args)),
                             dtype=np.float64)  # fmt: skip
        except Exception as exc:  # the user's code: any error is what the report shows
            raise _Broke(f"raised {type(exc).__name__}: {exc}") from exc
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            raise _Broke(f"warned: {w.message}")
    return out


def _close(expected: Any, got: Any, rtol: float, atol: float) -> Outcome:
    expected, got = np.asarray(expected, np.float64), np.asarray(got, np.float64)
    if got.shape != expected.shape:
        return f"shape {expected.shape}", f"shape {got.shape}"
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return None
    return np.array2string(expected, precision=12), np.array2string(got, precision=12)


def _finite(got: Array) -> Outcome:
    return None if np.all(np.isfinite(got)) else ("finite values", np.array2string(got))


def _arrays(shapes: st.SearchStrategy[tuple[int, ...]], bound: float) -> st.SearchStrategy[Array]:
    floats = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=floats))


def _logits(axis: int, bound: float) -> st.SearchStrategy[Array]:
    """2-5 classes by 1-4 examples, the classes along ``axis``."""
    shapes = st.tuples(st.integers(2, 5), st.integers(1, 4))
    return _arrays(shapes.map(lambda s: s if axis == 0 else s[::-1]), bound)


def _values(bound: float) -> st.SearchStrategy[Array]:
    return _arrays(st.integers(1, 6).map(lambda n: (n,)), bound)


def _labels_for(Z: Array, axis: int) -> NDArray[np.intp]:
    return np.asarray(np.arange(Z.shape[1 - axis]) % Z.shape[axis], dtype=np.intp)


DEFINITIONS: dict[str, Callable[..., Array]] = {
    "sigmoid": scipy.special.expit,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x, slope: np.where(x > 0, x, slope * x),
}


def _properties(kind: str, c: dict[str, Any]) -> list[_Property]:
    axis = int(c.get("axis", 0))
    if kind in ("softmax", "log_softmax"):
        exact = scipy.special.softmax if kind == "softmax" else scipy.special.log_softmax
        props = [
            _Property(
                f"equals scipy.special.{kind} along axis {axis}",
                _logits(axis, 50.0),
                lambda f, Z: _close(exact(Z, axis=axis), _call(f, Z), 1e-10, 1e-15),
            ),
            _Property(
                "finite, without warnings, for logits up to +-1e3",
                _logits(axis, 1e3),
                lambda f, Z: _finite(_call(f, Z)),
            ),
            _Property(
                "unchanged by adding a constant to every logit",
                _logits(axis, 50.0),
                lambda f, Z: _close(_call(f, Z), _call(f, Z + 7.5), 1e-10, 1e-15),
            ),
        ]
        if kind == "softmax":
            props.append(_Property(
                f"sums to 1 along axis {axis}", _logits(axis, 50.0),
                lambda f, Z: _close(np.ones(Z.shape[1 - axis]), np.sum(_call(f, Z), axis=axis),
                                    1e-12, 1e-12)))  # fmt: skip
        return props
    if kind in DEFINITIONS:
        slope = float(c.get("slope", 0.01))

        def exact(x: Array) -> Array:
            args = (x, slope) if kind == "leaky_relu" else (x,)
            return np.asarray(DEFINITIONS[kind](*args), dtype=np.float64)

        props = [
            _Property(
                "equals its definition",
                _values(50.0),
                lambda f, x: _close(exact(x), _call(f, x), 1e-12, 1e-15),
            ),
            _Property(
                "finite, without warnings, for inputs up to +-1e3",
                _values(1e3),
                lambda f, x: _finite(_call(f, x)),
            ),
        ]
        if kind == "sigmoid":
            props.append(
                _Property(
                    "sigmoid(-x) = 1 - sigmoid(x)",
                    _values(30.0),
                    lambda f, x: _close(1 - _call(f, x), _call(f, -x), 0, 1e-12),
                )
            )
        return props
    if kind in ("sigmoid_derivative", "tanh_derivative", "relu_derivative"):
        base = kind.removesuffix("_derivative")
        g = DEFINITIONS[base]
        at = (lambda x: g(x)) if c.get("of", "input") == "output" else (lambda x: x)

        def matches(f: Callable[..., Any], x: Array) -> Outcome:
            h = 1e-6
            return _close((g(x + h) - g(x - h)) / (2 * h), _call(f, at(x)), 1e-5, 1e-9)

        away = _values(8.0).filter(lambda x: bool(np.all(np.abs(x) > 1e-3)))
        props = [_Property("matches finite differences of the function, away from kinks", away,
                           matches)]  # fmt: skip
        if base == "relu":

            def at_kink(f: Callable[..., Any], x: Array) -> Outcome:
                d = _call(f, at(x))
                ok = d.shape == x.shape and bool(np.all((d >= 0) & (d <= 1)))
                return None if ok else ("values in [0, 1] (the one-sided derivatives)", str(d))

            props.append(_Property("between the one-sided derivatives at the kink",
                                   st.integers(1, 4).map(np.zeros), at_kink))  # fmt: skip
        return props
    if kind == "one_hot":
        C = int(c["num_classes"])
        passes = bool(c.get("passes_num_classes", True))

        def one_hot_right(f: Callable[..., Any], y: Array) -> Outcome:
            expected = np.eye(C)[y].T if axis == 0 else np.eye(C)[y]
            return _close(expected, _call(f, y, C) if passes else _call(f, y), 0.0, 0.0)

        labels = st.lists(st.integers(0, C - 1), min_size=1, max_size=6).map(np.array)
        return [_Property(f"{C} wide whatever labels the batch holds, one 1 per example at its "
                          "label", labels, one_hot_right)]  # fmt: skip
    if kind == "cross_entropy":
        takes, given = c.get("takes", "logits"), c.get("labels", "indices")

        def loss(f: Callable[..., Any], Z: Array) -> tuple[Array, NDArray[np.intp]]:
            y = _labels_for(Z, axis)
            inputs = Z if takes == "logits" else scipy.special.softmax(Z, axis=axis)
            labels = y if given == "indices" else (np.eye(Z.shape[axis])[y].T if axis == 0
                                                   else np.eye(Z.shape[axis])[y])  # fmt: skip
            return _call(f, inputs, labels), y

        def log_sum_exp(f: Callable[..., Any], Z: Array) -> Outcome:
            got, y = loss(f, Z)
            picked = Z[y, np.arange(y.size)] if axis == 0 else Z[np.arange(y.size), y]
            expected = np.mean(scipy.special.logsumexp(Z, axis=axis) - picked)
            return _close(expected, got.reshape(()), 1e-9, 1e-12)

        bound = 1e3 if takes == "logits" else 30.0
        return [
            _Property(f"equals the log-sum-exp form (from {takes}, labels as {given}), logits "
                      f"up to +-{bound:g}", _logits(axis, bound), log_sum_exp),
            _Property(f"finite, without warnings, for logits up to +-{bound:g}",
                      _logits(axis, bound), lambda f, Z: _finite(loss(f, Z)[0])),
        ]  # fmt: skip
    raise ValueError(f"unknown kind {kind!r}; expected one of {PRIMITIVES}")


def _as_written(fn: Callable[..., Any], kind: Kind) -> Callable[..., Any]:
    """``fn`` as a function of NumPy arrays, called with copies of its own ``kind``."""
    if kind.on_host:
        return fn

    def call(*args: Any) -> Any:
        with kind.calls():
            out = fn(*(kind.device(a) if isinstance(a, np.ndarray) else a for a in args))
        return kind.host(out)

    return call


def _outcome(prop: _Property, fn: Callable[..., Any], x: Any) -> Outcome:
    try:
        return prop.check(fn, x)
    except _Broke as broke:
        return "no warning and no error", str(broke)


def _breaks(prop: _Property, fn: Callable[..., Any], x: Any) -> bool:
    return _outcome(prop, fn, x) is not None


def properties_of(fn: Callable[..., Any], kind: str, **conventions: Any) -> PrimitiveReport:
    """``fn`` (a primitive of ``kind``, written with ``conventions``: see the module's docstring)
    against each property of its kind; each failure with the smallest breaking input found."""
    arrays = conventions.pop("arrays", "numpy")
    if arrays not in ARRAY_KINDS:
        raise ValueError(f"arrays={arrays!r}; expected one of {ARRAY_KINDS}")
    if arrays != "numpy" and (reason := missing(arrays)):
        raise ModuleNotFoundError(f"arrays={arrays!r}, but {reason}")
    fn = _as_written(fn, Kind(arrays))
    props = _properties(kind, conventions)
    failures = []
    for prop in props:
        try:
            x = find(prop.inputs, partial(_breaks, prop, fn), settings=SEARCH)
        except NoSuchExample:
            continue
        expected, got = _outcome(prop, fn, x) or ("", "")
        failures.append(PropertyFailure(prop.words, x, expected, got))
    return PrimitiveReport(kind, tuple(p.words for p in props), tuple(failures))
