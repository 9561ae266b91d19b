"""The one probe for an optional dependency."""

from __future__ import annotations

import importlib

EXTRAS = {"jax": "jax", "matplotlib": "plot", "hypothesis": "properties"}


def missing(module: str) -> str | None:
    """Why ``module`` cannot be used here (naming the extra that installs it), or None."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module, module)
        return f"{module} does not import ({exc}); install the '{extra}' extra"
    return None
