"""``python -m oracles.audit``: audit the five documents' derivations (reports, exit status);
``python -m oracles.audit MODULE:FUNCTION``: audit your own networks the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tqdm import tqdm

from oracles.audit.findings import findings
from oracles.audit.judge import Training, one_blas_thread_per_process
from oracles.audit.report import audit_json, markdown, plots, terminal
from oracles.audit.run import available_styles, run_audit
from oracles.cli.baseline import load_baseline
from oracles.cli.cases import add_report_options
from oracles.cli.outputs import exit_status, writable, write_reports
from reference_nn import NETWORKS, VARIANTS
from reference_nn.allocator import keep_freed_memory
from reference_nn.data import load_mnist


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m oracles.audit``."""
    parser = argparse.ArgumentParser(
        prog="python -m oracles.audit",
        description="Judge every document's hand-written gradients against finite differences "
        "and JAX, name each defect's cause, and measure what it does to training.",
    )
    parser.add_argument(
        "case",
        nargs="?",
        metavar="MODULE:FUNCTION",
        help="audit your own networks instead: FUNCTION() in MODULE (a module or a .py path) "
        "returns an oracles.Case or a list of them (the same as python -m oracles)",
    )
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), help="default: all")
    parser.add_argument(
        "--mnist-dir", default=None, help="folder of the IDX files (default: $MNIST_DIR or cache)"
    )
    add_report_options(parser)
    parser.add_argument(
        "--no-training",
        action="store_true",
        help="skip training each defect's shortened protocol (its consequence is then null)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit and write its reports; the exit status (0 ok, 1 a failure, 2 an error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.case and (args.networks or args.mnist_dir or args.no_training):
        parser.error("--networks, --mnist-dir and --no-training apply to the five documents only")
    try:
        if args.case:
            from oracles.cli.cases import run as run_cases

            return run_cases(args)
        return _audit(args)
    except (ValueError, TypeError, OSError, RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _audit(args: argparse.Namespace) -> int:
    writable(args)
    baseline = load_baseline(Path(args.baseline)) if args.baseline else None
    mnist = load_mnist(args.mnist_dir)
    names = tuple(args.networks) if args.networks else tuple(NETWORKS)
    styles, _ = available_styles()

    def advance(bar: tqdm[Any]) -> Callable[[str], None]:
        def step(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update(1)

        return step

    with Training(mnist) if not args.no_training else nullcontext() as training:
        cases = len(names) * len(VARIANTS) * len(styles)
        with tqdm(total=cases, desc="checks", unit="case") as bar:
            audit = run_audit(mnist, names=names, progress=advance(bar),
                              consequences=training is not None, training=training)  # fmt: skip
        if training is not None:
            with tqdm(total=training.total, desc="consequences (trained)", unit="run") as bar:
                training.collect(audit, progress=advance(bar))
    found = findings(audit)
    print(terminal(audit, found))
    document = audit_json(audit)
    write_reports(args, document, lambda: markdown(audit, found),
                  lambda folder: plots(audit, found, folder))  # fmt: skip
    failing = ("wrong",) if args.fail_on == "wrong" else ("wrong", "inexact")
    hit = sorted({v.network for v in audit.verdicts
                  if v.variant == "published" and v.verdict in failing})  # fmt: skip
    status = 0 if audit.reference_passed and audit.harness_consistent else 1
    return exit_status(args, status, hit, document, baseline)


def run() -> None:
    """The program: ``main`` in a process with one BLAS thread that keeps the memory NumPy
    frees (as its training processes do), then exit with its status."""
    one_blas_thread_per_process()
    keep_freed_memory()
    sys.exit(main())


if __name__ == "__main__":
    run()
