"""Points that show little: where a weight matrix has one value in every entry (zeros or ones,
as initialisation and shrinking give) its units are interchangeable, and with zeros every unit
of the layer sits on its kink for every example. There a right gradient's value on a kink can
fall outside what nearby points measure, and a wrong one can look like another defect; the
checker says so instead of judging kinks there or naming a defect from such a point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray


def degenerate(x: Mapping[str, NDArray[Any]]) -> tuple[str, ...]:
    """One phrase per weight (a parameter with two or more axes longer than 1) whose entries are
    all equal, such as ``every entry of W1 is 0``; empty at a point that is not degenerate.
    Biases of one value (zeros, the usual start) are not degenerate on their own."""
    found = []
    for name, value in x.items():
        v = np.asarray(value)
        if sum(n > 1 for n in v.shape) >= 2 and bool(np.all(v == v.flat[0])):
            found.append(f"every entry of {name} is {float(v.flat[0]):g}")
    return tuple(found)


def degenerate_words(found: tuple[str, ...]) -> str:
    """The sentence a report gives for a degenerate point."""
    return (
        f"degenerate point: {'; '.join(found)} (its units are interchangeable, and with zeros "
        "every unit of the layer is on its kink): a failure on a kink here is set aside, not "
        "judged, and no defect is named from this point; check at other points "
        "(check_at_points)"
    )
