"""Hypothesis strategies for property-based gradient tests in a user's own pytest suite
(needs ``hypothesis``, which the checker itself does not)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracles.inputs import Params, float64_copies


def params_like(params: Params, *, scale: float = 10.0) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of float64 arrays shaped like ``params``, each entry within ``scale`` times the
    parameter's largest magnitude (at least ``scale``): finite, no subnormals, and no exact zeros
    (hypothesis shrinks towards them, and a weight matrix of zeros puts every unit of its layer
    on its kink for every example, where a valid ReLU'(0) can be judged wrong:
    docs/checker.md)."""
    x = float64_copies(params)
    fields = {}
    for name, v in x.items():
        bound = scale * max(float(np.max(np.abs(v))), 1.0)
        elements = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False).filter(bool)
        fields[name] = hnp.arrays(np.float64, v.shape, elements=elements)
    return st.fixed_dictionaries(fields)
