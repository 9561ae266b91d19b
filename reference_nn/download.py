"""Fetch a file from a list of mirrors, verify it, and only then move it into place.

The bytes go to a temporary file beside the destination; the caller's ``verify``
runs on that file; only a verified file is renamed into place (an atomic rename on
one filesystem). A failed, corrupt or interrupted download leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
    """No mirror gave a file that passed verification."""


def _stream_to(url: str, handle: object, *, timeout: float, progress: bool) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        with tqdm(
            total=int(total) if total else None,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            disable=not progress,
            leave=False,
        ) as bar:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)  # type: ignore[attr-defined]
                bar.update(len(chunk))


def download_verified(
    filename: str,
    mirrors: Sequence[str],
    destination: Path,
    verify: Callable[[Path], object],
    *,
    timeout: float = 60.0,
    progress: bool = True,
    advice: str = "",
) -> Path:
    """Download ``filename`` from the first mirror whose copy passes ``verify``; return its path.

    ``mirrors`` are base URLs (``filename`` is appended); ``verify(path)`` raises on a bad
    file. ``destination`` is the final path, written only after verification. When no mirror
    gives a verified copy, DownloadError names each mirror tried and why, then ``advice``.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{destination.name}.",
            suffix=f".part{destination.suffix}",
            dir=destination.parent,
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                _stream_to(url, handle, timeout=timeout, progress=progress)
            verify(tmp)
            os.replace(tmp, destination)
            return destination
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadError(
        f"could not get a verified copy of {filename}; tried:\n  "
        + "\n  ".join(failures)
        + (f"\n{advice}" if advice else "")
    )
