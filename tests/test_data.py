"""The MNIST loader: the shared files verify, every corruption is named, downloads are atomic."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reference_nn.data import (
    MNIST_FILES,
    MnistFormatError,
    load_kaggle_csv,
    load_mnist,
    load_mnist_npz,
)
from reference_nn.download import DownloadError
from reference_nn.idx import idx_header, read_idx
from tests.helpers import (
    MNIST_UNAVAILABLE,
    mnist_dir,
    mnist_required,
    mnist_unavailable_reason,
)

LABELS = MNIST_FILES["y_test"]  # the smallest file: 10,008 bytes


@pytest.fixture(scope="module")
def shared() -> Path:
    return mnist_dir()


@pytest.fixture
def label_bytes(shared: Path) -> bytes:
    return gzip.decompress((shared / (LABELS.name + ".gz")).read_bytes())


def write_gz(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.mark.mnist
def test_shared_files_load_with_keras_shapes_and_canonical_statistics(shared: Path) -> None:
    x_train, y_train, x_test, y_test = load_mnist(shared)
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == (
        (60000, 28, 28),
        (60000,),
        (10000, 28, 28),
        (10000,),
    )
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    np.testing.assert_allclose((x_train / 255).mean(), 0.13066, atol=1e-5)
    np.testing.assert_allclose((x_train / 255).std(), 0.30811, atol=1e-5)
    np.testing.assert_array_equal(
        np.bincount(y_train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )


@pytest.mark.mnist
def test_shared_files_hash_to_the_documented_digests(shared: Path) -> None:
    for spec in MNIST_FILES.values():
        raw = gzip.decompress((shared / (spec.name + ".gz")).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == spec.sha256


@pytest.mark.mnist
def test_raw_and_gzipped_files_read_the_same(tmp_path: Path, label_bytes: bytes) -> None:
    raw = tmp_path / LABELS.name
    raw.write_bytes(label_bytes)
    gz = write_gz(tmp_path / (LABELS.name + ".gz"), label_bytes)
    np.testing.assert_array_equal(read_idx(raw, LABELS), read_idx(gz, LABELS))


@pytest.mark.mnist
@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda raw: gzip.compress(raw)[:-100], "truncated gzip stream"),
        (lambda raw: b"not gzip at all" * 10, "not a valid gzip file"),
        (lambda raw: gzip.compress(b"\x00\x00\x08\x03" + raw[4:]), "bad magic number 0x00000803"),
        (lambda raw: gzip.compress(raw[:-10]), "short payload, 9990 bytes"),
        (lambda raw: gzip.compress(raw + b"\x00"), "1 trailing bytes"),
        (
            lambda raw: gzip.compress(idx_header((9999,)) + raw[8:-1]),
            "count mismatch: 9999 items instead of 10000",
        ),
        (lambda raw: gzip.compress(raw[:-1] + bytes([(raw[-1] + 1) % 10])), "checksum mismatch"),
        (lambda raw: b"", "not a valid gzip file|file too short"),
    ],
    ids=["truncated", "not-gzip", "bad-magic", "short", "trailing", "count", "checksum", "empty"],
)
def test_each_corruption_is_rejected_with_a_message_naming_file_and_problem(
    tmp_path: Path, label_bytes: bytes, corrupt, message: str
) -> None:
    path = tmp_path / (LABELS.name + ".gz")
    path.write_bytes(corrupt(label_bytes))
    with pytest.raises(MnistFormatError, match=message) as info:
        read_idx(path, LABELS)
    assert LABELS.name in str(info.value)


@pytest.mark.mnist
def test_a_folder_with_a_corrupt_file_raises_rather_than_falling_back(
    tmp_path: Path, shared: Path, label_bytes: bytes
) -> None:
    for spec in MNIST_FILES.values():
        shutil.copy(shared / (spec.name + ".gz"), tmp_path)
    write_gz(tmp_path / (LABELS.name + ".gz"), label_bytes[:-1] + b"\x07")
    with pytest.raises(MnistFormatError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch"):
        load_mnist(tmp_path, cache_dir=tmp_path / "cache", mirrors=())


def test_a_label_pair_of_unequal_counts_is_rejected(tmp_path: Path) -> None:
    from reference_nn.data import _check_pair

    with pytest.raises(MnistFormatError, match="count mismatch, 3 images but 2 labels"):
        _check_pair(np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8), "split")


# -- downloads, for real, from an HTTP server on 127.0.0.1 -------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start HTTP servers on 127.0.0.1, each serving a folder; yields a function folder -> URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        handler = lambda *a, **k: _QuietHandler(*a, directory=str(folder), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _mirror(root: Path, shared: Path, name: str, damage=None) -> Path:
    folder = root / name
    folder.mkdir()
    for spec in MNIST_FILES.values():
        data = (shared / (spec.name + ".gz")).read_bytes()
        if damage is not None and spec is LABELS:
            data = damage(data)
        (folder / (spec.name + ".gz")).write_bytes(data)
    return folder


def _left_in(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


@pytest.mark.mnist
def test_download_from_a_good_mirror_verifies_and_fills_the_cache(
    tmp_path: Path, shared: Path, serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNIST_DIR", raising=False)
    url = serve(_mirror(tmp_path, shared, "good"))
    cache = tmp_path / "cache"
    x_train, _, _, y_test = load_mnist(cache_dir=cache, mirrors=[url], progress=False)
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    assert _left_in(cache) == sorted(spec.name + ".gz" for spec in MNIST_FILES.values())


@pytest.mark.parametrize(
    "damage",
    [lambda d: d[: len(d) // 2], lambda d: gzip.compress(gzip.decompress(d)[:-1] + b"\x03")],
    ids=["truncated", "corrupt"],
)
@pytest.mark.mnist
def test_a_bad_first_mirror_falls_back_to_the_second_and_leaves_no_partial_file(
    tmp_path: Path, shared: Path, serve, damage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNIST_DIR", raising=False)
    bad = serve(_mirror(tmp_path, shared, "bad", damage))
    good = serve(_mirror(tmp_path, shared, "good"))
    cache = tmp_path / "cache"
    load_mnist(cache_dir=cache, mirrors=[bad, good], progress=False)
    assert _left_in(cache) == sorted(spec.name + ".gz" for spec in MNIST_FILES.values())
    expected = gzip.decompress((shared / (LABELS.name + ".gz")).read_bytes())
    assert gzip.decompress((cache / (LABELS.name + ".gz")).read_bytes()) == expected


@pytest.mark.mnist
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "truncated gzip stream"),
        (lambda d: gzip.compress(gzip.decompress(d)[:-1] + b"\x03"), "checksum mismatch"),
    ],
    ids=["truncated", "corrupt"],
)
def test_when_every_mirror_is_bad_the_error_names_each_and_nothing_is_cached(
    tmp_path: Path, shared: Path, serve, damage, message: str
) -> None:
    first = serve(_mirror(tmp_path, shared, "bad1", damage))
    second = serve(_mirror(tmp_path, shared, "bad2", damage))
    cache = tmp_path / "cache"
    from reference_nn.download import download_verified

    with pytest.raises(DownloadError, match=message) as info:
        download_verified(
            LABELS.name + ".gz",
            [first, second],
            cache / (LABELS.name + ".gz"),
            lambda path: read_idx(path, LABELS),
            progress=False,
        )
    assert first in str(info.value) and second in str(info.value)
    assert _left_in(cache) == []


def _nothing_listens() -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused, as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.mark.parametrize("mirror", ["missing-file", "unreachable"])
def test_without_a_mirror_the_error_names_it_and_local_files_once_and_leaves_nothing(
    tmp_path: Path, serve, monkeypatch: pytest.MonkeyPatch, mirror: str
) -> None:
    monkeypatch.delenv("MNIST_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    url = serve(empty) if mirror == "missing-file" else _nothing_listens()
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="404" if mirror == "missing-file" else "refused") as e:
        load_mnist(cache_dir=cache, mirrors=[url, url + "again/"], progress=False)
    message = str(e.value)
    first = MNIST_FILES["x_train"].name + ".gz"
    # Each mirror once, for the first file only (the loader stops there); the way to local
    # files once.
    assert message.count(url + first) == 1 and message.count(url + "again/" + first) == 1
    assert message.count(".gz: ") == 2
    assert message.count("MNIST_DIR") == 1 and message.count("--mnist-dir") == 1
    assert _left_in(cache) == []


@pytest.mark.mnist
def test_a_folder_without_the_files_warns_and_uses_the_cache(
    tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.warns(UserWarning, match="nowhere does not hold the four MNIST IDX files"):
        x_train, *_ = load_mnist(cache_dir=shared, mirrors=())
    assert x_train.shape == (60000, 28, 28)


# -- the other two formats ---------------------------------------------------------------------


@pytest.mark.mnist
def test_npz_round_trip_verifies_against_the_canonical_hashes(tmp_path: Path, shared: Path) -> None:
    x_train, y_train, x_test, y_test = load_mnist(shared)
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    for got, want in zip(load_mnist_npz(path), (x_train, y_train, x_test, y_test), strict=True):
        np.testing.assert_array_equal(got, want)
    y_bad = y_test.copy()
    y_bad[0] = (y_bad[0] + 1) % 10
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_bad)
    with pytest.raises(MnistFormatError, match=r"mnist.npz\[y_test\]: checksum mismatch"):
        load_mnist_npz(path)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test[:-1], y_test=y_test)
    with pytest.raises(MnistFormatError, match=r"x_test\]: shape \(9999, 28, 28\)"):
        load_mnist_npz(path)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test)
    with pytest.raises(MnistFormatError, match=r"missing arrays \['y_test'\]"):
        load_mnist_npz(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(MnistFormatError, match=r"not a readable \.npz"):
        load_mnist_npz(path)


def _csv(path: Path, rows: np.ndarray, labelled: bool = True) -> Path:
    header = ([] if not labelled else ["label"]) + [f"pixel{i}" for i in range(784)]
    lines = [",".join(header)] + [",".join(str(int(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kaggle_csv_with_and_without_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 784))
    labels = np.array([3, 0, 9, 1, 7])
    images, got = load_kaggle_csv(_csv(tmp_path / "train.csv", np.column_stack([labels, pixels])))
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(5, -1), pixels)
    assert got is not None
    np.testing.assert_array_equal(got, labels)
    images, none = load_kaggle_csv(_csv(tmp_path / "test.csv", pixels, labelled=False))
    assert none is None and images.shape == (5, 28, 28)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("label,", "digit,", 1), "header must be"),
        (lambda t: t.replace("\n3,", "\n12,", 1), r"labels must lie in 0\.\.9, found 1\.\.12"),
        (lambda t: t.replace("\n3,", "\n3,300,", 1), "rows have 786 columns|malformed row"),
        (lambda t: t.replace("\n3,0,", "\n3,-4,", 1), "pixel values must lie in 0..255"),
        (lambda t: t.replace("\n3,0,", "\n3,0.5,", 1), "whole number"),
        (lambda t: t.replace("\n3,0,", "\n3,nan,", 1), "whole number"),
    ],
    ids=["header", "label-range", "width", "pixel-range", "fraction", "nan"],
)
def test_kaggle_csv_bad_content_is_named(tmp_path: Path, edit, message: str) -> None:
    rows = np.column_stack([[3, 1], np.zeros((2, 784), dtype=int)])
    path = _csv(tmp_path / "train.csv", rows)
    path.write_text(edit(path.read_text()))
    with pytest.raises(MnistFormatError, match=message):
        load_kaggle_csv(path)


# -- the tests' own gate: whether the tests that need MNIST run, skip or fail -------------------


@pytest.mark.parametrize(
    ("ci", "require", "required"),
    [(None, None, False), ("true", None, True), ("true", "0", False), (None, "1", True)],
)
def test_ci_or_require_mnist_forbids_skipping_the_mnist_tests(
    monkeypatch: pytest.MonkeyPatch, ci, require, required: bool
) -> None:
    for name, value in (("CI", ci), ("REQUIRE_MNIST", require)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert mnist_required() is required


def test_a_mnist_dir_without_the_files_is_the_reason_and_nothing_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reason = mnist_unavailable_reason.__wrapped__()  # not the session's cached decision
    assert reason is not None and reason.startswith(MNIST_UNAVAILABLE)
    assert f"MNIST_DIR={tmp_path} does not hold them" in reason
    assert not (tmp_path / "cache").exists()
