"""Benchmark: ``train()`` in a fresh process, with and without ``keep_freed_memory()``.

The command line (``python -m reference_nn``) keeps the memory NumPy frees in the process
(reference_nn/allocator.py); a fresh process is where that shows, since what else a process
ran (the other libraries in steps.py) moves glibc's thresholds too. For each network and
dtype, pairs of fresh processes (one each way, the order alternating) time the same
``train()`` steps; the table gives the median time a step and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from reference_nn import NETWORKS, network
from reference_nn.allocator import keep_freed_memory
from reference_nn.training import train


def child(name: str, dtype: str, iterations: int, m: int, keep: bool) -> float:
    """Seconds a step of ``train()`` takes in this process (after 3 untimed steps)."""
    if keep and not keep_freed_memory():
        raise RuntimeError("keep_freed_memory() did not apply: not glibc")
    rng = np.random.default_rng(0)
    X, y = rng.random((784, m)).astype(dtype), rng.integers(0, 10, m)
    net = network(name)
    params = {k: v.astype(dtype) for k, v in net.init_params(0).items()}
    train(net, params, X, y, iterations=3, log_every=iterations + 3)
    started = time.perf_counter()
    train(net, params, X, y, iterations=iterations, log_every=iterations + 1)
    return (time.perf_counter() - started) / iterations


def _in_fresh_process(name: str, dtype: str, iterations: int, m: int, keep: bool) -> float:
    command = [sys.executable, __file__, "--child", name, dtype, str(iterations), str(m)]
    done = subprocess.run(command + (["--keep"] if keep else []), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Write reports/bench/allocator.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=4, metavar=("NAME", "DTYPE", "ITERATIONS", "M"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--pairs", type=int, default=3, help="pairs of fresh processes")
    parser.add_argument("--seconds", type=float, default=1.0, help="of timed steps a process")
    parser.add_argument("--examples", type=int, default=10000, help="m, columns per step")
    parser.add_argument("--out", default="reports/bench")
    args = parser.parse_args()
    if args.child:
        name, dtype, iterations, m = args.child
        print(child(name, dtype, int(iterations), int(m), args.keep))
        return
    rows = []
    for name in NETWORKS:
        for dtype in ("float32", "float64"):
            probe = _in_fresh_process(name, dtype, 3, args.examples, keep=True)
            iterations = max(3, round(args.seconds / probe))
            times: dict[bool, list[float]] = {False: [], True: []}
            for pair in range(args.pairs):
                for keep in (pair % 2 == 0, pair % 2 == 1):
                    times[keep].append(
                        _in_fresh_process(name, dtype, iterations, args.examples, keep)
                    )
            without, kept = statistics.median(times[False]), statistics.median(times[True])
            rows.append(
                {"network": name, "dtype": dtype, "iterations": iterations,
                 "without_seconds": times[False], "kept_seconds": times[True],
                 "kept_over_without": kept / without}
            )  # fmt: skip
            print(rows[-1], flush=True)
    lines = [
        f"# train() in a fresh process, m = {args.examples}: a step with the memory NumPy "
        f"frees handed back to the system (glibc's default) or kept (keep_freed_memory); "
        f"medians of {args.pairs} processes each",
        "",
        "| network | dtype | handed back ms | kept ms | kept / handed back |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        without, kept = (statistics.median(r[k]) * 1e3 for k in ("without_seconds", "kept_seconds"))
        lines.append(
            f"| {r['network']} | {r['dtype']} | {without:.1f} | {kept:.1f} "
            f"| {r['kept_over_without']:.2f} |"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "allocator.json").write_text(json.dumps(rows, indent=1))
    (out / "allocator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
