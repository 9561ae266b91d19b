"""MNIST in the shape ``keras.datasets.mnist.load_data()`` returns, verified byte for byte.

``load_mnist`` reads the four standard IDX files (raw or ``.gz``) from, in order,
the ``directory`` argument, ``$MNIST_DIR``, or a per-user cache; when none holds
them it downloads them from public mirrors into the cache, verifying each file
before it is moved into place. The other two formats the documents use, Keras's
``mnist.npz`` and the Kaggle ``digit-recognizer`` CSV, are read with the same checks.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_nn.download import download_verified
from reference_nn.idx import IdxFile, MnistFormatError, idx_header, parse_idx, read_idx

__all__ = [
    "MIRRORS",
    "MNIST_FILES",
    "MnistFormatError",
    "default_cache_dir",
    "load_kaggle_csv",
    "load_mnist",
    "load_mnist_npz",
]

Images = NDArray[np.uint8]
Labels = NDArray[np.uint8]
Split = tuple[Images, Labels, Images, Labels]

# SHA-256 of the decompressed bytes: the same across mirrors and re-compressions.
MNIST_FILES: dict[str, IdxFile] = {
    "x_train": IdxFile(
        "train-images-idx3-ubyte",
        (60000, 28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "y_train": IdxFile(
        "train-labels-idx1-ubyte",
        (60000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "x_test": IdxFile(
        "t10k-images-idx3-ubyte",
        (10000, 28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "y_test": IdxFile(
        "t10k-labels-idx1-ubyte",
        (10000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

NUM_CLASSES = 10
PIXELS = 28 * 28


def default_cache_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/reference_nn/mnist``, ``~/.cache`` by default."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reference_nn" / "mnist"


def _local_files_advice(cache: Path) -> str:
    """What to do when MNIST is neither in ``cache`` nor to be had from a mirror."""
    names = ", ".join(spec.name for spec in MNIST_FILES.values())
    return (
        f"MNIST is not in {cache} and could not be downloaded. Point the loader at a folder "
        f"holding the four IDX files ({names}; .gz or raw): set MNIST_DIR to it, or pass "
        "--mnist-dir to the commands (python -m reference_nn train or reproduce, "
        "python -m oracles.audit)."
    )


def _find(directory: Path, spec: IdxFile) -> Path | None:
    for name in (spec.name + ".gz", spec.name):
        if (directory / name).is_file():
            return directory / name
    return None


def _holds_all(directory: Path) -> bool:
    return all(_find(directory, spec) is not None for spec in MNIST_FILES.values())


def _check_labels(labels: NDArray[Any], label: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise MnistFormatError(
            f"{label}: labels must lie in 0..{NUM_CLASSES - 1}, found "
            f"{int(labels.min())}..{int(labels.max())}"
        )


def _check_pair(images: Images, labels: Labels, label: str) -> None:
    if images.shape[0] != labels.shape[0]:
        raise MnistFormatError(
            f"{label}: count mismatch, {images.shape[0]} images but {labels.shape[0]} labels"
        )
    _check_labels(labels, label)


def _read_directory(directory: Path) -> Split:
    arrays = {}
    for key, spec in MNIST_FILES.items():
        path = _find(directory, spec)
        if path is None:
            raise FileNotFoundError(f"{directory}: no {spec.name}(.gz)")
        arrays[key] = read_idx(path, spec)
    _check_pair(arrays["x_train"], arrays["y_train"], "train split")
    _check_pair(arrays["x_test"], arrays["y_test"], "test split")
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def load_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] = MIRRORS,
    progress: bool = True,
) -> Split:
    """Load MNIST as ``(x_train, y_train, x_test, y_test)``, verified.

    Shapes: ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,) uint8,
    ``x_test`` (10000, 28, 28) uint8, ``y_test`` (10000,) uint8.

    Looks in ``directory``, else ``$MNIST_DIR``, else ``cache_dir`` (default
    :func:`default_cache_dir`); the first that holds all four files is read, and a
    bad file there raises :class:`MnistFormatError` rather than falling back.
    When none holds them, the missing files are downloaded from ``mirrors`` (in
    order) into the cache and verified before they are moved into place. When no
    mirror gives a verified copy, :class:`reference_nn.download.DownloadError` names
    the mirrors tried and how to point the loader at local files instead.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    candidates = [Path(d) for d in (directory, os.environ.get("MNIST_DIR")) if d]
    for folder in candidates:
        if _holds_all(folder):
            return _read_directory(folder)
        warnings.warn(
            f"{folder} does not hold the four MNIST IDX files; using the cache {cache}",
            stacklevel=2,
        )
    for spec in MNIST_FILES.values():
        if _find(cache, spec) is None:
            download_verified(
                spec.name + ".gz",
                mirrors,
                cache / (spec.name + ".gz"),
                partial(read_idx, expected=spec),
                progress=progress,
                advice=_local_files_advice(cache),
            )
    return _read_directory(cache)


def load_mnist_npz(path: str | os.PathLike[str], *, verify: bool = True) -> Split:
    """Load Keras's ``mnist.npz`` as ``(x_train, y_train, x_test, y_test)``, shapes as load_mnist.

    With ``verify`` each array must also hash, as an IDX file, to the canonical MNIST.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            missing = [key for key in MNIST_FILES if key not in npz.files]
            if missing:
                raise MnistFormatError(f"{path.name}: missing arrays {missing}")
            arrays = {key: npz[key] for key in MNIST_FILES}
    except MnistFormatError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MnistFormatError(f"{path.name}: not a readable .npz file ({exc})") from exc
    for key, spec in MNIST_FILES.items():
        array = arrays[key]
        label = f"{path.name}[{key}]"
        if array.shape != spec.shape or array.dtype != np.uint8:
            raise MnistFormatError(
                f"{label}: shape {array.shape} dtype {array.dtype}, expected {spec.shape} uint8"
            )
        if verify:
            parse_idx(idx_header(spec.shape) + array.tobytes(), spec, label=label)
    _check_pair(arrays["x_train"], arrays["y_train"], f"{path.name} train split")
    _check_pair(arrays["x_test"], arrays["y_test"], f"{path.name} test split")
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def load_kaggle_csv(path: str | os.PathLike[str]) -> tuple[Images, Labels | None]:
    """Load a Kaggle ``digit-recognizer`` CSV as ``(images, labels)``.

    ``images`` has shape (n, 28, 28) uint8; ``labels`` shape (n,) uint8, or None for a
    test CSV, whose header has only ``pixel0..pixel783``.
    """
    path = Path(path)
    with path.open() as handle:
        header = handle.readline().strip().split(",")
    pixels = [f"pixel{i}" for i in range(PIXELS)]
    if header == ["label", *pixels]:
        has_labels = True
    elif header == pixels:
        has_labels = False
    else:
        raise MnistFormatError(
            f"{path.name}: header must be 'label,pixel0,...,pixel783' or 'pixel0,...,pixel783', "
            f"got {len(header)} columns starting {header[:3]}"
        )
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise MnistFormatError(f"{path.name}: malformed row ({exc})") from exc
    if table.shape[1] != len(header):
        raise MnistFormatError(
            f"{path.name}: rows have {table.shape[1]} columns, header has {len(header)}"
        )
    if not np.all(np.isfinite(table)) or np.any(table != np.round(table)):
        raise MnistFormatError(f"{path.name}: every value must be a whole number")
    values = table[:, 1:] if has_labels else table
    if values.size and (values.min() < 0 or values.max() > 255):
        raise MnistFormatError(
            f"{path.name}: pixel values must lie in 0..255, found "
            f"{values.min():g}..{values.max():g}"
        )
    images = values.astype(np.uint8).reshape(-1, 28, 28)
    if not has_labels:
        return images, None
    labels_raw = table[:, 0]
    _check_labels(labels_raw, path.name)
    return images, labels_raw.astype(np.uint8)
