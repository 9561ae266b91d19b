"""Benchmark: one full-batch training step (forward, backward, update) per network.

Ours (the ``vectorized`` style, float32 and float64) against PyTorch on the CPU and JAX
jit doing the same step, in one process, interleaved (each turn once the previous library's
threads have parked), as the median of repeats; the achieved GFLOP/s against this machine's
matmul peak measured in the same run; and the per-example cost of the ``loop`` style. With
``--gpu``, the same table on the GPU: our ``gpu`` style (CuPy) against PyTorch CUDA and JAX
on the GPU; a column that cannot be measured is left empty and the table says why. torch
is installed by ``nox -s bench`` only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from oracles.audit.jax_oracle import independent_loss
from reference_nn import NETWORKS, network
from reference_nn import loop as loop_style
from reference_nn.allocator import keep_freed_memory
from reference_nn.gpu import GpuUnavailableError, require_cupy

Step = Callable[[], None]
Maker = Callable[[str, np.ndarray, np.ndarray, str], Step]
CPU_LABELS = ("ours", "torch", "jax_jit")
GPU_LABELS = ("ours_gpu", "torch_cuda", "jax_gpu")


class Unavailable(RuntimeError):
    """A column that cannot be measured here; the message says why."""


def step_flops(sizes: tuple[int, ...], m: int) -> float:
    """Matmul FLOPs of one step: forward 2 m n_k n_{k-1} per layer; backward 2 m n_k n_{k-1}
    for dW_k and again for dA_{k-1} (not needed for the input layer)."""
    products = [sizes[k] * sizes[k - 1] for k in range(1, len(sizes))]
    return 2.0 * m * (3 * sum(products) - products[0])


def matmul_peak(dtype: str, n: int = 2048, repeats: int = 5, gpu: bool = False) -> float:
    """GFLOP/s of an n x n matmul in ``dtype``, best of ``repeats``: NumPy's, or CuPy's on
    the GPU (GpuUnavailableError without one)."""
    xp = require_cupy() if gpu else np
    synchronize = _cupy_synchronize if gpu else (lambda: None)
    a = xp.random.default_rng(0).random((n, n), dtype=dtype)

    def product() -> None:
        a @ a
        synchronize()

    product()  # the BLAS picks its kernel (and CuPy loads cuBLAS) on first use
    best = min(_timed(product) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def gpu_matmul_peak(dtype: str, n: int = 8192, repeats: int = 5) -> float | None:
    """``matmul_peak`` on the GPU; None without one (the GPU table says why)."""
    try:
        return matmul_peak(dtype, n, repeats, gpu=True)
    except GpuUnavailableError:
        return None


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ours(name: str, X: np.ndarray, y: np.ndarray, dtype: str, style: str = "vectorized") -> Step:
    """Our vectorised step (NumPy, or CuPy for ``style="gpu"``), updating parameters in place."""
    net = network(name, style=style)
    params, Xd, yd = net.to_native(
        {k: v.astype(dtype) for k, v in net.init_params(0).items()}, X.astype(dtype), y
    )
    lr = NETWORKS[name].training.learning_rate
    synchronize = _cupy_synchronize if style == "gpu" else (lambda: None)

    def step() -> None:
        grads = net.backend.gradients(params, Xd, yd, net.recipe)  # as train() between logs
        for key, g in grads.items():
            params[key] -= lr * g  # as reference_nn.training.train updates
        synchronize()

    step()  # CuPy compiles its kernels on first use
    return step


def _cupy_synchronize() -> None:
    importlib.import_module("cupy").cuda.get_current_stream().synchronize()


def ours_gpu(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """Our ``gpu`` style: the vectorised code on CuPy arrays."""
    try:
        return ours(name, X, y, dtype, style="gpu")
    except GpuUnavailableError as exc:
        raise Unavailable(str(exc)) from exc


def _torch_device(gpu: bool) -> tuple[Any, str]:
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        raise Unavailable(f"torch is not installed ({exc}); nox -s bench installs it") from exc
    if not gpu:
        return torch, "cpu"
    if not torch.cuda.is_available():
        raise Unavailable(f"torch {torch.__version__} sees no CUDA device")
    return torch, "cuda"


def torch_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str, gpu: bool = False) -> Step:
    """The same step with torch autograd, on the CPU or (``gpu``) on CUDA."""
    torch, device = _torch_device(gpu)
    spec = NETWORKS[name]
    tdtype = getattr(torch, dtype)
    init = network(name).init_params(0)
    params = [
        torch.tensor(init[k], dtype=tdtype, device=device, requires_grad=True)
        for k in spec.parameter_names
    ]
    Xt = torch.tensor(X, dtype=tdtype, device=device)
    yt = torch.tensor(y, dtype=torch.long, device=device)
    act = torch.relu if spec.hidden_activation == "relu" else torch.sigmoid
    lr = spec.training.learning_rate
    synchronize = torch.cuda.synchronize if gpu else (lambda: None)

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
        synchronize()

    step()
    return step


def torch_cuda_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """:func:`torch_step` on the CUDA device."""
    return torch_step(name, X, y, dtype, gpu=True)


def _jax_device(gpu: bool) -> tuple[Any, Any]:
    try:
        jax = importlib.import_module("jax")
    except ImportError as exc:
        raise Unavailable(f"jax is not installed ({exc})") from exc
    # On the GPU, JAX's default float32 matmul is TF32 (10-bit mantissa); CuPy and torch
    # default to full float32. Ask for full precision so that all three do the same work.
    jax.config.update("jax_default_matmul_precision", "highest")
    # This benchmark's own process times float64 steps too (the library scopes float64).
    jax.config.update("jax_enable_x64", True)
    platform_name = "gpu" if gpu else "cpu"
    try:
        return jax, jax.devices(platform_name)[0]
    except RuntimeError as exc:
        raise Unavailable(
            f"jax {jax.__version__} has no {platform_name.upper()} backend "
            f"(devices: {', '.join(str(d) for d in jax.devices())}; on CUDA 12 "
            "pip install 'jax[cuda12]')"
        ) from exc


def jax_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str, gpu: bool = False) -> Step:
    """The same step as one jax.jit of grad and the update, on the CPU or (``gpu``) the GPU."""
    jax, device = _jax_device(gpu)
    jnp = importlib.import_module("jax.numpy")
    net = network(name)
    loss = independent_loss(net)  # the audit's own jax.nn formulation

    def put(value: Any, value_dtype: Any = dtype) -> Any:
        return jax.device_put(jnp.asarray(value, dtype=value_dtype), device)

    state = {"p": {k: put(v) for k, v in net.init_params(0).items()}}
    Xj, yj = put(X), put(y, y.dtype)
    lr = NETWORKS[name].training.learning_rate

    # The data go in as arguments: closed over, they become constants of the compiled
    # program, which measured 25 ms against 16 ms a step for relu_16_16 in float64. The
    # parameters are donated, as a training loop would, so the update reuses their buffers.
    @partial(jax.jit, donate_argnums=0)
    def update(p: dict[str, Any], X: Any, y: Any) -> dict[str, Any]:
        grads = jax.grad(loss)(p, X, y)
        return {k: p[k] - lr * grads[k] for k in p}

    def step() -> None:
        state["p"] = update(state["p"], Xj, yj)
        jax.block_until_ready(state["p"])

    step()  # compile outside the timing
    return step


def jax_gpu_step(name: str, X: np.ndarray, y: np.ndarray, dtype: str) -> Step:
    """:func:`jax_step` on the GPU."""
    return jax_step(name, X, y, dtype, gpu=True)


MAKERS: dict[str, Maker] = {
    "ours": ours,
    "torch": torch_step,
    "jax_jit": jax_step,
    "ours_gpu": ours_gpu,
    "torch_cuda": torch_cuda_step,
    "jax_gpu": jax_gpu_step,
}


def wait_until_idle(window: float = 0.02, busy: float = 0.002, limit: float = 0.5) -> float | None:
    """Sleep until no thread of this process burns CPU: less than ``busy`` seconds of CPU in
    a ``window`` of sleep. Returns the seconds waited, or None if still busy after ``limit``.

    Thread pools spin for a while after their work before they park: OpenBLAS's for about
    0.14 s here. Measured on ``sigmoid_16_16`` float64, torch's step took 28 ms while our
    OpenBLAS threads still spun after our turn, 16 ms once they had parked. The limit bounds
    the cost where some thread never rests (a driver's polling thread, say): the table counts
    such turns.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        cpu = time.process_time()  # every thread of the process, this one asleep
        time.sleep(window)
        if time.process_time() - cpu < busy:
            return time.perf_counter() - started
    return None


def run_for(
    step: Step, at_least: int, seconds: float, clock: Callable[[], float] = time.perf_counter
) -> tuple[int, float]:
    """Call ``step`` back to back until it has run ``at_least`` times and ``seconds`` have
    passed; ``(calls, seconds taken)``."""
    started, calls = clock(), 0
    while True:
        step()
        calls += 1
        elapsed = clock() - started
        if calls >= at_least and elapsed >= seconds:
            return calls, elapsed


def interleaved_times(
    steps: dict[str, Step],
    repeats: int,
    block: int = 3,
    settle: Callable[[], float | None] = wait_until_idle,
    warmup: float = 0.2,
    block_seconds: float = 0.2,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, list[float]], dict[str, list[float | None]]]:
    """``(times, waits)``: the mean seconds per step of each step function's timed block in
    each of ``repeats`` rounds, and what ``settle`` returned before each of its turns (None:
    never idle).

    Each round gives every implementation a turn, starting one further along the order each
    round so that none always follows the same one. A turn waits (``settle``) until the
    previous one's worker threads have parked, runs untimed steps for ``warmup`` seconds (at
    least one), which wakes its own thread pool and warms the caches, then times at least
    ``block`` steps and ``block_seconds`` back to back, as a training loop runs them.
    Without the wait, one library's spinning threads share the two cores with the next
    one's timing. Without the warm-up, the first steps after the pause are timed: JAX's
    second to fifth steps took 7-9 ms against its steady 5.5-6.2 ms (relu_10_10 and
    sigmoid_16_16, float32): after one warm-up step, our relu_10_10 float32 ratio read
    0.84-1.12 over four runs; in steady state, 1.30-1.44.
    """
    times: dict[str, list[float]] = {k: [] for k in steps}
    waits: dict[str, list[float | None]] = {k: [] for k in steps}
    order = list(steps)
    for round_ in range(repeats):
        shift = round_ % len(order) if order else 0
        for label in order[shift:] + order[:shift]:
            step = steps[label]
            waits[label].append(settle())
            run_for(step, 1, warmup, clock)
            calls, elapsed = run_for(step, block, block_seconds, clock)
            times[label].append(elapsed / calls)
    return times, waits


def _loop_seconds_per_example(name: str, X: np.ndarray, y: np.ndarray) -> float:
    net = network(name, style="loop")
    params = net.init_params(0)
    runs = [
        _timed(lambda: loop_style.loss_and_gradients(params, X, y, net.recipe)) for _ in range(3)
    ]
    return statistics.median(runs) / X.shape[1]


def measure_row(
    name: str, dtype: str, X: np.ndarray, y: np.ndarray, labels: tuple[str, ...], repeats: int,
    block: int, why_empty: dict[str, str], warmup: float = 0.2, block_seconds: float = 0.2,
) -> dict[str, Any]:  # fmt: skip
    """One table row: the median seconds of every label that can run, None for the others.

    ``labels[0]`` is ours; the others are its peers. A label that cannot run here gets its
    reason recorded in ``why_empty`` (shared across rows).
    """
    steps: dict[str, Step] = {}
    for label in labels:
        if label in why_empty:
            continue
        try:
            steps[label] = MAKERS[label](name, X, y, dtype)
        except Unavailable as exc:
            why_empty[label] = str(exc)
    times, waits = interleaved_times(steps, repeats, block, warmup=warmup,
                                     block_seconds=block_seconds)  # fmt: skip
    seconds = {label: statistics.median(times[label]) if label in times else None
               for label in labels}  # fmt: skip
    mine, peers = seconds[labels[0]], [s for s in list(seconds.values())[1:] if s is not None]
    # The same ratio within each round, where ours and its peers ran side by side: its
    # spread over the rounds is the noise in the headline ratio of medians.
    own, peer_times = times.get(labels[0]), [times[p] for p in labels[1:] if p in times]
    paired = []
    if own and peer_times:
        rounds = zip(*peer_times, strict=True)
        paired = [mine_r / min(round_) for mine_r, round_ in zip(own, rounds, strict=True)]
    flops = step_flops(NETWORKS[name].sizes, X.shape[1])
    return {
        **{f"{label}_seconds": s for label, s in seconds.items()},
        f"{labels[0]}_over_fastest_peer": mine / min(peers) if mine and peers else None,
        f"{labels[0]}_over_fastest_peer_per_round": [min(paired), max(paired)] if paired else None,
        f"{labels[0]}_gflops": flops / mine / 1e9 if mine else None,
        # How long each turn waited for the previous one's threads to park, and how many
        # turns found the process still busy at the limit (timed regardless).
        **{f"{label}_idle_wait_seconds": max((w for w in waits[label] if w is not None),
                                             default=None) for label in waits},
        **{f"{label}_never_idle_turns": sum(w is None for w in waits[label]) for label in waits},
    }  # fmt: skip


def _idle_sentence(rows: list[dict[str, Any]]) -> str:
    """What the turns waited for the process's threads to park, over every row."""
    waited = [v for r in rows for k, v in r.items() if k.endswith("_idle_wait_seconds") and v]
    never = sum(v for r in rows for k, v in r.items() if k.endswith("_never_idle_turns"))
    text = (
        "Before each turn the process waited until no thread burned CPU (the previous "
        f"library's pool had parked): up to {max(waited, default=0.0):.2f} s"
    )
    return text + (f"; {never} turns timed while still busy." if never else ".")


def _cell(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _range_cell(values: list[float] | None) -> str:
    return "n/a" if values is None else f"{values[0]:.2f}-{values[1]:.2f}"


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], gpu: bool) -> str:
    """The Markdown tables of ``rows`` (CPU, then GPU) with why any column is empty."""
    peaks = meta["matmul_peak_gflops"]
    lines = [
        f"# One full-batch training step, m = {meta['examples']} "
        f"(median of {meta['repeats']} interleaved rounds; each turn {meta['warmup_seconds']:g} s "
        f"of untimed steps, then at least {meta['block']} steps and "
        f"{meta['block_seconds']:g} s timed back to back)",
        "",
        f"Machine: {meta['machine']}"
        + (f", GPU {meta['gpu']}" if meta["gpu"] else "")
        + ". Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
        + f". Matmul peak measured in this run: "
        f"{peaks['float32']:.0f} GFLOP/s float32, {peaks['float64']:.0f} GFLOP/s float64. "
        "Per round: the lowest and highest of the same ratio taken within each round, where "
        "the three ran side by side. " + _idle_sentence(rows),
        "",
        "## CPU",
        "",
        "| network | dtype | ours s | torch s | jax jit s | ours / jax jit | ours / fastest "
        "| per round | ours GFLOP/s | loop s per example |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours, jax_jit = r["ours_seconds"], r["jax_jit_seconds"]
        lines.append(
            f"| {r['network']} | {r['dtype']} | {_cell(ours, '.4f')} "
            f"| {_cell(r['torch_seconds'], '.4f')} | {_cell(jax_jit, '.4f')} "
            f"| {_cell(ours / jax_jit if ours and jax_jit else None, '.2f')} "
            f"| {_cell(r['ours_over_fastest_peer'], '.2f')} "
            f"| {_range_cell(r['ours_over_fastest_peer_per_round'])} "
            f"| {_cell(r['ours_gflops'], '.1f')} | {r['loop_seconds_per_example']:.2e} |"
        )
    lines += ["", "## GPU", ""]
    if not gpu:
        lines.append("Not measured: run `nox -s bench -- --gpu` on a machine with a CUDA device.")
    else:
        gpu_peaks = meta["gpu_matmul_peak_gflops"]
        if gpu_peaks["float32"] is not None:
            lines += [
                f"GPU matmul peak measured in this run: {gpu_peaks['float32']:.0f} GFLOP/s "
                f"float32, {gpu_peaks['float64']:.0f} GFLOP/s float64 (CuPy).",
                "",
            ]
        lines += [
            "| network | dtype | ours (CuPy) s | torch cuda s | jax gpu s | ours / fastest "
            "| per round | ours GFLOP/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['network']} | {r['dtype']} | {_cell(r['ours_gpu_seconds'], '.5f')} "
                f"| {_cell(r['torch_cuda_seconds'], '.5f')} "
                f"| {_cell(r['jax_gpu_seconds'], '.5f')} "
                f"| {_cell(r['ours_gpu_over_fastest_peer'], '.2f')} "
                f"| {_range_cell(r['ours_gpu_over_fastest_peer_per_round'])} "
                f"| {_cell(r['ours_gpu_gflops'], '.1f')} |"
            )
    empty = meta["empty_columns"]
    if empty:
        lines += ["", "Empty (n/a) columns, and why:", ""]
        lines += [f"- {label}: {reason}" for label, reason in empty.items()]
    return "\n".join(lines) + "\n"


def versions() -> dict[str, str | None]:
    """The version of each library the table compares, None where it is not installed."""
    found: dict[str, str | None] = {}
    for name in ("numpy", "torch", "jax", "cupy"):
        try:
            found[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            found[name] = None
    return found


def gpu_name() -> str | None:
    """The CUDA device CuPy sees, None without one."""
    try:
        cupy = importlib.import_module("cupy")
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception:  # no CuPy, no driver or no device: the GPU table says why
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def main(argv: list[str] | None = None) -> None:
    """Write reports/bench/steps.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10000, help="m, columns per step")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument(
        "--block", type=int, default=3, help="at least this many steps timed back to back a turn"
    )
    parser.add_argument(
        "--block-seconds", type=float, default=0.2, help="and at least this long (seconds)"
    )
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="seconds of untimed steps before each block"
    )
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    parser.add_argument("--gpu", action="store_true", help="also the GPU table (CUDA)")
    parser.add_argument("--out", default="reports/bench")
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n peak matmul")
    parser.add_argument("--gpu-peak-size", type=int, default=8192, help="the same on the GPU")
    args = parser.parse_args(argv)
    # JAX would otherwise take 75% of the GPU's memory at start, leaving CuPy and torch little.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    keep_freed_memory()  # as python -m reference_nn does: the step as the command line runs it
    rng = np.random.default_rng(0)
    m = args.examples
    X = rng.random((784, m))
    y = rng.integers(0, 10, m)
    peaks = {d: matmul_peak(d, args.peak_size) for d in ("float32", "float64")}
    why_empty: dict[str, str] = {}
    measure = partial(
        measure_row, repeats=args.repeats, block=args.block, why_empty=why_empty,
        warmup=args.warmup, block_seconds=args.block_seconds,
    )  # fmt: skip
    rows = []
    for name in args.networks:
        per_example = _loop_seconds_per_example(name, X[:, :64], y[:64])
        for dtype in ("float32", "float64"):
            row: dict[str, Any] = {"network": name, "dtype": dtype, "examples": m}
            row |= measure(name, dtype, X, y, CPU_LABELS)
            if args.gpu:
                row |= measure(name, dtype, X, y, GPU_LABELS)
            row["matmul_peak_gflops"] = peaks[dtype]
            row["loop_seconds_per_example"] = per_example
            rows.append(row)
            print(row, flush=True)
    meta = {
        "machine": platform.platform(),
        "examples": m,
        "repeats": args.repeats,
        "block": args.block,
        "block_seconds": args.block_seconds,
        "warmup_seconds": args.warmup,
        "matmul_peak_gflops": peaks,
        "gpu_measured": args.gpu,
        "gpu": gpu_name() if args.gpu else None,
        "gpu_matmul_peak_gflops": {
            d: gpu_matmul_peak(d, args.gpu_peak_size) for d in ("float32", "float64")
        }
        if args.gpu
        else None,
        "versions": versions(),
        "empty_columns": why_empty,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "steps.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    text = markdown(meta, rows, args.gpu)
    (out / "steps.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
