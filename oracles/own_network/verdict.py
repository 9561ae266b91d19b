"""The verdict on one parameter's gradient, from the two questions an audit asks.

``own``: is it the derivative of the loss the code computes (finite differences)? ``meant``:
is it the derivative of the network meant (autodiff of a reference; None when there is none)?
"""

from __future__ import annotations

VERDICTS = ("correct", "inexact", "wrong")


def verdict(own: bool, meant: bool | None) -> str:
    """``correct``: right for both (or for the code's loss, without a reference); ``inexact``:
    exactly the derivative of one of the two objectives and not of the other; ``wrong``: of
    neither (of the code's loss, without a reference)."""
    if meant is None:
        return "correct" if own else "wrong"
    if own and meant:
        return "correct"
    return "inexact" if own or meant else "wrong"


def at_least(found: str, threshold: str) -> bool:
    """True when ``found`` is ``threshold`` or worse (``inexact`` < ``wrong``)."""
    return VERDICTS.index(found) >= VERDICTS.index(threshold)
