"""Parse and verify MNIST's IDX files, gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the payload. MNIST uses
type code 0x08 (unsigned byte). Every check raises :class:`MnistFormatError`
naming the file and what is wrong; no partially checked array is ever returned.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

UBYTE_TYPE_CODE = 0x08


class MnistFormatError(ValueError):
    """A data file is truncated, malformed, or does not hash to the canonical MNIST."""


@dataclass(frozen=True)
class IdxFile:
    """What one canonical IDX file must be: its name, shape and SHA-256 of the raw bytes."""

    name: str
    shape: tuple[int, ...]
    sha256: str

    @property
    def payload_bytes(self) -> int:
        """Bytes after the header: one per pixel or label."""
        return int(np.prod(self.shape))

    @property
    def magic(self) -> int:
        """The magic number this file must start with."""
        return (UBYTE_TYPE_CODE << 8) | len(self.shape)


def idx_header(shape: tuple[int, ...]) -> bytes:
    """The IDX header (magic number, then dimensions) of a uint8 array of ``shape``."""
    magic = (UBYTE_TYPE_CODE << 8) | len(shape)
    return b"".join(int(v).to_bytes(4, "big") for v in (magic, *shape))


def read_raw_bytes(path: Path) -> bytes:
    """The decompressed content of ``path`` (gunzipped when it ends in ``.gz``)."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise MnistFormatError(f"{path.name}: truncated gzip stream ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise MnistFormatError(f"{path.name}: not a valid gzip file ({exc})") from exc


def parse_idx(raw: bytes, expected: IdxFile, *, label: str) -> NDArray[np.uint8]:
    """Check ``raw`` against ``expected`` and return its payload as an array of ``expected.shape``.

    ``label`` names the file in error messages. Checks, in order: header length,
    magic number, dimensions, payload length, SHA-256 of the whole decompressed file.
    """
    ndim = len(expected.shape)
    header_len = 4 * (1 + ndim)
    if len(raw) < 4:
        raise MnistFormatError(f"{label}: file too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected.magic:
        raise MnistFormatError(
            f"{label}: bad magic number 0x{magic:08x}, expected 0x{expected.magic:08x} "
            f"(unsigned bytes, {ndim} dimensions)"
        )
    if len(raw) < header_len:
        raise MnistFormatError(f"{label}: header cut short ({len(raw)} of {header_len} bytes)")
    dims = tuple(int.from_bytes(raw[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(ndim))
    if dims != expected.shape:
        raise MnistFormatError(
            f"{label}: dimensions {dims} in the header, expected {expected.shape} "
            f"(count mismatch: {dims[0]} items instead of {expected.shape[0]})"
        )
    payload = len(raw) - header_len
    if payload < expected.payload_bytes:
        raise MnistFormatError(
            f"{label}: short payload, {payload} bytes where the header promises "
            f"{expected.payload_bytes}"
        )
    if payload > expected.payload_bytes:
        raise MnistFormatError(
            f"{label}: {payload - expected.payload_bytes} trailing bytes after the "
            f"{expected.payload_bytes}-byte payload"
        )
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected.sha256:
        raise MnistFormatError(
            f"{label}: checksum mismatch, SHA-256 of the decompressed bytes is {digest}, "
            f"expected {expected.sha256}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(expected.shape).copy()


def read_idx(path: Path, expected: IdxFile) -> NDArray[np.uint8]:
    """Read and verify one IDX file (raw or ``.gz``); returns an array of ``expected.shape``."""
    return parse_idx(read_raw_bytes(path), expected, label=path.name)
