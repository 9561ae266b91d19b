"""The points x + t v a finite difference evaluates: random sign directions scaled to unit
length, and the moved points written into buffers that every evaluation of a check reuses.

A direction's entries are +-1/sqrt(n), one random bit each, read eight at a time through a
table of the 256 bytes (one pass, where unpacking bits, converting and scaling took four). A
moved point reuses its arrays: t v is computed once for the pair g(t), g(-t), and x +- t v
written in place, with the same rounding as x + (t v) in fresh arrays (at 5.8 million
parameters fresh arrays cost their page faults at every evaluation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from oracles._engine.inputs import Loss, Point

# Row b: the signs of the bits of byte b, most significant first (numpy.unpackbits' order).
SIGNS = np.array([[1.0 if b >> (7 - i) & 1 else -1.0 for i in range(8)] for b in range(256)])


def unit_signs(
    rng: np.random.Generator, shapes: Mapping[str, tuple[int, ...]], *, mixed: bool = False
) -> dict[str, NDArray[np.float64]]:
    """A random unit vector over the parameters of ``shapes`` (name -> shape): each entry
    +-1/sqrt(n), n the entries in all, its sign one bit of ``rng.bytes`` (drawn per parameter,
    in order). ``mixed``: never one sign over a whole parameter (the direction a softmax's
    bias or a normalised layer does not feel): the first entry's is then flipped."""
    size = sum(int(np.prod(shape)) for shape in shapes.values())
    table = SIGNS / np.sqrt(size)
    out = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        v = table[np.frombuffer(rng.bytes((n + 7) // 8), np.uint8)].reshape(-1)[:n]
        if mixed and n > 1 and v.max() == v.min():
            v[0] = -v[0]
        out[name] = v.reshape(shape)
    return out


class Moves:
    """The buffers of one check's moved points: one pair per parameter, reused by every slice."""

    def __init__(self) -> None:
        self._moved: dict[str, NDArray[np.float64]] = {}
        self._step: dict[str, NDArray[np.float64]] = {}
        self._holds: tuple[int, float] | None = None  # (slice, |t|) whose t v the steps hold
        self._slices = 0

    def along(
        self, loss: Loss, point: Point, v: Mapping[str, NDArray[np.float64]]
    ) -> Callable[[float], float]:
        """g(t) = loss(point + t v), ``v`` over some of ``point``'s parameters (same shapes).
        Each call rewrites the buffers: the point it passes is valid until the next call."""
        self._slices += 1
        token = self._slices

        def g(t: float) -> float:
            if self._holds != (token, abs(t)):
                for name, d in v.items():
                    np.multiply(d, abs(t), out=self._buffer(self._step, name, d))
                self._holds = (token, abs(t))
            add = np.subtract if t < 0 else np.add
            moved = {name: add(point[name], self._step[name],
                               out=self._buffer(self._moved, name, d))
                     for name, d in v.items()}  # fmt: skip
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
