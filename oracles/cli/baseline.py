"""``--baseline``: the rows of an earlier audit JSON that passed there and fail now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEY = ("network", "variant", "style", "oracle", "formulation", "parameter")


def regressions(now: list[dict[str, Any]], baseline: dict[str, Any]) -> list[str]:
    """Rows (``results`` of two audit JSONs) that passed in ``baseline`` and fail ``now``."""

    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(row.get(k, "") for k in KEY)

    current = {key(row): row for row in now}
    out = []
    for old in baseline.get("results", []):
        row = current.get(key(old))
        if old.get("passed") and row is not None and not row["passed"]:
            out.append(
                f"{'/'.join(key(old))}: passed in the baseline (max relative error "
                f"{old['max_relative_error']:.2e}), fails now ({row['max_relative_error']:.2e})"
            )
    return out


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline JSON, with a clear error when it is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"baseline {path}: not a readable audit JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError(f"baseline {path}: no 'results' list; write one with --json")
    return data
