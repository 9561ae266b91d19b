"""A corpus of layers' slips for check_backward's diagnosis (#36): layer functions written as
public from-scratch code writes them (tests/test_backward.py: affine, max pooling, batch norm,
an embedding, a tanh RNN over a sequence and one step of it), each with one slip and the kind
a user would want named. It holds slips the diagnosis does not name yet (the rate is the
measure, not a test): ``python -m tests.meta.suite`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oracles import assert_backward
from tests import test_backward as tb


def _rnn_inputs(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.standard_normal((2, 3, 4)), "h0": rng.standard_normal((2, 5)),
            "Wx": rng.standard_normal((4, 5)) / 2, "Wh": rng.standard_normal((5, 5)) / 2,
            "b": rng.standard_normal(5)}  # fmt: skip


def _rnn(slip: str) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    return tb.rnn_forward, lambda d, c: tb.rnn_backward(d, c, slip), _rnn_inputs


def _rnn_no_dh0(dh: Any, cache: Any) -> Any:
    dx, _, dWx, dWh, db = tb.rnn_backward(dh, cache)
    return dx, np.zeros_like(cache[1]), dWx, dWh, db


def _rnn_transposed(dh: Any, cache: Any) -> Any:
    dx, dh0, dWx, dWh, db = tb.rnn_backward(dh, cache)
    return dx, dh0, dWx, dWh.T, db


def _affine(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.standard_normal((4, 3, 2)), "w": rng.standard_normal((6, 5)),
            "b": rng.standard_normal(5)}  # fmt: skip


def _norm(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.standard_normal((6, 4)), "gamma": rng.standard_normal(4) + 2,
            "beta": rng.standard_normal(4)}  # fmt: skip


def _step(rng: np.random.Generator) -> dict[str, Any]:
    return {"x": rng.standard_normal((3, 4)), "prev_h": rng.standard_normal((3, 5)),
            "Wx": rng.standard_normal((4, 5)) / 2, "Wh": rng.standard_normal((5, 5)) / 2,
            "b": rng.standard_normal(5)}  # fmt: skip


# name -> (forward, slipped backward, inputs from a Generator, the kind to name)
CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], str]] = {
    "affine db mean": (tb.affine_forward, lambda d, c: tb.affine_backward(d, c, "db_mean"),
                       _affine, "mean_over_axis"),
    "affine dw halved": (tb.affine_forward, lambda d, c: tb.affine_backward(d, c, "dw_half"),
                         _affine, "scale"),
    "max pool overwriting": (tb.max_pool_forward, lambda d, c: tb.max_pool_backward(d, c, True),
                             lambda r: {"x": r.standard_normal((1, 2, 7, 7)), "pool": 3,
                                        "stride": 2}, "overlapping_windows"),
    "embedding overwriting": (tb.embedding_forward,
                              lambda d, c: tb.embedding_backward(d, c, True),
                              lambda r: {"x": np.array([[0, 2, 2], [1, 0, 3]]),
                                         "W": r.standard_normal((5, 4))}, "repeated_indices"),
    "batch norm mean term": (tb.batchnorm_forward,
                             lambda d, c: tb.batchnorm_backward(d, c, "no_mean_term"), _norm,
                             "normalisation_term"),
    "batch norm variance term": (tb.batchnorm_forward,
                                 lambda d, c: tb.batchnorm_backward(d, c, "no_variance_term"),
                                 _norm, "normalisation_term"),
    "batch norm unbiased variance": (tb.batchnorm_forward,
                                     lambda d, c: tb.batchnorm_backward(d, c, "unbiased_variance"),
                                     _norm, "normalisation_term"),
    "rnn no carry": (*_rnn("no_carry"), "no_carry"),
    "rnn last step only": (*_rnn("last_step_only"), "last_step_only"),
    "rnn tanh of output": (*_rnn("derivative_of_output"), "derivative_of_output"),
    "rnn dWh from h_t": (*_rnn("state_off_by_one"), "state_off_by_one"),
    "rnn h[-1] at step 0": (*_rnn("previous_of_step_0"), "state_off_by_one"),
    "rnn dWx assigned": (*_rnn("dWx_assigned"), "one_step_only"),
    "rnn db assigned": (*_rnn("db_assigned"), "one_step_only"),
    "rnn dh0 dropped": (tb.rnn_forward, _rnn_no_dh0, _rnn_inputs, "zero"),
    "rnn dWh transposed": (tb.rnn_forward, _rnn_transposed, _rnn_inputs, "transpose"),
    "rnn step tanh of output": (tb.rnn_step_forward,
                                lambda d, c: tb.rnn_step_backward(d, c, "tanh_of_output"), _step,
                                "derivative_of_output"),
}  # fmt: skip


def score(seed: int = 0) -> tuple[int, list[str]]:
    """(cases whose diagnosis names exactly the expected kind, the others with what it named)."""
    wrong = []
    for name, (forward, backward, inputs, kind) in CASES.items():
        try:
            assert_backward(forward, backward, inputs(np.random.default_rng(seed)))
        except AssertionError as failed:
            named = [line.split("]")[0].strip(" [") for line in str(failed).splitlines()
                     if line.startswith("  [")]  # fmt: skip
            if named != [kind]:
                wrong.append(f"{name}: named {named}, expected [{kind}]")
        else:
            wrong.append(f"{name}: passed, expected [{kind}]")
    return len(CASES) - len(wrong), wrong
