"""Benchmark: one full-batch training step (forward, backward, update) per network.

Ours (the ``vectorized`` style, float32 and float64) against PyTorch on the CPU and JAX
jit doing the same step, in one process, interleaved, as the median of repeats; the
achieved GFLOP/s against this machine's matmul peak measured in the same run; and the
per-example cost of the ``loop`` style. torch is installed by ``nox -s bench`` only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from oracles.jax_oracle import independent_loss
from reference_nn import NETWORKS, network, vectorized
from reference_nn import loop as loop_style
from reference_nn.gpu import gpu_unavailable_reason

Step = Callable[[], None]


def step_flops(sizes: tuple[int, ...], m: int) -> float:
    """Matmul FLOPs of one step: forward 2 m n_k n_{k-1} per layer; backward 2 m n_k n_{k-1}
    for dW_k and again for dA_{k-1} (not needed for the input layer)."""
    products = [sizes[k] * sizes[k - 1] for k in range(1, len(sizes))]
    return 2.0 * m * (3 * sum(products) - products[0])


def matmul_peak(dtype: type, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype``, best of ``repeats``."""
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ours(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """Our vectorised step, updating parameters in place."""
    net = network(name)
    params = {k: v.astype(dtype) for k, v in net.init_params(0).items()}
    Xd = X.astype(dtype)
    lr = NETWORKS[name].training.learning_rate

    def step() -> None:
        _, grads, _ = vectorized.loss_and_gradients(params, Xd, y, net.recipe)
        for key, g in grads.items():
            params[key] -= lr * g

    return step


def torch_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """The same step with torch autograd on the CPU."""
    torch = importlib.import_module("torch")
    spec = NETWORKS[name]
    tdtype = getattr(torch, dtype)
    init = network(name).init_params(0)
    params = [torch.tensor(init[k], dtype=tdtype, requires_grad=True) for k in spec.parameter_names]
    Xt, yt = torch.tensor(X, dtype=tdtype), torch.tensor(y, dtype=torch.long)
    act = torch.relu if spec.hidden_activation == "relu" else torch.sigmoid
    lr = spec.training.learning_rate

    def step() -> None:
        A = Xt
        for k in range(spec.num_layers):
            Z = params[2 * k] @ A + params[2 * k + 1]
            A = act(Z) if k < spec.num_layers - 1 else Z
        loss = torch.nn.functional.cross_entropy(A.T, yt)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * g

    return step


def jax_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """The same step as one jax.jit of value_and_grad and the update."""
    jax = importlib.import_module("jax")
    jnp = importlib.import_module("jax.numpy")
    net = network(name)
    loss = independent_loss(net)  # the audit's own jax.nn formulation; enables float64
    state = {"p": {k: jnp.asarray(v, dtype=dtype) for k, v in net.init_params(0).items()}}
    Xj, yj = jnp.asarray(X, dtype=dtype), jnp.asarray(y)
    lr = NETWORKS[name].training.learning_rate

    @jax.jit
    def update(p: dict[str, Any]) -> dict[str, Any]:
        grads = jax.grad(loss)(p, Xj, yj)
        return {k: p[k] - lr * grads[k] for k in p}

    def step() -> None:
        state["p"] = update(state["p"])
        jax.block_until_ready(state["p"])

    step()  # compile outside the timing
    return step


def _loop_seconds_per_example(name: str, X: np.ndarray, y: np.ndarray) -> float:
    net = network(name, style="loop")
    params = net.init_params(0)
    runs = [
        _timed(lambda: loop_style.loss_and_gradients(params, X, y, net.recipe)) for _ in range(3)
    ]
    return statistics.median(runs) / X.shape[1]


def main() -> None:
    """Write reports/bench/steps.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10000, help="m, columns per step")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="reports/bench")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    m = args.examples
    X = rng.random((784, m))
    y = rng.integers(0, 10, m)
    peaks = {d: matmul_peak(getattr(np, d)) for d in ("float32", "float64")}
    gpu_reason = gpu_unavailable_reason()
    rows = []
    for name in NETWORKS:
        for dtype in ("float32", "float64"):
            steps = {"ours": ours(name, X, y, dtype)}
            for label, make in (("torch", torch_step), ("jax_jit", jax_step)):
                try:
                    steps[label] = make(name, X, y, dtype)
                except ImportError as exc:
                    print(f"{label} unavailable: {exc}")
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.repeats):
                for label, step in steps.items():
                    times[label].append(_timed(step))
            medians = {k: statistics.median(v) for k, v in times.items()}
            peers = [v for k, v in medians.items() if k != "ours"]
            flops = step_flops(NETWORKS[name].sizes, m)
            row = {
                "network": name,
                "dtype": dtype,
                "examples": m,
                **{f"{k}_seconds": v for k, v in medians.items()},
                "ours_over_fastest_peer": medians["ours"] / min(peers) if peers else None,
                "ours_gflops": flops / medians["ours"] / 1e9,
                "matmul_peak_gflops": peaks[dtype],
            }
            rows.append(row)
            print(row, flush=True)
        per_example = _loop_seconds_per_example(name, X[:, :64], y[:64])
        for row in rows:
            if row["network"] == name:
                row["loop_seconds_per_example"] = per_example
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "matmul_peak_gflops": peaks,
            "gpu": gpu_reason or "present"}  # fmt: skip
    (out / "steps.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [
        f"# One full-batch training step, m = {m} (median of {args.repeats}, interleaved)",
        "",
        f"Matmul peak here: {peaks['float32']:.0f} GFLOP/s float32, "
        f"{peaks['float64']:.0f} GFLOP/s float64.",
        f"GPU columns: {'empty: ' + gpu_reason if gpu_reason else 'see --gpu'}.",
        "",
        "| network | dtype | ours s | torch s | jax jit s | ours / fastest | ours GFLOP/s "
        "| loop s per example |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["ours_over_fastest_peer"]
        lines.append(
            f"| {r['network']} | {r['dtype']} | {r['ours_seconds']:.4f} "
            f"| {r.get('torch_seconds', float('nan')):.4f} "
            f"| {r.get('jax_jit_seconds', float('nan')):.4f} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} | {r['ours_gflops']:.1f} "
            f"| {r['loop_seconds_per_example']:.2e} |"
        )
    (out / "steps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
