"""Benchmark: what checking a network as written costs by array kind.

The same right ReLU network of document 000's shape (784-500-150-10, 64 examples as columns),
written once over an array module (``tests.array_networks.network``), is checked by
``oracles.check_gradients`` with NumPy parameters, jax.numpy ones (on JAX's default device)
and CuPy ones (when a CUDA device is present): seconds per check (median of 5, in one
process, side by side) and the arrays and values read back from the device.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from oracles import check_gradients
from oracles._engine.optional import missing
from tests.array_networks import network, problem

SIZES = (784, 500, 150, 10)
EXAMPLES = 64


def _modules() -> dict[str, Any]:
    """The array modules this machine runs: numpy always, jax and cupy where they work."""
    out: dict[str, Any] = {"numpy": np}
    if missing("jax") is None:
        import jax

        jax.config.update("jax_enable_x64", True)
        out[f"jax ({jax.default_backend()})"] = jax.numpy
    from reference_nn.gpu import gpu_unavailable_reason

    if gpu_unavailable_reason() is None:
        import cupy

        out["cupy"] = cupy
    return out


def run(repeats: int = 5) -> list[dict[str, Any]]:
    """One row per array module: median seconds per check, transfers, passed."""
    params, X, Y = problem(SIZES, EXAMPLES)
    rows = []
    for name, xp in _modules().items():
        p = {k: xp.asarray(v) for k, v in params.items()}
        loss = network(xp, xp.asarray(X), xp.asarray(Y))
        check_gradients(loss, None, p)  # warm: compilation, allocations
        times, report = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            report = check_gradients(loss, None, p)
            times.append(time.perf_counter() - start)
        assert report is not None
        rows.append({"arrays": name, "seconds": statistics.median(times), "passed": report.passed,
                     "transfers": report.transfers})  # fmt: skip
    return rows


def main() -> None:
    """Print the table and write reports/bench/kinds.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kinds")
    parser.add_argument("--out", default="reports/bench/kinds.json")
    args = parser.parse_args()
    rows = run()
    base = rows[0]["seconds"]
    print("| arrays | seconds per check | vs numpy | read back | passed |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arrays']} | {r['seconds']:.3f} | {r['seconds'] / base:.2f}x | "
              f"{r['transfers']} | {r['passed']} |")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
