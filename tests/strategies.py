"""Named hypothesis strategies, reused across the property tests: small shapes, bounded floats."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_SIDE = 6

# Batch sizes and layer widths: 1 included on purpose.
batch_sizes = st.integers(min_value=1, max_value=MAX_SIDE)
widths = st.integers(min_value=1, max_value=MAX_SIDE)
depths = st.integers(min_value=1, max_value=3)
num_classes = st.integers(min_value=1, max_value=12)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
matrix_shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=MAX_SIDE)


def finite(dtype: type[np.floating], bound: float) -> st.SearchStrategy[float]:
    """Finite floats of ``dtype`` in [-bound, bound]."""
    width = np.finfo(dtype).bits
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)


def logits(dtype: type[np.floating] = np.float64, bound: float = 1e4) -> st.SearchStrategy:
    """Matrices (n, m) of logits of ``dtype`` in [-bound, bound], one example per column."""
    return hnp.arrays(dtype, matrix_shapes, elements=finite(dtype, bound))


def vectors(bound: float = 1e4) -> st.SearchStrategy:
    """1-D and 2-D float64 arrays with entries in [-bound, bound]."""
    return hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=2, max_side=MAX_SIDE),
        elements=finite(np.float64, bound),
    )


@st.composite
def labels(draw: st.DrawFn, classes: int | None = None) -> tuple[np.ndarray, int]:
    """(labels of shape (m,) in 0..C-1, C): any labels the classes allow, C from 1 to 12."""
    C = draw(num_classes) if classes is None else classes
    m = draw(batch_sizes)
    values = draw(hnp.arrays(np.int64, (m,), elements=st.integers(0, C - 1)))
    return values, C


@st.composite
def pixel_batches(draw: st.DrawFn, m: int) -> np.ndarray:
    """X of shape (784, m) in [0, 1]: mostly zeros, as MNIST is, filled sparsely."""
    return draw(
        hnp.arrays(
            np.float64,
            (784, m),
            elements=st.floats(0.0, 1.0, width=64),
            fill=st.just(0.0),
        )
    )
