"""The one probe for an optional dependency: what is missing, and the pip command that
installs it."""

from __future__ import annotations

import importlib

# Each extra of pyproject.toml that the checker or the audit may need, and what it installs.
EXTRAS = {
    "jax": ("jax",),
    "plot": ("matplotlib",),
    "properties": ("hypothesis", "scipy"),
    "torch": ("torch",),
    "gpu": ("cupy",),
}


def missing(needs: str) -> str | None:
    """Why ``needs`` (an extra of EXTRAS, or one module) cannot be used here, naming the extra
    and its pip command; None when every module it needs imports."""
    extra = needs if needs in EXTRAS else next((e for e, m in EXTRAS.items() if needs in m), None)
    modules = EXTRAS.get(extra, (needs,)) if extra else (needs,)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            install = f"pip install 'reference-nn[{extra}]'" if extra else f"pip install {module}"
            return f"{module} does not import ({exc}); {install}"
    return None
