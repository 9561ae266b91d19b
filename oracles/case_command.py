"""``python -m oracles.audit MODULE:FUNCTION``: audit the Cases that ``FUNCTION()`` returns."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from oracles.baseline import load_baseline
from oracles.case import Case, CaseAudit, audit_cases
from oracles.outputs import exit_status, write_reports


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
    status: 1 under --fail-on or --baseline when they find something, else 0."""
    from oracles.case_report import as_json, markdown, plots, terminal

    baseline = load_baseline(Path(args.baseline)) if args.baseline else None
    audits: list[CaseAudit] = audit_cases(load_cases(args.case))
    print(terminal(audits))
    document = as_json(audits)
    write_reports(args, document, lambda: markdown(audits), lambda folder: plots(audits, folder))
    hit = [a.name for a in audits if args.fail_on and a.fails(args.fail_on)]
    return exit_status(args, 0, hit, document, baseline)
