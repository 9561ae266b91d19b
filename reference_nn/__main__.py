"""Command line: ``python -m reference_nn train NAME [options]`` and ``reproduce``; the audit
is ``python -m oracles.audit``.

The library returns histories; printing, progress bars and files are done here only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from reference_nn.allocator import keep_freed_memory
from reference_nn.data import load_mnist
from reference_nn.network import STYLES, network
from reference_nn.networks import NETWORKS
from reference_nn.protocol import prepare
from reference_nn.spec import VARIANTS
from reference_nn.training import train


def _train_command(args: argparse.Namespace) -> int:
    net = network(args.name, style=args.style, variant=args.variant)
    spec = net.spec
    iterations = spec.training.iterations if args.iterations is None else args.iterations
    data = prepare(spec, args.variant, load_mnist(args.mnist_dir), seed=args.seed)
    params = net.init_params(args.seed)
    started = time.perf_counter()
    with tqdm(total=iterations, desc=f"{spec.name} {args.variant} {args.style}", unit="it") as bar:
        result = train(
            net, params, data.X_train, data.y_train,
            iterations=iterations, on_step=lambda _t: bar.update(1),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    train_accuracy = net.accuracy(result.params, data.X_train, data.y_train)
    test_accuracy = net.accuracy(result.params, data.X_test, data.y_test)
    final_loss = result.history[-1].loss if result.history else float("nan")
    print(
        f"{spec.name} ({args.variant}, {args.style}): {iterations} iterations in {seconds:.1f} s, "
        f"final loss {final_loss:.4f}, train accuracy {100 * train_accuracy:.2f}%, "
        f"{data.test_name} accuracy {100 * test_accuracy:.2f}%"
    )
    if args.json:
        report: dict[str, Any] = {
            "network": spec.name,
            "variant": args.variant,
            "style": args.style,
            "iterations": iterations,
            "learning_rate": spec.training.learning_rate,
            "seed": args.seed,
            "train_examples": int(data.X_train.shape[1]),
            "test_examples": int(data.X_test.shape[1]),
            "test_name": data.test_name,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "published_train_accuracy": spec.published_result.train_accuracy,
            "published_test_accuracy": spec.published_result.test_accuracy,
            "seconds": seconds,
            "history": result.history_dicts(),
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _reproduce_command(args: argparse.Namespace) -> int:
    from reference_nn.reproduce import run_protocol
    from reference_nn.reproduce_report import table_markdown, write_reports

    mnist = load_mnist(args.mnist_dir)
    runs = []
    written: list[Path] = []
    for name in args.networks or sorted(NETWORKS):
        for variant, seed in itertools.product(args.variants, args.seeds or [args.seed]):
            total = (
                NETWORKS[name].training.iterations if args.iterations is None else args.iterations
            )
            with tqdm(total=total, desc=f"{name} {variant} seed {seed}", unit="it") as bar:
                runs.append(
                    run_protocol(
                        name, variant, mnist, iterations=args.iterations, seed=seed,
                        log_every=1, on_step=lambda _t: bar.update(1),
                    )
                )  # fmt: skip
            # Written after every run, so that a long reproduction stopped midway keeps
            # what it measured.
            written = write_reports(runs, Path(args.out))
    print(table_markdown(runs))
    for path in written:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m reference_nn``."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_nn",
        description="Reference from-scratch MNIST networks of five published documents.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser(
        "train", help="train one document's network on MNIST with its published protocol"
    )
    train_parser.add_argument("name", choices=sorted(NETWORKS), help="the network")
    train_parser.add_argument("--variant", choices=VARIANTS, default="reference")
    train_parser.add_argument("--style", choices=STYLES, default="vectorized")
    train_parser.add_argument(
        "--iterations", type=int, default=None, help="default: the document's own count"
    )
    train_parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffle")
    train_parser.add_argument(
        "--mnist-dir", default=None, help="folder of the IDX files (default: $MNIST_DIR or cache)"
    )
    train_parser.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    train_parser.set_defaults(run=_train_command)

    reproduce_parser = commands.add_parser(
        "reproduce",
        help="run every document's published protocol and compare with its reported accuracy",
    )
    reproduce_parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS))
    reproduce_parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    reproduce_parser.add_argument(
        "--iterations", type=int, default=None, help="default: each document's own count"
    )
    reproduce_parser.add_argument("--seed", type=int, default=0)
    reproduce_parser.add_argument(
        "--seeds", type=int, nargs="+", metavar="SEED",
        help="run every protocol once per seed and report the spread (overrides --seed)",
    )  # fmt: skip
    reproduce_parser.add_argument("--out", default="reports/reproduce", help="output folder")
    reproduce_parser.add_argument(
        "--mnist-dir", default=None, help="folder of the IDX files (default: $MNIST_DIR or cache)"
    )
    reproduce_parser.set_defaults(run=_reproduce_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The program (``python -m reference_nn``, the ``reference-nn`` script): ``main`` in a
    process that keeps the memory NumPy frees, then exit with its status."""
    # The process's own choice, not the library's: a training step in a fresh process
    # 12-42% faster on the 10- and 16-unit networks (benchmarks/allocator.py).
    keep_freed_memory()
    sys.exit(main())


if __name__ == "__main__":
    run()
