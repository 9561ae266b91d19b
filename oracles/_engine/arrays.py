"""Parameters of NumPy, CuPy or jax.numpy arrays, checked as they are.

The user's ``loss`` and ``grad`` get float64 copies of their parameters' own kind, on their
parameters' device (JAX's float64 enabled for the call); the checker itself works on the host.
Each array or number read back from the device is counted: one per loss value, one per
gradient entry the check reads, one per parameter at the start.

The kind is read from the array's type (its module: ``cupy``, or ``jax``/``jaxlib``), as
``reference_nn.arrays.array_module`` does; array-api-compat's ``array_namespace`` was measured
in that role (2026-12-04): 7-9% slower steps on the small networks, wrapped namespaces instead
of the array's own module, and it takes an ndarray subclass standing in for CuPy for NumPy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.inputs import split

ARRAY_KINDS = ("numpy", "cupy", "jax")


def kind_name(value: Any) -> str:
    """``numpy``, ``cupy`` or ``jax``: whose array ``value`` is (anything else is NumPy's)."""
    root = type(value).__module__.split(".")[0]
    if root == "cupy":
        return "cupy"
    if root in ("jax", "jaxlib"):
        return "jax"
    return "numpy"


@dataclass
class Kind:
    """One kind of array, and the transfers made between it and the host for a check."""

    name: str
    template: Any = None  # an array of this kind, on the device the copies go to
    reads: int = field(default=0)

    @property
    def on_host(self) -> bool:
        return self.name == "numpy"

    def host(self, value: Any) -> NDArray[Any]:
        """``value`` as a NumPy array (its own dtype), read back from the device once."""
        if self.on_host:
            return np.asarray(value)
        self.reads += 1
        if self.name == "cupy" and kind_name(value) == "cupy":
            return np.asarray(importlib.import_module("cupy").asnumpy(value))
        return np.asarray(value)

    def device(self, host: NDArray[Any]) -> Any:
        """A copy of ``host`` (its dtype kept) of this kind, on the template's device (the
        current one without a template)."""
        if self.name == "cupy":
            cupy = importlib.import_module("cupy")
            where: Any = getattr(self.template, "device", None)  # a cupy.cuda.Device
            context = where if hasattr(where, "__enter__") else nullcontext()
            with context:
                return cupy.asarray(host)
        if self.name == "jax":
            jax = importlib.import_module("jax")
            where = None if self.template is None else next(iter(self.template.devices()))
            return jax.device_put(host, where)
        return host

    def calls(self) -> AbstractContextManager[Any]:
        """What the user's functions run in: JAX with float64 enabled, else nothing."""
        if self.name == "jax":
            return importlib.import_module("jax").enable_x64(True)  # type: ignore[no-any-return]
        return nullcontext()


def kind_of(params: Mapping[str, Any]) -> Kind:
    """The one kind of every parameter; mixed kinds raise ValueError naming them."""
    kinds: dict[str, list[str]] = {}
    for name, value in params.items():
        kinds.setdefault(kind_name(value), []).append(str(name))
    if len(kinds) > 1:
        where = "; ".join(f"{k}: {', '.join(names)}" for k, names in kinds.items())
        raise ValueError(
            f"params mix array kinds ({where}): put every parameter on one device (the loss "
            "and grad are called with copies of that one kind)"
        )
    name = next(iter(kinds), "numpy")
    template = next(iter(params.values())) if params else None
    return Kind(name, template)


class _ReadOnAccess(Mapping[str, Any]):
    """The user's gradients, each read back from the device when the checker reads it."""

    def __init__(self, given: Mapping[str, Any], kind: Kind) -> None:
        self._given, self._kind = given, kind

    def __getitem__(self, key: str) -> Any:
        value = self._given[key]
        return self._kind.host(value) if kind_name(value) == self._kind.name else value

    def __contains__(self, key: object) -> bool:  # Mapping's own would read the value back
        return key in self._given

    def __iter__(self) -> Iterator[str]:
        return iter(self._given)

    def __len__(self) -> int:
        return len(self._given)


def on_host(
    loss: Callable[[dict[str, Any]], Any],
    grad: Callable[[dict[str, Any]], Any],
    params: Mapping[str, Any],
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any], Any, Kind]:
    """``(loss, grad, params, kind)`` as the host-side checker takes them: for NumPy
    parameters, as given; for CuPy or JAX ones, functions of NumPy points that call the user's
    with float64 copies of the parameters' kind, and the parameters read back once."""
    if not isinstance(params, Mapping) or not params:
        return loss, grad, params, Kind("numpy")
    kind = kind_of(params)
    if kind.on_host:
        return loss, grad, params, kind

    def mirrored(point: Mapping[str, NDArray[np.float64]]) -> dict[str, Any]:
        return {k: kind.device(np.asarray(v, dtype=np.float64)) for k, v in point.items()}

    def host_loss(point: dict[str, Any]) -> float:
        with kind.calls():
            value = loss(mirrored(point))
        kind.reads += 1
        return float(value)

    def host_grad(point: dict[str, Any]) -> Mapping[str, Any]:
        with kind.calls():
            given = grad(mirrored(point))
        return _ReadOnAccess(given, kind) if isinstance(given, Mapping) else given

    host_params = {k: kind.host(v) for k, v in params.items()}
    return host_loss, host_grad, host_params, kind


def prepared(
    caller: str,
    loss: Callable[[dict[str, Any]], Any],
    grad: Callable[[dict[str, Any]], Any] | None,
    params: Mapping[str, Any] | None,
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any], Any, Kind]:
    """What every public check does first: ``params`` required (``caller`` names the function
    in the error), ``grad`` None split off a loss returning ``(value, gradients)``, and the
    functions and parameters taken to the host (``on_host``)."""
    if params is None:
        raise TypeError(f"{caller} needs params, the dict of parameter arrays")
    if grad is None:
        loss, grad = split(loss)
    return on_host(loss, grad, params)
