"""The diagnosis's sentences: what each defect means, and where to look, in a learner's words."""

from __future__ import annotations

SIGN = "the negative of the right gradient: a flipped sign (often dZ_L = Y - A_L for A_L - Y)"
TRANSPOSE = (
    "the transpose of the right gradient: dW = A_{k-1} dZ_k^T instead of dZ_k A_{k-1}^T, "
    "or one transpose too many"
)
BIAS_SUM = (
    "one number shared by every unit, the sum of the right gradient over units and examples: "
    "np.sum(dZ) where the sum over the examples alone is meant (axis=1 with examples as "
    "columns, axis=0 with examples as rows; for a softmax output layer the whole sum is 0 up "
    "to rounding)"
)


def scale_words(c: float, examples: int | None) -> str:
    """The factor in words; a reading by the batch size m only when it is m (or 1/m)."""
    text = f"{c:.6g} times the right gradient"
    if examples is not None and examples > 2 and abs(c - examples) <= 1e-6 * examples:
        return f"{text}: the batch size m = {examples}, so a missing division by m"
    if examples is not None and examples > 2 and abs(c * examples - 1) <= 1e-6:
        return f"{text}: 1/m for the batch size m = {examples}, so a division by m done twice"
    if abs(c - 2) <= 2e-6 or abs(c - 0.5) <= 1e-6:
        return f"{text}: a factor of 2 (a 1/2 in the loss, or its absence)"
    return f"{text}: a stray constant factor {c:.6g}"


def l2_words(lam: float, name: str) -> str:
    """An L2 coefficient in words: one the loss lacks, or one the gradient lacks."""
    if lam > 0:
        return (
            f"off by {lam:.6g} x {name}: an L2 term that the loss does not have, or has with "
            "a smaller coefficient (counted twice, or on a parameter it should not touch)"
        )
    return (
        f"short of {-lam:.6g} x {name}: the loss's L2 term is missing from the gradient, "
        "or has a smaller coefficient there"
    )
