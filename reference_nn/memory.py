"""Memory reused from one training step to the next (``Arena``, ``reusing``, ``reused_out``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import numpy as np


class Arena:
    """Memory kept from one call to the next of a computation that makes the same NumPy
    arrays in the same order each time (a training step): inside ``reusing(arena)`` the
    i-th array of at least ``min_bytes`` that a primitive asks for through ``reused_out``
    is written where the i-th was in the previous call, if it has the same shape and
    dtype. A fresh array of a few MiB costs a page fault every 4 KiB (about 2.4 us each on
    the 2-core VM): a quarter of a small network's step, as the allocator hands the memory
    back to the system between steps. Smaller arrays (the loop style's vectors) come from
    the allocator's free lists without faults and are left to it. Not for concurrent
    calls: one arena per loop."""

    def __init__(self, min_bytes: int = 1 << 16) -> None:
        self.min_bytes = min_bytes
        self._buffers: list[np.ndarray] = []
        self._next = 0

    def take(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The next buffer in this call's order, of ``shape`` and ``dtype``; its values are
        those of a previous call, to be overwritten."""
        i, self._next = self._next, self._next + 1
        dtype = np.dtype(dtype)
        if i < len(self._buffers):
            buffer = self._buffers[i]
            if buffer.shape == shape and buffer.dtype == dtype:
                return buffer
            self._buffers[i] = buffer = np.empty(shape, dtype)
            return buffer
        self._buffers.append(np.empty(shape, dtype))
        return self._buffers[i]

    def rewind(self) -> None:
        """Start a call: the next ``take`` returns the first buffer again."""
        self._next = 0

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        """Every buffer held, in the order of the calls' requests."""
        return tuple(self._buffers)


_arena: ContextVar[Arena | None] = ContextVar("arena", default=None)


@contextmanager
def reusing(arena: Arena) -> Iterator[Arena]:
    """Within the block, ``reused_out`` takes NumPy memory from ``arena``, from its first
    buffer on. The arrays made so may be overwritten by the next block on the same arena:
    what the block returns must be read, or copied, before then."""
    arena.rewind()
    token = _arena.set(arena)
    try:
        yield arena
    finally:
        _arena.reset(token)


def reused_out(xp: ModuleType, shape: tuple[int, ...], dtype: Any) -> dict[str, Any]:
    """``{"out": buffer}`` from the arena of the enclosing ``reusing`` block when ``xp`` is
    NumPy, else ``{}`` (a fresh array, as without ``out``): the keyword arguments for a ufunc
    or matmul whose result, of ``shape`` and ``dtype``, is a new array (also ``{}`` for an
    array smaller than the arena's ``min_bytes``)."""
    arena = _arena.get()
    if arena is None or xp is not np:
        return {}
    shape = tuple(shape)
    if math.prod(shape) * np.dtype(dtype).itemsize < arena.min_bytes:
        return {}
    return {"out": arena.take(shape, dtype)}
