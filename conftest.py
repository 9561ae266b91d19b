"""Root test configuration: hypothesis profiles, and skips for GPU and JAX tests with reasons.

Choose a hypothesis profile with HYPOTHESIS_PROFILE: ``dev`` (default, quick), ``ci``
(derandomized, no deadline, prints the reproduction blob), ``ci-seeded`` (ci, but honouring
--hypothesis-seed, for flakiness runs) or ``thorough`` (many examples).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

# JAX takes 75% of a GPU's memory when it starts unless told not to; the gpu tests' CuPy
# arrays, and parallel test workers each with their own JAX, would then run out.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# One example database per pytest-xdist worker (gw0, gw1...; "main" without xdist), so that
# parallel workers never write the same files.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_database = DirectoryBasedExampleDatabase(f".hypothesis/examples-{_worker}")
settings.register_profile("dev", max_examples=50, deadline=None, database=_database)
# Derandomized: no database to keep (hypothesis sets none).
settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None, print_blob=True)
# ci without derandomize, so that --hypothesis-seed takes effect: for flakiness runs.
settings.register_profile(
    "ci-seeded", settings.get_profile("ci"), derandomize=False, database=_database
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, print_blob=True, database=_database
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests without CuPy and a CUDA device, ``jax`` tests without JAX."""
    del config
    from oracles.optional import missing
    from reference_nn.gpu import gpu_unavailable_reason

    reasons: dict[str, str | None] = {}
    for item in items:
        for marker, find in (("gpu", gpu_unavailable_reason), ("jax", lambda: missing("jax"))):
            if marker in item.keywords:
                if marker not in reasons:
                    reasons[marker] = find()
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=str(reasons[marker])))
