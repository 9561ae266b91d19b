"""Root test configuration: hypothesis profiles, and skips for GPU, JAX and MNIST tests with
reasons.

Choose a hypothesis profile with HYPOTHESIS_PROFILE: ``dev`` (default, quick), ``ci``
(derandomized, no deadline, prints the reproduction blob), ``ci-seeded`` (ci, but honouring
--hypothesis-seed, for flakiness runs) or ``thorough`` (many examples). REQUIRE_MNIST=1 (or
CI=true) turns the MNIST tests' skip into an error: CI runs them or fails.
"""

from __future__ import annotations

import os
from typing import Any

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
    """Skip ``gpu`` tests without CuPy and a CUDA device, ``jax`` tests without JAX, ``torch``
    tests without torch, and ``mnist`` tests (those using the ``mnist`` fixture included)
    without MNIST, each with its reason; where MNIST is required
    (tests.helpers.mnist_required), its absence is an error."""
    from oracles._engine.optional import missing
    from reference_nn.gpu import gpu_unavailable_reason

    for item in items:
        if "mnist" in item.fixturenames and item.get_closest_marker("mnist") is None:
            item.add_marker(pytest.mark.mnist)
    reasons: dict[str, str | None] = {}
    finders = (
        ("gpu", gpu_unavailable_reason),
        ("jax", lambda: missing("jax")),
        ("torch", lambda: missing("torch")),
        ("mnist", lambda: _mnist_unavailable_reason(config)),
    )
    for item in items:
        for marker, find in finders:
            if item.get_closest_marker(marker) is not None:
                if marker not in reasons:
                    reasons[marker] = find()
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=str(reasons[marker])))


def _mnist_unavailable_reason(config: pytest.Config) -> str | None:
    """Why MNIST is not available (None when it is): in a pytest-xdist worker as the controller
    decided it, for the session; else decided here. An error where it is required."""
    from tests.helpers import mnist_unavailable_reason

    workerinput = getattr(config, "workerinput", {})
    reason = workerinput["mnist"] if "mnist" in workerinput else mnist_unavailable_reason()
    _refuse_to_skip(reason)
    return reason


def _refuse_to_skip(reason: str | None) -> None:
    """Where the MNIST tests must run (REQUIRE_MNIST=1, CI=true), their skip is an error."""
    from tests.helpers import mnist_required

    if reason and mnist_required():
        raise pytest.UsageError(
            f"{reason}. REQUIRE_MNIST=1 or CI=true: the tests that need MNIST must run here."
        )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: decide once for the session whether MNIST is
    available (a download is tried at most once), and tell every worker."""
    from tests.helpers import mnist_unavailable_reason

    node.workerinput["mnist"] = reason = mnist_unavailable_reason()
    _refuse_to_skip(reason)
