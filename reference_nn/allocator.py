"""Keeping the memory NumPy frees inside the process, for the next training step."""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Ask glibc's malloc to serve arrays of up to ``mmap_threshold`` bytes from its heap and
    to keep up to ``trim_threshold`` bytes of freed heap rather than hand them back to the
    system. A training step frees and asks again for the same arrays each step; handed back,
    each comes back page by page, one page fault every 4 KiB. Changes no value computed,
    only where memory comes from, for the whole process: for a program's entry point, not
    a library function. True where applied (glibc), False elsewhere (nothing changes)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
