"""What the checker accepts: parameters, and gradients as people's code returns them, read into
float64 copies or refused with an error that names both sides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

Params = Mapping[str, NDArray[Any]]
Loss = Callable[[dict[str, Any]], Any]
Grad = Callable[[dict[str, Any]], Mapping[str, Any]]
Point = dict[str, NDArray[np.float64]]


def float64_copies(params: Params) -> Point:
    """Float64 copies of ``params`` (a non-empty dict of finite float arrays; a Python int or
    float is a float parameter of one entry, as a bias initialised ``self.bias = 0`` is)."""
    if not isinstance(params, Mapping) or not params:
        raise TypeError("params must be a non-empty dict of float arrays")
    copies: Point = {}
    for name, value in params.items():
        held: Any = value  # an array, or a Python number
        scalar = isinstance(held, int | float) and not isinstance(held, bool)
        array = np.asarray(float(held) if scalar else held)
        if array.dtype.kind != "f":
            raise TypeError(f"params[{name!r}] must be a float array, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"params[{name!r}] contains NaN or an infinite value")
        # C order: a coordinate is moved through a flat view (reshape(-1) of an F-ordered
        # array, a transposed W, is a copy: its coordinates would never move).
        copies[name] = np.array(array, dtype=np.float64, order="C", copy=True)
    return copies


def split(both: Callable[[dict[str, Any]], Any]) -> tuple[Loss, Grad]:
    """``loss`` and ``grad`` from one function returning ``(value, gradients)``."""

    def pair(params: dict[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        out = both(params)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
            raise TypeError(
                "grad is None, so loss(params) must return (value, gradients dict); it returned "
                f"{type(out).__name__}"
            )
        return out

    return (lambda p: pair(p)[0]), (lambda p: pair(p)[1])


class Gradient(NamedTuple):
    """The gradient under test at a point, read as its update applies it."""

    values: Point  # float64, each of its parameter's shape
    dtype: np.dtype[Any]  # the least precise dtype it came in
    readings: tuple[str, ...]  # how it was read, where not as given
    shape_bugs: tuple[str, ...]  # shapes that the user's own update would get wrong


def gradient_at(grad: Grad, x: Point) -> Gradient:
    """``grad`` called on copies of ``x``, read as its update would apply it, in float64: the
    gradients, the least precise dtype they came in, and how they were read where that was not
    as given (a name ``dW1`` for ``W1``, entries that are not parameters, a shape the update
    ``p -= lr * g`` broadcasts or one with the parameter's entries once size-1 axes go). A
    shape with the parameter's entries that the update would broadcast into another shape, or
    could not apply, is read by its entries and listed as a shape bug."""
    given = grad({k: v.copy() for k, v in x.items()})
    if not isinstance(given, Mapping):
        raise TypeError(f"grad must return a dict of arrays, got {type(given).__name__}")
    found = {name: _key(given, name) for name in x}
    missing = [name for name, key in found.items() if key is None]
    if missing:
        raise ValueError(
            f"grad returned no gradient for {', '.join(missing)} (looked for each name and "
            f"'d' + name); it returned {sorted(map(str, given))}"
        )
    keys = {name: key for name, key in found.items() if key is not None}
    renamed = {n: k for n, k in keys.items() if k != n}
    standard = [n for n, k in renamed.items() if k == f"d{n}"]
    notes = [f"grad['d' + name] read as the gradient of {', '.join(standard)}"] if standard else []
    notes += [f"grad[{k!r}] read as the gradient of {n}" for n, k in renamed.items()
              if n not in standard]  # fmt: skip
    both = [n for n, k in keys.items() if k != n and n in given]
    if both:
        notes.append(f"grad holds {', '.join(both)} and their 'd' + name: the 'd' entries are "
                     "read as the gradients, the others as the parameters' own values")  # fmt: skip
    ignored = sorted(str(k) for k in set(given) - set(keys.values()) - set(both))
    if ignored:
        notes.append(f"ignored, not parameters: {', '.join(ignored)}")
    dtypes = []
    bugs = []
    out: Point = {}
    for name, value in x.items():
        key = keys[name]
        g = np.asarray(given[key])
        if g.dtype.kind != "f":
            raise TypeError(f"grad[{key!r}] must be a float array, got dtype {g.dtype}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"grad[{key!r}] contains NaN or an infinite value")
        if g.shape != value.shape:
            g, how, bug = _as_applied(g, value.shape, key, name)
            notes.append(how)
            bugs += [bug] if bug else []
        dtypes.append(g.dtype)
        out[name] = g.astype(np.float64)
    least = np.dtype(min(dtypes, key=lambda d: np.finfo(d).bits))
    return Gradient(out, least, tuple(notes), tuple(bugs))


def _key(given: Mapping[str, Any], name: str) -> str | None:
    """'d' + name where the dict holds it (a namespace holding both W1 and dW1: dW1 is the
    gradient, W1 the parameter's own value), else the name itself."""
    if f"d{name}" in given:
        return f"d{name}"
    return name if name in given else None


def _as_applied(
    g: NDArray[Any], shape: tuple[int, ...], key: str, name: str
) -> tuple[NDArray[Any], str, str | None]:
    """``g`` with the parameter's ``shape``, as the update would apply it, how, and the shape
    bug it hides (None when the update applies it as read)."""
    try:
        applied: tuple[int, ...] | None = np.broadcast_shapes(g.shape, shape)
    except ValueError:
        applied = None
    if applied == shape:
        how = "one number for every entry" if g.size == 1 else f"broadcast from {g.shape}"
        return np.broadcast_to(g, shape), f"grad[{key!r}] of shape {g.shape} applied to {name} " \
            f"{shape} as p -= lr * g applies it: {how}", None  # fmt: skip
    if [n for n in g.shape if n != 1] == [n for n in shape if n != 1]:
        if applied is None:
            update = f"{name} -= lr * g raises"
        else:
            update = f"{name} = {name} - lr * g silently makes {name} {applied} and {name} -= "
            update += "lr * g raises"
        read = (
            f"grad[{key!r}] of shape {g.shape} read as {name}'s {shape}: the same entries once "
            "size-1 axes are dropped"
        )
        bug = (
            f"grad[{key!r}] has shape {g.shape}, {name} {shape}: {update}; judged by its "
            f"entries, but return it with {name}'s shape {shape}"
        )
        return g.reshape(shape), read, bug
    transposed = g.ndim == 2 and g.shape == tuple(reversed(shape))
    raise ValueError(
        f"grad[{key!r}] has shape {g.shape}, params[{name!r}] {shape}: the update "
        "p -= lr * g cannot apply it (it neither broadcasts to the parameter's shape nor has "
        "its entries)"
        + (
            f"; it has the shape of {name}'s transpose: dW = dZ A^T (examples as "
            "columns) or A^T dZ (as rows), or one transpose too many"
            if transposed
            else ""
        )
    )
