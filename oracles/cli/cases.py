"""``python -m oracles MODULE:FUNCTION``: audit the Cases that ``FUNCTION()`` returns, and
write what is asked. Imports nothing of the five documents (``reference_nn``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracles.cli.baseline import load_baseline
from oracles.cli.outputs import exit_status, writable, write_reports
from oracles.own_network.case import Case, CaseAudit, audit_cases


def load_cases(target: str) -> list[Case]:
    """The Cases of ``MODULE:FUNCTION``: MODULE is a dotted module name (importable from the
    current folder) or a path to a .py file; FUNCTION() returns a Case or a list of them."""
    module_name, sep, function = target.rpartition(":")
    if not sep or not module_name or not function:
        raise ValueError(f"{target!r}: expected MODULE:FUNCTION (a module or a .py path)")
    if module_name.endswith(".py") or Path(module_name).is_file():
        path = Path(module_name)
        if not path.is_file():
            raise ValueError(f"{target!r}: no file {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports, as python FILE has
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        module = importlib.import_module(module_name)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"{target!r}: {module_name} has no function {function!r}")
    made = fn()
    many = [made] if isinstance(made, Case) else made
    if not isinstance(many, list | tuple) or not many or not all(isinstance(c, Case)
                                                                 for c in many):  # fmt: skip
        raise TypeError(f"{target!r} returned {made!r}: expected a Case or a list of Cases")
    names = [c.name for c in many]
    if len(set(names)) != len(names):
        raise ValueError(f"{target!r}: two Cases share a name ({names}); name each one")
    return list(many)


def run(args: Any) -> int:
    """Audit ``args.case`` and write what ``args`` asks (--json, --markdown, --plots); the exit
    status: 1 when a case is ``args.fail_on`` (default ``wrong``) or worse, or a --baseline row
    regressed, else 0."""
    from oracles.reports.case import as_json, markdown, plots, terminal

    args.fail_on = args.fail_on or "wrong"  # a wrong gradient fails your CI unless you say so
    writable(args)
    baseline = load_baseline(Path(args.baseline)) if args.baseline else None
    audits: list[CaseAudit] = audit_cases(load_cases(args.case))
    print(terminal(audits))
    document = as_json(audits)
    write_reports(args, document, lambda: markdown(audits), lambda folder: plots(audits, folder))
    hit = [a.name for a in audits if a.fails(args.fail_on)]
    return exit_status(args, 0, hit, document, baseline)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """--json, --markdown, --plots, --baseline and --fail-on: both audits' commands take them."""
    parser.add_argument("--json", metavar="PATH", help="write every row as JSON here")
    parser.add_argument("--markdown", metavar="PATH", help="write a Markdown report here")
    parser.add_argument("--plots", metavar="DIR", help="write PNG figures here")
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help="a JSON from an earlier --json: fail when a row that passed there fails now",
    )
    parser.add_argument(
        "--fail-on",
        choices=("wrong", "inexact"),
        help="exit 1 when a derivation audited has this verdict or worse (your cases: wrong "
        "unless given)",
    )


def build_parser(prog: str = "python -m oracles") -> argparse.ArgumentParser:
    """The argument parser of ``python -m oracles`` (the ``oracles`` command)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Audit your own networks: each parameter's gradient judged by finite "
        "differences of your loss and, given the network you meant, by jax.grad of it.",
    )
    parser.add_argument(
        "case",
        metavar="MODULE:FUNCTION",
        help="FUNCTION() in MODULE (a module or a .py path) returns an oracles.Case or a list",
    )
    add_report_options(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m oracles") -> int:
    """Audit the cases and write the reports; the exit status (0 ok, 1 a failure under
    --fail-on or --baseline, 2 an error, said on stderr)."""
    args = build_parser(prog).parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, OSError, RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_command() -> None:
    """The ``oracles`` console script: ``main``, then exit with its status."""
    sys.exit(main(prog="oracles"))
