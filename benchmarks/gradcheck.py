"""Benchmark: the gradient check on relu_500_150 (~469,000 parameters, 64 MNIST examples).

For every bug of the mutation suite that applies to this architecture, and for the correct,
equivalent and rewritten implementations, it times ``oracles.check_gradients`` (mode
directional) and ``torch.autograd.gradcheck(fast_mode=True)`` on the same hand-written
backward (wrapped in a ``torch.autograd.Function`` so that torch judges our gradient, not
its own), in the same process, each once the other's threads have parked
(``steps.wait_until_idle``), and records which bugs each catches and how long each check
takes. Torch runs twice: at its default tolerances (atol 1e-5, rtol 1e-3) and at ours
(``oracles.checks.TOLERANCES`` for float64), so that a difference in bugs caught is not a
difference in tolerance.
torch is a benchmark-only dependency (``nox -s bench`` installs torch==2.13.0).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.steps import wait_until_idle
from oracles import check_gradients
from oracles.checks import TOLERANCES
from reference_nn import NETWORKS, network
from reference_nn.data import load_mnist
from reference_nn.protocol import prepare
from tests.meta.mutants import EQUIVALENTS, MUTANTS, REWRITES, Architecture, gradients, loss

ARCH = Architecture(NETWORKS["relu_500_150"].sizes, "relu", name="relu_500_150")
OURS = TOLERANCES[np.dtype(np.float64)]
TOOLS = {
    "ours": "oracles.check_gradients, its defaults (directional)",
    "torch_fast": "torch.autograd.gradcheck(fast_mode=True), its defaults (atol 1e-5, rtol 1e-3)",
    "torch_fast_matched": f"the same, at our tolerances (atol {OURS.atol:g}, rtol {OURS.rtol:g})",
}


def _torch_check(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    tolerances: dict[str, float] | None = None,
    **case: Any,
) -> bool:
    import torch

    names = list(params)
    calls = [0]

    class HandWritten(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *tensors: Any) -> Any:
            calls[0] += 1
            if calls[0] > FAST_MODE_CALLS:
                raise _SlowModeStarted
            p = {n: t.detach().numpy() for n, t in zip(names, tensors, strict=True)}
            ctx.params = p
            return torch.tensor(loss(p, X, y, ARCH), dtype=torch.float64)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            grads = gradients(ctx.params, X, y, ARCH, **case)
            return tuple(g * torch.from_numpy(np.ascontiguousarray(grads[n])) for n in names)

    tensors = tuple(torch.tensor(params[n], requires_grad=True) for n in names)
    try:
        return bool(
            torch.autograd.gradcheck(
                HandWritten.apply, tensors, fast_mode=True, raise_exception=False,
                **(tolerances or {}),
            )
        )  # fmt: skip
    except _SlowModeStarted:
        return False


class _SlowModeStarted(Exception):
    """Torch's fast mode found a mismatch and began its slow mode, which rebuilds the whole
    numerical Jacobian (469,160 columns, most of an hour here) only to word its message."""


# Forward calls of one fast-mode gradcheck: a few per input tensor. The slow mode, which
# fast mode starts only after a mismatch, makes two per parameter: past this budget, the
# verdict is made and the check is stopped through the function under test, not by patching
# torch's internals.
FAST_MODE_CALLS = 100


def _ours(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, **case: Any) -> bool:
    report = check_gradients(
        partial(loss, X=X, y=y, arch=ARCH),
        partial(gradients, X=X, y=y, arch=ARCH, **case),
        params,
        mode="directional",
        directions=16,
    )
    return report.passed


def main() -> None:
    """Run the benchmark and write a Markdown and a JSON table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="reports/bench", help="output folder")
    parser.add_argument("--examples", type=int, default=64)
    args = parser.parse_args()
    data = prepare(NETWORKS["relu_500_150"], "reference", load_mnist(progress=False))
    X = data.X_train[:, : args.examples].astype(np.float64)
    y = data.y_train[: args.examples].astype(np.int64)
    params = {k: v.astype(np.float64) for k, v in network("relu_500_150").init_params(0).items()}
    cases: list[tuple[str, dict[str, Any], bool]] = [("correct", {}, True)]
    cases += [(f"equivalent: {e}", {"equivalent": e}, True) for e in EQUIVALENTS]
    cases += [(f"rewrite: {e}", {"equivalent": e}, True) for e in REWRITES]
    cases += [(f"bug: {b}", {"bug": b}, False) for b, m in MUTANTS.items() if m.applies(ARCH)]
    rows = []
    right = gradients(params, X, y, ARCH)
    for label, case, correct in cases:
        # A bug that leaves the gradient unchanged at this point (mask_without_bias with zero
        # biases; the last pixel, always 0 in MNIST) cannot be caught by any gradient check.
        changed = max(
            float(np.abs(g - right[k]).max())
            for k, g in gradients(params, X, y, ARCH, **case).items()
        )
        group = MUTANTS[case["bug"]].group if "bug" in case else None
        row: dict[str, Any] = {
            "case": label, "correct": correct, "changes_gradient": changed > 0, "group": group
        }  # fmt: skip
        matched = {"atol": OURS.atol, "rtol": OURS.rtol}
        checks = {"ours": _ours, "torch_fast": _torch_check,
                  "torch_fast_matched": partial(_torch_check, tolerances=matched)}  # fmt: skip
        for tool, check in checks.items():
            wait_until_idle()  # else the previous check's spinning threads share the cores
            started = time.perf_counter()
            passed = check(params, X, y, **case)
            row[f"{tool}_seconds"] = time.perf_counter() - started
            row[f"{tool}_right"] = passed == correct
        rows.append(row)
        verdicts = [
            f"{tool} {'right' if row[f'{tool}_right'] else 'WRONG':<5} "
            f"{row[f'{tool}_seconds']:6.2f} s"
            for tool in TOOLS
        ]
        note = "" if correct or changed else " (leaves the gradient unchanged here)"
        print(f"{label + note:<70} " + "   ".join(verdicts), flush=True)
    summary = {}
    for tool in TOOLS:
        bugs = [r for r in rows if not r["correct"] and r["changes_gradient"]]
        good = [r for r in rows if r["correct"]]
        summary[tool] = {
            "caught": sum(r[f"{tool}_right"] for r in bugs),
            "bugs": len(bugs),
            "false_alarms": sum(not r[f"{tool}_right"] for r in good),
            "correct_runs": len(good),
            "median_seconds": statistics.median(r[f"{tool}_seconds"] for r in rows),
            "median_seconds_correct": statistics.median(r[f"{tool}_seconds"] for r in good),
            "median_seconds_buggy": statistics.median(r[f"{tool}_seconds"] for r in bugs),
            "caught_by_group": {
                group: f"{sum(r[f'{tool}_right'] for r in bugs if r['group'] == group)}/"
                f"{sum(r['group'] == group for r in bugs)}"
                for group in sorted({r["group"] for r in bugs})
            },
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"network": "relu_500_150", "parameters": NETWORKS["relu_500_150"].parameter_count,
            "examples": args.examples, "machine": platform.platform()}  # fmt: skip
    (out / "gradcheck.json").write_text(
        json.dumps({**meta, "summary": summary, "rows": rows}, indent=1)
    )
    lines = [
        f"# Gradient check on relu_500_150 ({meta['parameters']} parameters, "
        f"{args.examples} examples)",
        "",
        "Bugs counted: those that change the gradient at this point "
        f"({sum(1 for r in rows if not r['correct'] and r['changes_gradient'])} of "
        f"{sum(1 for r in rows if not r['correct'])} that apply to the architecture).",
        "",
        "| tool | bugs caught | by group | false alarms | median s, correct | median s, buggy |",
        "|---|---|---|---|---|---|",
    ]
    for tool, label in TOOLS.items():
        s = summary[tool]
        groups = ", ".join(f"{g} {n}" for g, n in s["caught_by_group"].items())
        lines.append(
            f"| {label} | {s['caught']}/{s['bugs']} | {groups} | "
            f"{s['false_alarms']}/{s['correct_runs']} | {s['median_seconds_correct']:.2f} "
            f"| {s['median_seconds_buggy']:.2f} |"
        )
    (out / "gradcheck.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
