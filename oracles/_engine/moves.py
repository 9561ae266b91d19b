"""The points x + t v a finite difference evaluates: random sign directions scaled to unit
length, and the moved points written into buffers that every evaluation of a check reuses.

A direction's entries are +-1/sqrt(n), one random bit each, read eight at a time through a
table of the 256 bytes (one pass, where unpacking bits, converting and scaling took four). A
moved point reuses its arrays (at 5.8 million parameters fresh arrays cost their page faults at
every evaluation): x + t v is written a chunk at a time, t v from the bits into a buffer that
stays in cache, then added, with the same rounding as x + (t v) in fresh arrays; a direction's
product with the gradient is taken the same way. Neither makes a pass over t v's own values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from math import prod
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.inputs import Loss, Point

CHUNK = 8192  # bytes of bits written out at a time: 65,536 entries, 512 KiB, kept in cache
# Row b: the signs of the bits of byte b, most significant first (numpy.unpackbits' order).
SIGNS = np.array([[1.0 if b >> (7 - i) & 1 else -1.0 for i in range(8)] for b in range(256)])


def unit_signs(
    rng: np.random.Generator, shapes: Mapping[str, tuple[int, ...]], *, mixed: bool = False
) -> Signs:
    """A random unit vector over the parameters of ``shapes`` (name -> shape): each entry
    +-1/sqrt(n), n the entries in all, its sign one bit of ``rng.bytes`` (drawn per parameter,
    in order). ``mixed``: never one sign over a whole parameter (the direction a softmax's
    bias or a normalised layer does not feel): the first entry's is then flipped."""
    bits = {}
    for name, shape in shapes.items():
        n = prod(shape)
        drawn = np.frombuffer(rng.bytes((n + 7) // 8), np.uint8)
        if mixed and n > 1 and _one_sign(drawn, n):
            drawn = drawn.copy()
            drawn[0] ^= 0x80
        bits[name] = drawn
    size = sum(prod(shape) for shape in shapes.values())
    return Signs(
        bits, {name: tuple(shape) for name, shape in shapes.items()}, SIGNS / np.sqrt(size)
    )


def random_signs(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """An array of ``shape`` whose entries are -1 or +1, each sign one bit of ``rng.bytes``
    (through the same table as every direction)."""
    bits = np.frombuffer(rng.bytes((prod(shape) + 7) // 8), np.uint8)
    return Signs({"": bits}, {"": tuple(shape)}, SIGNS).v[""]


def _expand(
    bits: NDArray[np.uint8], table: NDArray[np.float64], out: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """The first ``n`` entries that ``bits`` pick from ``table`` (a row of 8 per byte), written
    into ``out``; a view of them."""
    full = n // 8
    np.take(table, bits[:full], axis=0, out=out[: 8 * full].reshape(full, 8), mode="clip")
    if n > 8 * full:  # clip: no buffering; the last byte's first bits
        out[8 * full : n] = table[bits[full]][: n - 8 * full]
    return out[:n]


def _one_sign(bits: NDArray[np.uint8], n: int) -> bool:
    """Whether the first ``n`` bits of ``bits`` are all equal."""
    full, rest = divmod(n, 8)
    want = 255 if bits[0] >> 7 else 0
    if full and not bool(np.all(bits[:full] == want)):
        return False
    return not rest or bits[full] >> (8 - rest) == want >> (8 - rest)


class Signs:
    """A random sign direction over whole parameters, kept as its bits (an eighth of a byte
    an entry): written out into a buffer where a check needs its values."""

    def __init__(
        self,
        bits: dict[str, NDArray[np.uint8]],
        shapes: dict[str, tuple[int, ...]],
        table: NDArray[np.float64],
    ) -> None:
        self.bits, self.shapes, self._table = bits, shapes, table

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.bits)

    def write(self, name: str, out: NDArray[np.float64], t: float = 1.0) -> NDArray[np.float64]:
        """The entries of ``name`` times ``t`` (rounded as that product), written into ``out``
        (one-dimensional, at least the parameter's size); a view of ``out`` in its shape."""
        n = prod(self.shapes[name])
        _expand(self.bits[name], self._table if t == 1.0 else self._table * t, out, n)
        return out[:n].reshape(self.shapes[name])

    def moved(
        self,
        name: str,
        x: NDArray[np.float64],
        t: float,
        out: NDArray[np.float64],
        scratch: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """x + t v over ``name`` written into ``out`` (x's shape), rounded as x + (t v) in
        fresh arrays: t v is written a chunk at a time into ``scratch`` (CHUNK * 8 entries,
        kept in cache) and added, so that no pass over t v's own buffer is made."""
        flat, into = x.reshape(-1), out.reshape(-1)
        for at, values in self._chunks(name, self._table * t, scratch):
            np.add(flat[at : at + values.size], values, out=into[at : at + values.size])
        return out

    def dot_with(
        self, name: str, gradient: NDArray[np.float64], scratch: NDArray[np.float64]
    ) -> float:
        """The direction's entries over ``name`` dotted with ``gradient``, a chunk at a time
        through ``scratch``."""
        flat = gradient.reshape(-1)
        return sum(float(np.dot(flat[at : at + values.size], values))
                   for at, values in self._chunks(name, self._table, scratch))  # fmt: skip

    def _chunks(
        self, name: str, table: NDArray[np.float64], scratch: NDArray[np.float64]
    ) -> Iterator[tuple[int, NDArray[np.float64]]]:
        """(first entry, the entries of ``name`` through ``table`` from there) a chunk at a
        time, each written into ``scratch`` (valid until the next)."""
        bits, size = self.bits[name], prod(self.shapes[name])
        for start in range(0, len(bits), CHUNK):
            n = min(8 * CHUNK, size - 8 * start)
            yield 8 * start, _expand(bits[start : start + CHUNK], table, scratch, n)

    @property
    def v(self) -> dict[str, NDArray[np.float64]]:
        """The direction as fresh arrays, parameter by parameter."""
        return {n: self.write(n, np.empty(prod(s))) for n, s in self.shapes.items()}

    def dot(self, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        """Its inner product with ``gradient`` (fresh arrays: ``Moves.dot`` uses buffers)."""
        return float(sum(np.vdot(gradient[n], d) for n, d in self.v.items()))

    def slice(self, loss: Loss, point: Point, moves: Moves) -> Callable[[float], float]:
        """g(t) = loss(point + t v), its points in ``moves``' buffers."""
        return moves.along(loss, point, self)


class Moves:
    """The buffers of one check's moved points and of the direction they move along: one set
    per parameter, reused by every slice."""

    def __init__(self) -> None:
        self._moved: dict[str, NDArray[np.float64]] = {}
        self._step: dict[str, NDArray[np.float64]] = {}
        self._scratch = np.empty(8 * CHUNK)  # a chunk of t v, written and used in cache
        self._holds: tuple[int, float] | None = None  # (slice, |t|) whose t v the steps hold
        self._slices = 0
        self._dots: dict[tuple[int, int], tuple[Signs, Any, float]] = {}

    def dot(self, direction: Any, gradient: Mapping[str, NDArray[np.float64]]) -> float:
        """``direction . gradient``, through the buffers where ``direction`` is Signs (each
        product is kept: a check asks for it when it judges and again when it reports)."""
        if not isinstance(direction, Signs):
            return float(direction.dot(gradient))
        kept = self._dots.get((id(direction), id(gradient)))
        if kept is not None and kept[0] is direction and kept[1] is gradient:
            return kept[2]
        value = sum(direction.dot_with(n, gradient[n], self._scratch) for n in direction.names)
        self._dots[id(direction), id(gradient)] = (direction, gradient, value)
        return value

    def along(
        self, loss: Loss, point: Point, v: Signs | Mapping[str, NDArray[np.float64]]
    ) -> Callable[[float], float]:
        """g(t) = loss(point + t v), ``v`` over some of ``point``'s parameters (same shapes).
        Each call rewrites the buffers: the point it passes is valid until the next call."""
        self._slices += 1
        token = self._slices
        names = v.names if isinstance(v, Signs) else tuple(v)

        def g(t: float) -> float:
            if isinstance(v, Signs):  # x + t v from the bits, a chunk at a time
                moved = {name: v.moved(name, point[name], t, self._buffer(
                    self._moved, name, point[name]), self._scratch) for name in names}  # fmt: skip
                return float(loss({**point, **moved}))
            if self._holds != (token, abs(t)):
                for name in names:
                    step = self._buffer(self._step, name, point[name])
                    np.multiply(v[name], abs(t), out=step)
                self._holds = (token, abs(t))
            add = np.subtract if t < 0 else np.add
            moved = {name: add(point[name], self._step[name],
                               out=self._buffer(self._moved, name, point[name]))
                     for name in names}  # fmt: skip
            return float(loss({**point, **moved}))

        return g

    @staticmethod
    def _buffer(
        store: dict[str, NDArray[np.float64]], name: str, like: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        held = store.get(name)
        if held is None or held.shape != like.shape:
            held = store[name] = np.empty(like.shape)
        return held
