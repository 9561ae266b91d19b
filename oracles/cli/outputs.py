"""What both audits' commands write (--json, --markdown, --plots) and how they exit
(--fail-on, --baseline), the five documents' and your own networks' alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from oracles._engine.optional import missing
from oracles.cli.baseline import regressions


def writable(args: Any) -> None:
    """Before any work: an ImportError naming the extra when --plots cannot be drawn here."""
    reason = missing("plot") if args.plots else None
    if reason:
        raise ImportError(f"--plots draws with matplotlib: {reason}")


def write_report(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (its folders made) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")


def write_reports(
    args: Any,
    document: dict[str, Any],
    markdown: Callable[[], str],
    plots: Callable[[Path], Iterable[Path]],
) -> None:
    """The JSON ``document``, the Markdown and the plots, where ``args`` asks for them."""
    if args.json:
        write_report(Path(args.json), json.dumps(document, indent=1) + "\n")
    if args.markdown:
        write_report(Path(args.markdown), markdown())
    if args.plots:
        for path in plots(Path(args.plots)):
            print(f"wrote {path}")


def exit_status(
    args: Any,
    status: int,
    hit: Sequence[str],
    document: dict[str, Any],
    baseline: dict[str, Any] | None,
) -> int:
    """``status``, or 1 when --fail-on ``hit`` something (the names) or a row that passed in
    the ``baseline`` fails in ``document``; each said."""
    if args.fail_on and hit:
        print(f"--fail-on {args.fail_on}: {', '.join(hit)}")
        status = 1
    if baseline is not None:
        broken = regressions(document["results"], baseline)
        for line in broken:
            print(f"REGRESSION: {line}")
        print(f"baseline {args.baseline}: {len(broken)} rows that passed now fail")
        status = status or (1 if broken else 0)
    return status
