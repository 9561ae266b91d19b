"""Hypothesis strategies for property-based gradient tests in a user's own pytest suite
(needs ``hypothesis``, which the checker itself does not)."""

from __future__ import annotations

from typing import Any

import numpy as np

from oracles._engine.optional import missing

if reason := missing("properties"):
    raise ImportError(f"oracles.checks.strategies draws with hypothesis: {reason}")

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracles._engine.degenerate import degenerate
from oracles._engine.inputs import Params, float64_copies


def params_like(params: Params, *, scale: float = 10.0) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of float64 arrays shaped like ``params``, each entry within ``scale`` times the
    parameter's largest magnitude (at least ``scale``): finite, no subnormals, no exact zeros,
    and no degenerate point (hypothesis shrinks towards zeros and towards one value in every
    entry: a weight matrix of one value makes its units interchangeable, and of zeros puts every
    unit of its layer on its kink, where a slip can look like another defect:
    ``oracles._engine.degenerate``)."""
    x = float64_copies(params)
    fields = {}
    for name, v in x.items():
        bound = scale * max(float(np.max(np.abs(v))), 1.0)
        elements = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False).filter(bool)
        fields[name] = hnp.arrays(np.float64, v.shape, elements=elements)
    return st.fixed_dictionaries(fields).filter(lambda point: not degenerate(point))
