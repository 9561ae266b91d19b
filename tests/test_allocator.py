"""keep_freed_memory(): applied where the C library is glibc, a clean no-op elsewhere, and no
value computed after it changes."""

from __future__ import annotations

import ctypes.util
import platform
import subprocess
import sys

import numpy as np
import pytest

from reference_nn import allocator


def test_keep_freed_memory_applies_on_glibc_and_changes_no_training_step(tmp_path) -> None:
    # In a child process: the setting is process-wide, and this one is shared with others.
    script = (
        "import numpy as np\n"
        "from reference_nn import network\n"
        "from reference_nn.allocator import keep_freed_memory\n"
        "from reference_nn.training import train\n"
        "import sys\n"
        "net = network('sigmoid_16_16')\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.random((784, 300)), rng.integers(0, 10, 300)\n"
        "applied = keep_freed_memory() if sys.argv[1] == 'keep' else None\n"
        "out = train(net, net.init_params(0), X, y, iterations=4, log_every=1)\n"
        "np.save(sys.argv[2], np.concatenate([v.ravel() for v in out.params.values()]))\n"
        "print(applied)\n"
    )
    results = {}
    for how in ("keep", "default"):
        path = str(tmp_path / f"{how}.npy")
        done = subprocess.run(
            [sys.executable, "-c", script, how, path], capture_output=True, text=True, check=True
        )
        results[how] = (done.stdout.strip(), np.load(path))
    glibc = platform.libc_ver()[0] == "glibc"
    assert results["keep"][0] == str(glibc)
    np.testing.assert_array_equal(results["keep"][1], results["default"][1])


def test_keep_freed_memory_is_a_no_op_without_a_c_library(monkeypatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert allocator.keep_freed_memory() is False


def test_keep_freed_memory_is_a_no_op_where_the_library_has_no_mallopt(monkeypatch) -> None:
    class NoMallopt:
        def __init__(self, name: str) -> None:
            del name

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc.so.6")
    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    with pytest.raises(AttributeError):
        NoMallopt("x").mallopt  # noqa: B018 - the stand-in has none, as musl's libc
    assert allocator.keep_freed_memory() is False
