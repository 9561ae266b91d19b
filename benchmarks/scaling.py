"""Benchmark: how the gradient check scales with the size of the network.

A 784-H-H-10 ReLU network (softmax cross-entropy, 64 examples as columns, float64, inputs
and labels drawn from a seeded Generator, so no MNIST is needed) with a hand-written NumPy
backward, at H = 128, 512, 2048 and 4096: 118,282, 669,706, 5,824,522 and 20,037,642
parameters (H^2 + 796 H + 10). At each size, in one process, in alternating order, each
once the other's threads have parked (``steps.wait_until_idle``), on the right gradient:
``oracles.check_gradients`` at its defaults, and ``torch.autograd.gradcheck(fast_mode=True)``
at its defaults on the same backward (wrapped in a ``torch.autograd.Function`` so that torch
judges our gradient, as ``benchmarks.gradcheck`` does). Both record their wall seconds, how
often they called the loss and the gradient, and the seconds spent inside those two: the rest
is the checker's own overhead. torch is a benchmark-only dependency (``nox -s bench``
installs torch==2.13.0).
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
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.steps import versions, wait_until_idle
from oracles import check_gradients

Array = NDArray[np.float64]
Params = dict[str, Array]
INPUTS, OUTPUTS = 784, 10
HIDDEN = (128, 512, 2048, 4096)
TOOLS = {
    "ours": "oracles.check_gradients, its defaults",
    "torch": "torch.autograd.gradcheck(fast_mode=True), its defaults (atol 1e-5, rtol 1e-3)",
}


def parameter_count(hidden: int) -> int:
    """Parameters of the 784-H-H-10 network: W1 (H, 784), b1 (H, 1), W2 (H, H), b2 (H, 1),
    W3 (10, H), b3 (10, 1)."""
    return INPUTS * hidden + hidden + hidden * hidden + hidden + OUTPUTS * hidden + OUTPUTS


def init_params(hidden: int, rng: np.random.Generator) -> Params:
    """He-initialised W1 (H, 784), W2 (H, H), W3 (10, H); small random biases b1, b2 (H, 1)
    and b3 (10, 1), so that the bias gradients are not checked at a special point."""
    sizes = (INPUTS, hidden, hidden, OUTPUTS)
    params: Params = {}
    for k in range(1, 4):
        n_in, n_out = sizes[k - 1], sizes[k]
        params[f"W{k}"] = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
        params[f"b{k}"] = rng.standard_normal((n_out, 1)) * 0.01
    return params


def forward(params: Params, X: Array) -> tuple[Array, Array, Array, Array, Array]:
    """``(Z1, A1, Z2, A2, Z3)`` for X of shape (784, m): Z1, A1, Z2, A2 of shape (H, m), the
    logits Z3 of shape (10, m)."""
    Z1 = params["W1"] @ X + params["b1"]
    A1 = np.maximum(Z1, 0.0)
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = np.maximum(Z2, 0.0)
    Z3 = params["W3"] @ A2 + params["b3"]
    return Z1, A1, Z2, A2, Z3


def log_softmax(Z: Array) -> Array:
    """log softmax(Z) of each column of Z (n, m), shifted by the column's maximum."""
    shifted: Array = Z - Z.max(axis=0, keepdims=True)
    total: Array = np.exp(shifted).sum(axis=0, keepdims=True)
    return shifted - np.log(total)


def loss(params: Params, X: Array, y: NDArray[np.int64]) -> float:
    """The mean cross-entropy of softmax(Z3) over the m columns of X (784, m), labels y (m,)."""
    *_, Z3 = forward(params, X)
    m = X.shape[1]
    return float(-log_softmax(Z3)[y, np.arange(m)].mean())


def gradients(params: Params, X: Array, y: NDArray[np.int64]) -> Params:
    """The hand-written backward of ``loss``: dW1 (H, 784), db1 (H, 1), dW2 (H, H), db2 (H, 1),
    dW3 (10, H), db3 (10, 1), under the parameters' names."""
    Z1, A1, Z2, A2, Z3 = forward(params, X)
    m = X.shape[1]
    Y = np.zeros_like(Z3)
    Y[y, np.arange(m)] = 1.0
    dZ3 = np.exp(log_softmax(Z3)) - Y
    dW3 = dZ3 @ A2.T / m
    db3 = dZ3.sum(axis=1, keepdims=True) / m
    dZ2 = (params["W3"].T @ dZ3) * (Z2 > 0)
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (params["W2"].T @ dZ2) * (Z1 > 0)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}


class Counted:
    """A user's function, counting its calls and the seconds spent inside it."""

    def __init__(self, fn: Callable[[Params], Any]) -> None:
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, params: Params) -> Any:
        started = time.perf_counter()
        try:
            return self.fn(params)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class Turn:
    """One check's wall seconds, its calls of the loss and of the gradient, and the seconds
    spent inside them; ``overhead`` is the rest, as a fraction of ``inside``."""

    seconds: float
    passed: bool
    loss_calls: int
    grad_calls: int
    inside: float

    @property
    def overhead(self) -> float:
        return (self.seconds - self.inside) / self.inside


def _turn(
    check: Callable[[Counted, Counted], bool], user_loss: Counted, user_grad: Counted
) -> Turn:
    started = time.perf_counter()
    passed = check(user_loss, user_grad)
    seconds = time.perf_counter() - started
    inside = user_loss.seconds + user_grad.seconds
    return Turn(seconds, passed, user_loss.calls, user_grad.calls, inside)


def ours(params: Params, X: Array, y: NDArray[np.int64]) -> Turn:
    """``check_gradients(loss, grad, params)`` at its defaults, timed and counted."""

    def check(user_loss: Counted, user_grad: Counted) -> bool:
        return bool(check_gradients(user_loss, user_grad, params))

    return _turn(check, Counted(partial(loss, X=X, y=y)), Counted(partial(gradients, X=X, y=y)))


class _SlowModeStarted(Exception):
    """Torch's fast mode found a mismatch and began its slow mode (two loss calls per
    parameter: days at 20M parameters) only to word its message."""


# A fast-mode gradcheck makes a few loss calls per input tensor (2 per tensor and 1 here);
# past this budget it has given its verdict and begun the slow mode, which is stopped
# through the function under test (as benchmarks.gradcheck does).
FAST_MODE_CALLS = 100


def torch_fast(params: Params, X: Array, y: NDArray[np.int64]) -> Turn:
    """``torch.autograd.gradcheck(fast_mode=True)`` at its defaults on ``gradients`` wrapped
    in a ``torch.autograd.Function`` (forward: ``loss``; backward: ``gradients``)."""
    torch = importlib.import_module("torch")  # a benchmark-only dependency, not type-checked
    names = list(params)
    user_loss, user_grad = Counted(partial(loss, X=X, y=y)), Counted(partial(gradients, X=X, y=y))

    def as_params(tensors: tuple[Any, ...]) -> Params:
        return {n: t.detach().numpy() for n, t in zip(names, tensors, strict=True)}

    Function: Any = torch.autograd.Function

    class HandWritten(Function):  # type: ignore[misc]  # torch is loaded as Any
        @staticmethod
        def forward(ctx: Any, *tensors: Any) -> Any:
            if user_loss.calls >= FAST_MODE_CALLS:
                raise _SlowModeStarted
            ctx.save_for_backward(*tensors)
            return torch.tensor(user_loss(as_params(tensors)), dtype=torch.float64)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            grads = user_grad(as_params(ctx.saved_tensors))
            return tuple(g * torch.from_numpy(grads[n]) for n in names)

    tensors = tuple(torch.tensor(params[n], requires_grad=True) for n in names)

    def check(_loss: Counted, _grad: Counted) -> bool:
        try:
            return bool(
                torch.autograd.gradcheck(
                    HandWritten.apply, tensors, fast_mode=True, raise_exception=False
                )
            )
        except _SlowModeStarted:
            return False

    return _turn(check, user_loss, user_grad)


CHECKS: dict[str, Callable[[Params, Array, NDArray[np.int64]], Turn]] = {
    "ours": ours,
    "torch": torch_fast,
}


def measure_size(
    hidden: int, repeats: int, X: Array, y: NDArray[np.int64], seed: int = 0
) -> dict[str, Any]:
    """One table row for the 784-H-H-10 network: every check ``repeats`` times, alternating
    which goes first, each after ``wait_until_idle``; medians, and every turn in ``turns``."""
    params = init_params(hidden, np.random.default_rng(seed))
    turns: dict[str, list[Turn]] = {tool: [] for tool in CHECKS}
    order = list(CHECKS)
    for round_ in range(repeats):
        for tool in order if round_ % 2 == 0 else order[::-1]:
            wait_until_idle()  # else the previous check's spinning threads share the cores
            turns[tool].append(CHECKS[tool](params, X, y))
    row: dict[str, Any] = {"hidden": hidden, "parameters": parameter_count(hidden)}
    for tool, runs in turns.items():
        row[f"{tool}_seconds"] = statistics.median(t.seconds for t in runs)
        row[f"{tool}_inside_seconds"] = statistics.median(t.inside for t in runs)
        row[f"{tool}_overhead"] = statistics.median(t.overhead for t in runs)
        row[f"{tool}_loss_calls"] = runs[0].loss_calls
        row[f"{tool}_grad_calls"] = runs[0].grad_calls
        row[f"{tool}_passed"] = all(t.passed for t in runs)
        row[f"{tool}_turns"] = [asdict(t) for t in runs]
    row["ours_over_torch"] = row["ours_seconds"] / row["torch_seconds"]
    return row


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``rows``: sizes, seconds, ratio, loss calls, our overhead."""
    lines = [
        f"# The gradient check by network size (784-H-H-10 ReLU, {meta['examples']} examples, "
        "float64, right gradient)",
        "",
        f"Machine: {meta['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
        + ". Load average (1 min) before and after: "
        + ", ".join(f"{v:.2f}" for v in meta["load_average_1min_before_after"])
        + ". Median of the repeats (column `repeats`), the two checks alternating which goes "
        "first, each once the other's threads have parked. Ours: "
        f"{TOOLS['ours']}; torch: {TOOLS['torch']}, on the same hand-written backward. Own "
        "overhead: wall time less the time inside the loss and the gradient, as a "
        "percentage of the latter.",
        "",
        "| H | parameters | repeats | ours s | torch s | ours / torch | loss calls ours / torch "
        "| grad calls ours / torch | our own overhead | torch's own overhead | both passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hidden']} | {r['parameters']:,} | {r['repeats']} | {r['ours_seconds']:.2f} "
            f"| {r['torch_seconds']:.2f} | {r['ours_over_torch']:.2f} "
            f"| {r['ours_loss_calls']} / {r['torch_loss_calls']} "
            f"| {r['ours_grad_calls']} / {r['torch_grad_calls']} "
            f"| {100 * r['ours_overhead']:.0f}% | {100 * r['torch_overhead']:.0f}% "
            f"| {'yes' if r['ours_passed'] and r['torch_passed'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write reports/bench/scaling.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(HIDDEN), help="H values")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per size")
    parser.add_argument(
        "--large-repeats",
        type=int,
        default=3,
        help="rounds for sizes of 10 million parameters or more",
    )
    parser.add_argument("--examples", type=int, default=64, help="m, columns of X")
    parser.add_argument("--out", default="reports/bench")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.random((INPUTS, args.examples))
    y = rng.integers(0, OUTPUTS, args.examples)
    # One untimed round on a small network: torch's lazy imports and first calls.
    small = init_params(16, np.random.default_rng(1))
    for check in CHECKS.values():
        check(small, X, y)
    load_before = os.getloadavg()
    rows = []
    for hidden in args.sizes:
        big = parameter_count(hidden) >= 10_000_000
        repeats = args.large_repeats if big else args.repeats
        row = {**measure_size(hidden, repeats, X, y), "repeats": repeats}
        rows.append(row)
        print({k: v for k, v in row.items() if not k.endswith("_turns")}, flush=True)
    meta = {
        "machine": platform.platform(),
        "examples": args.examples,
        "tools": TOOLS,
        "versions": versions(),
        # Other processes share the cores too (a test suite, say); wait_until_idle sees
        # only this one's threads.
        "load_average_1min_before_after": [load_before[0], os.getloadavg()[0]],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    text = markdown(meta, rows)
    (out / "scaling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
