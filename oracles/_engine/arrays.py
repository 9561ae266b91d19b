"""Parameters of NumPy, CuPy, jax.numpy or torch arrays, checked as they are.

The user's ``loss`` and ``grad`` get float64 copies of their parameters' own kind, on their
parameters' device (JAX's float64 enabled for the call); the checker itself works on the host.
Each array or number read back from the device is counted: one per loss value, one per
gradient entry the check reads, one per parameter at the start.

A torch tensor's copies keep its device and its ``requires_grad`` (code that calls
``.backward()`` on its own loss runs as written); gradients are read with ``.detach()``. torch
refuses to mix dtypes in a product, so code whose own tensors (the data, a layer's weights) are
float32 raises on float64 copies: the copies then take the parameters' own dtypes, the report
says so, and the loss is judged at the precision it then has (``precision``).

The kind is read from the array's type (its module: ``cupy``, ``jax``/``jaxlib`` or ``torch``), as
``reference_nn.arrays.array_module`` does; array-api-compat's ``array_namespace`` was measured
in that role (2026-12-04): 7-9% slower steps on the small networks, wrapped namespaces instead
of the array's own module, and it takes an ndarray subclass standing in for CuPy for NumPy.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.inputs import split

ARRAY_KINDS = ("numpy", "cupy", "jax", "torch")
# How torch says two dtypes met ("expected m1 and m2 to have the same dtype", "expected scalar
# type Double but found Float", "Input type (double) and bias type (float)", "mixed dtype").
DTYPE_CLASH = re.compile(r"dtype|scalar type|datatype|double|float", re.IGNORECASE)


def kind_name(value: Any) -> str:
    """``numpy``, ``cupy``, ``jax`` or ``torch``: whose array ``value`` is (anything else is
    NumPy's)."""
    root = type(value).__module__.split(".")[0]
    if root in ("cupy", "torch"):
        return root
    if root in ("jax", "jaxlib"):
        return "jax"
    return "numpy"


def _torch() -> Any:
    return importlib.import_module("torch")


def scalar(value: Any) -> float:
    """A loss value of any kind as a Python float (a torch tensor read detached)."""
    return float(value.detach() if kind_name(value) == "torch" else value)


def host_dtype(value: Any) -> np.dtype[Any]:
    """The NumPy dtype of an array of any kind (a torch dtype as NumPy names it); TypeError for
    a torch dtype NumPy lacks (bfloat16), naming it."""
    if kind_name(value) != "torch":
        own: np.dtype[Any] = np.dtype(value.dtype)
        return own
    torch = _torch()
    if value.dtype == torch.bfloat16:
        raise TypeError(
            "a torch.bfloat16 tensor: NumPy has no bfloat16, and the checker's tolerances go "
            "down to float16; give it as float32 or float64 (.float(), .double())"
        )
    return torch.empty(0, dtype=value.dtype).numpy().dtype  # type: ignore[no-any-return]


def is_float(value: Any) -> bool:
    """A float array of any kind."""
    if not hasattr(value, "shape") or getattr(value, "dtype", None) is None:
        return False
    if kind_name(value) == "torch":
        return bool(value.is_floating_point())
    return bool(np.dtype(value.dtype).kind == "f")


def copy_of(value: Any) -> Any:
    """A copy of an array of any kind, on its device (a torch tensor detached from any graph);
    a Python int or float as a float (a parameter initialised as ``0``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind_name(value) == "torch":
        return value.detach().clone()
    return value.copy() if hasattr(value, "copy") and hasattr(value, "shape") else np.array(value)


def float64_of(value: Any) -> Any:
    """A float64 copy of ``value``, of its own kind on its device."""
    if kind_name(value) == "torch":
        return value.detach().to(dtype=_torch().float64, copy=True)
    if hasattr(value, "astype") and hasattr(value, "shape"):
        return value.astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def writable(array: Any) -> bool:
    """An array that ``assign`` writes in place: a writable NumPy array, a CuPy array or a torch
    tensor other than an inference tensor (JAX arrays are immutable)."""
    if isinstance(array, np.ndarray) and kind_name(array) == "numpy":
        return bool(array.flags.writeable)
    if kind_name(array) == "torch":
        return not array.is_inference()  # a tensor made under inference_mode is read-only
    return kind_name(array) == "cupy"


def equal(a: Any, b: Any) -> bool:
    """Two arrays of one kind (on their device) hold the same shape and values."""
    if kind_name(a) == "torch":
        return bool(_torch().equal(a, b))
    return bool(np.array_equal(a, b))


def assign(array: Any, value: Any) -> None:
    """``array[...] = value`` in place (a torch leaf that requires grad written outside the
    graph, as an optimiser does)."""
    if kind_name(array) == "torch":
        with _torch().no_grad():
            array.copy_(value)
    else:
        array[...] = value


@dataclass
class Kind:
    """One kind of array, and the transfers made between it and the host for a check."""

    name: str
    template: Any = None  # an array of this kind, on the device the copies go to
    reads: int = field(default=0)
    # torch only: the parameters' own dtypes, used once torch refused float64 beside the user's
    # own float32 tensors (``why``: its words then)
    dtypes: dict[str, Any] = field(default_factory=dict)
    requires_grad: dict[str, bool] = field(default_factory=dict)  # torch: each parameter's
    why: str = ""

    @property
    def own_dtypes(self) -> bool:
        """Whether the copies are in the parameters' own dtypes (after torch refused float64)."""
        return bool(self.why)

    @property
    def copies(self) -> str:
        """What the user's functions got, in words: float64 copies, or (torch) copies in the
        parameters' own dtypes, and why."""
        if not self.own_dtypes:
            return "float64 copies"
        own = sorted({str(d).removeprefix("torch.") for d in self.dtypes.values()})
        return (f"copies in their own dtypes ({', '.join(own)}: torch refused float64 beside "
                f"your code's own tensors, '{self.why}')")  # fmt: skip

    def keeps_own_dtypes(self, error: Exception) -> bool:
        """After torch refused the float64 copies (``error``: a dtype clash with the user's
        own float32 tensors, in any of torch's words), switch to copies in the parameters' own
        dtypes: True where that changes the copies. A retry that fails again raises."""
        text = str(error).splitlines()[0] if str(error) else ""
        clash = DTYPE_CLASH.search(text) is not None
        narrower = any(str(d) != "torch.float64" for d in self.dtypes.values())
        if self.name != "torch" or self.own_dtypes or not clash or not narrower:
            return False
        self.why = text
        return True

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
        if kind_name(value) == "torch":
            host_dtype(value)  # refuses bfloat16 by name
            return value.detach().cpu().numpy().copy()  # type: ignore[no-any-return]
        return np.asarray(value)

    def device(self, host: NDArray[Any], name: str | None = None) -> Any:
        """A copy of ``host`` (its dtype kept; for torch, parameter ``name``'s own dtype once
        ``own_dtypes``, and its requires_grad) of this kind, on the template's device (the
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
        if self.name == "torch":
            template = self.template
            dtype = self.dtypes.get(name) if self.own_dtypes and name else None
            copy = _torch().tensor(
                host, dtype=dtype, device=None if template is None else template.device
            )
            requires = self.requires_grad.get(name or "", False)
            return copy.requires_grad_(requires)
        return host

    def call(self, fn: Callable[[dict[str, Any]], Any], point: Mapping[str, Any]) -> Any:
        """``fn`` of copies of ``point`` (host arrays) of this kind on its device, in float64
        (JAX's enabled for the call), or in the parameters' own dtypes once torch refused
        float64 beside the code's own tensors."""
        for _ in range(2):
            try:
                with self.calls():  # JAX's float64 on, for the copies too
                    return fn({k: self.device(np.asarray(v, dtype=np.float64), k)
                               for k, v in point.items()})  # fmt: skip
            except (RuntimeError, ValueError) as error:  # nn.RNN's clash is a ValueError
                if not self.keeps_own_dtypes(error):
                    raise
        raise AssertionError("unreachable: keeps_own_dtypes is True once only")

    def calls(self) -> AbstractContextManager[Any]:
        """What the user's functions run in: JAX with float64 enabled, else nothing."""
        if self.name == "jax":
            return importlib.import_module("jax").enable_x64(True)  # type: ignore[no-any-return]
        return nullcontext()


def kind_of(params: Mapping[str, Any]) -> Kind:
    """The one kind of every parameter (a Python number takes the others'); mixed kinds raise
    ValueError naming them."""
    kinds: dict[str, list[str]] = {}
    for name, value in params.items():
        if not isinstance(value, int | float):
            kinds.setdefault(kind_name(value), []).append(str(name))
    if len(kinds) > 1:
        where = "; ".join(f"{k}: {', '.join(names)}" for k, names in kinds.items())
        raise ValueError(
            f"params mix array kinds ({where}): put every parameter on one device (the loss "
            "and grad are called with copies of that one kind)"
        )
    name = next(iter(kinds), "numpy")
    template = next((v for v in params.values() if kind_name(v) == name), None)
    tensors = {k: v for k, v in params.items() if name == "torch" == kind_name(v)}
    return Kind(name, template, dtypes={k: v.dtype for k, v in tensors.items()},
                requires_grad={k: bool(v.requires_grad) for k, v in tensors.items()})  # fmt: skip


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

    def host_loss(point: dict[str, Any]) -> float:
        value = kind.call(loss, point)
        kind.reads += 1
        return scalar(value)

    def host_grad(point: dict[str, Any]) -> Mapping[str, Any]:
        given = kind.call(grad, point)
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
