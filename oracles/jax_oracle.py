"""The JAX oracle: gradients by ``jax.grad`` in float64, compared per parameter.

Two formulations, two questions:
  ``own_forward``  autodiff of the project's own vectorised forward and loss, run with
                   ``xp = jax.numpy``: is the hand-written backward the derivative of
                   exactly this forward (the document's own, for the published variant)?
  ``independent``  autodiff of a formulation written here from the spec alone, with
                   ``jax.nn`` activations and ``jax.nn.log_softmax``: is the gradient that
                   of the network the document describes? This also catches a forward
                   that departs from the intended math.
Entries where the autodiff gradient is not finite (the published 001 sigmoid overflows
exp(), and its derivative through inf is NaN) cannot be judged by this oracle: they are
set aside and counted, and a parameter with no entry left is not passed. The tolerance
is autodiff's own (``oracles.tolerances.AUTODIFF_TOLERANCES``: float64 rounding, 1e-10),
not the finite differences' 1e-6.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from oracles.report import GradientReport, ParameterReport
from oracles.tolerances import Tolerance, autodiff_tolerance_for
from reference_nn import vectorized
from reference_nn.network import Network

Formulation = Literal["own_forward", "independent"]
FORMULATIONS: tuple[Formulation, ...] = ("own_forward", "independent")


def _jax() -> tuple[ModuleType, ModuleType]:
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, importlib.import_module("jax.numpy")


def independent_loss(net: Network) -> Any:
    """The mean cross-entropy of the network the spec describes, written in jax.nn:
    ``loss(params, X, y)`` with X (784, m) and y (m,); independent of our own code."""
    jax, jnp = _jax()
    spec = net.spec
    activation = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[spec.hidden_activation]

    def loss(params: dict[str, Any], X: Any, y: Any) -> Any:
        A = X
        for k in range(1, spec.num_layers + 1):
            Z = params[f"W{k}"] @ A + params[f"b{k}"]
            A = activation(Z) if k < spec.num_layers else Z
        log_p = jax.nn.log_softmax(A, axis=0)
        return -jnp.mean(jnp.take_along_axis(log_p, y[None, :], axis=0))

    return loss


def jax_gradients(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    formulation: Formulation = "own_forward",
) -> dict[str, NDArray[np.float64]]:
    """``jax.grad`` of the mean loss at ``params`` (W_k (n_k, n_{k-1}), b_k (n_k, 1)), float64.

    X has shape (784, m), examples as columns; y holds m integer labels.
    """
    jax, jnp = _jax()
    net.check_params(dict(params))
    net.check_inputs(X)
    net.check_labels(X, y)
    p = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
    Xj, yj = jnp.asarray(X, dtype=jnp.float64), jnp.asarray(y)
    if formulation == "own_forward":
        grads = jax.grad(lambda q: vectorized.loss(q, Xj, yj, net.recipe))(p)
    elif formulation == "independent":
        grads = jax.grad(independent_loss(net))(p, Xj, yj)
    else:
        raise ValueError(f"unknown formulation {formulation!r}; expected one of {FORMULATIONS}")
    return {k: np.asarray(grads[k], dtype=np.float64) for k in params}


def compare_gradients(
    analytic: Mapping[str, NDArray[Any]],
    reference: Mapping[str, NDArray[Any]],
    *,
    oracle: str,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientReport:
    """Judge ``analytic`` against an exact ``reference`` gradient, entry by entry.

    Passes where |a - r| <= rtol * max(|a|, |r|) + atol * max|r|, the last over the
    parameter's finite reference entries, with tolerances from ``AUTODIFF_TOLERANCES``
    for the dtype of ``analytic`` unless given. Entries whose reference is not finite are
    set aside and counted; a parameter with none left is not passed.
    """
    dtypes = [np.asarray(g).dtype for g in analytic.values()]
    dtype = min(dtypes, key=lambda d: np.finfo(d).bits)
    table = autodiff_tolerance_for(dtype)
    tol = Tolerance(table.rtol if rtol is None else rtol, table.atol if atol is None else atol)
    reports = []
    for name, value in analytic.items():
        a = np.asarray(value, dtype=np.float64)
        r = np.asarray(reference[name], dtype=np.float64)
        if a.shape != r.shape:
            raise ValueError(f"{name}: analytic shape {a.shape}, reference shape {r.shape}")
        judged = np.isfinite(r)
        r_judged = np.where(judged, r, 0.0)
        atol_abs = tol.atol * float(np.max(np.abs(r_judged), initial=0.0))
        error = np.where(judged, np.abs(a - r_judged), 0.0)
        scale = np.maximum(np.abs(a), np.abs(r_judged))
        allowed = tol.rtol * scale + atol_abs
        ratio = np.where(judged, error / np.maximum(allowed, np.finfo(np.float64).tiny), 0.0)
        worst = np.unravel_index(int(np.argmax(ratio)), a.shape)
        floor = max(atol_abs / tol.rtol, np.finfo(np.float64).tiny)
        reports.append(
            ParameterReport(
                name=name,
                shape=a.shape,
                mode="all",
                checked=a.size,
                kinks=0,
                set_aside=int((~judged).sum()),
                max_abs_error=float(error.max()),
                max_relative_error=float((error / np.maximum(scale, floor)).max()),
                worst_index=tuple(int(i) for i in worst),
                analytic=float(a[worst]),
                numerical=float(r[worst]),
                rtol=tol.rtol,
                atol=atol_abs,
                passed=bool(judged.any()) and bool(np.all(error <= allowed)),
                resolution=float(
                    np.median((allowed / np.maximum(scale, floor))[judged])
                    if judged.any()
                    else np.nan
                ),
            )
        )
    return GradientReport(
        oracle=oracle,
        method="autodiff",
        mode="all",
        gradient_dtype=str(dtype),
        parameters=tuple(reports),
    )


def check_against_jax(
    net: Network,
    params: Mapping[str, NDArray[Any]],
    X: NDArray[Any],
    y: NDArray[Any],
    formulation: Formulation = "own_forward",
) -> GradientReport:
    """The network's hand-written gradients judged against ``jax_gradients``."""
    analytic = net.gradients(dict(params), X, y)
    reference = jax_gradients(net, params, X, y, formulation)
    return compare_gradients(analytic, reference, oracle=f"jax ({formulation})")
