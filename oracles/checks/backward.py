"""``check_backward`` / ``assert_backward``: one layer's backward judged on its own.

A layer's forward maps its inputs (a dict by its argument names) to one output or several; its
backward maps one upstream gradient per output to the gradients of the inputs (a vector-Jacobian
product, as JAX's ``check_vjp`` sees it). A random, seeded upstream gradient ``dout`` makes the
layer a scalar, L(inputs) = sum_i <dout_i, out_i>, whose gradient is exactly what the backward
returns for ``dout``; ``check_gradients`` judges it, with its report, tolerances, kinks, array
kinds and truth value. Inputs that are not float arrays (integer indices, a dict of settings,
copied for each call) are passed as given and not judged; a dict of float arrays is judged
entry by entry. A list of layer objects is a network, checked layer by layer; a loss function
returning ``(loss, gradients...)`` is checked with ``backward`` None. Named slips of one layer:
``oracles._engine.layer_slips``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any

import numpy as np

from oracles._engine.arrays import Kind, copy_of, host_dtype, is_float, kind_name, on_host, scalar
from oracles._engine.diagnosis import diagnosis_of
from oracles._engine.layer_slips import layer_defects
from oracles._engine.records import GradientReport
from oracles.checks.adapters import Attributes, attributes
from oracles.checks.gradients import check_gradients

Forward = Callable[..., Any]
Backward = Callable[..., Any]


def check_backward(
    forward: Forward | Any,
    backward: Backward | None,
    inputs: Mapping[str, Any],
    *,
    params: Sequence[str] = (),
    grads: Mapping[str, str] | None = None,
    lr: float | None = None,
    constant: Sequence[str] = (),
    upstream: Any = None,
    upstreams: int = 1,
    cache: bool | None = None,
    seed: int = 0,
    **check_options: Any,
) -> GradientReport:
    """Judge ``backward`` against finite differences of ``forward`` at ``inputs``.

    ``forward(**inputs)`` returns ``out``, a tuple of outputs, or either followed by a cache;
    ``backward(dout, ...)`` takes one upstream gradient per output, then the cache where there
    is one, and returns the gradients of the float inputs: one array (one float input), a
    tuple in their order, or a dict by name (``x`` or ``dx``). ``cache``: whether the forward's
    last value is a cache (default: the backward's last parameter is named ``cache``, or that
    value is not a float array). ``constant``: float inputs not differentiated (a dropout mask).

    A layer object with ``forward(x)`` and ``backward(dout)``: pass it as ``forward`` (and
    ``backward`` None), its inputs in ``inputs`` and its parameters' attribute names in
    ``params``; their gradients are read after ``backward`` from the attribute ``grads[name]``,
    else ``d<name>``, ``<name>_grad``, ``grad_<name>`` or ``gradient_<name>``, or, with ``lr``,
    from the update the backward applied (p <- p - lr g; a ``backward(dout, learning_rate)``
    gets ``lr``). The layer is left as it was found. A list of layer objects, ``inputs`` the
    network's one input: each layer at the activation it gets, the first wrong one named.
    ``backward`` None and a plain function: a loss function ``(loss, d_first, ...)``.

    ``upstream``: the upstream gradient (a tuple, one per output); by default standard normal
    draws seeded by ``seed``, ``upstreams`` of them, each checked (the first failing report is
    returned). ``check_options`` go to ``check_gradients``; ``bool(report)`` is the verdict.
    """
    settings = _Settings(params, grads, lr, constant, upstream, upstreams, cache, seed,
                         check_options)  # fmt: skip
    return _checked(forward, backward, inputs, settings)[0]


def assert_backward(
    forward: Forward | Any, backward: Backward | None, inputs: Mapping[str, Any], **options: Any
) -> GradientReport:
    """``check_backward``, raising AssertionError with the report and its diagnosis (which
    input's gradient is wrong, and how) when the backward disagrees."""
    __tracebackhide__ = True
    own = {f.name: options.pop(f.name) for f in fields(_Settings) if f.name in options}
    report, layer = _checked(forward, backward, inputs, _Settings(**own, check=options))
    if not report.passed:
        # The diagnosis works on the host, as the check did: torch, CuPy or JAX inputs are
        # handed to the layer as copies of their kind, its outputs read back.
        loss, grad, point, kind = on_host(layer.loss, layer.grad, layer.point)
        outputs = layer.outputs if kind.on_host else partial(kind.call, layer.outputs)
        constants = {k: Kind(kind_name(v)).host(v) if kind_name(v) != "numpy" else v
                     for k, v in layer.constants.items()}  # fmt: skip
        found = diagnosis_of(report, loss, grad, point, layers=[])
        named = layer_defects(found.defects, report, point, constants, outputs, layer.douts)
        diagnosis = replace(found, defects=tuple(named), undecided=())  # one layer: no order
        raise AssertionError(f"{report.summary()}\n{diagnosis}")
    return report


@dataclass(frozen=True)
class _Settings:
    """check_backward's own options (see its docstring); ``check`` goes to check_gradients."""

    params: Sequence[str] = ()
    grads: Mapping[str, str] | None = None
    lr: float | None = None
    constant: Sequence[str] = ()
    upstream: Any = None
    upstreams: int = 1
    cache: bool | None = None
    seed: int = 0
    check: Mapping[str, Any] = field(default_factory=dict)


def _checked(
    forward: Any, backward: Backward | None, inputs: Mapping[str, Any], settings: _Settings
) -> tuple[GradientReport, _Layer]:
    if backward is None and isinstance(forward, list | tuple):
        return _through(list(forward), inputs, settings)
    owner: object | None = None
    if backward is None and callable(getattr(forward, "backward", None)):
        owner = forward
        forward, backward = forward.forward, forward.backward
    elif backward is None:
        if not callable(forward):
            raise TypeError(
                "check_backward(forward, backward, inputs): backward is None, so forward must "
                "be a layer object with forward and backward methods, or a loss function "
                f"returning (loss, gradients); got {forward!r}"
            )
        forward, backward = _loss_function(forward)
    else:
        if settings.params:
            raise TypeError("params names a layer object's attributes: pass the layer itself "
                            "as forward, with backward None")  # fmt: skip
    upstreams = settings.upstreams
    if not isinstance(upstreams, int) or upstreams < 1:
        raise ValueError(f"upstreams must be a positive int, got {upstreams!r}")
    rng = np.random.default_rng(settings.seed)
    report: GradientReport | None = None
    layer: _Layer | None = None
    for _ in range(1 if settings.upstream is not None else upstreams):
        layer = _Layer(forward, backward, inputs, owner, settings, rng)
        report = check_gradients(layer.loss, layer.grad, layer.point, seed=rng.spawn(1)[0],
                                 **settings.check)  # fmt: skip
        report = replace(report, readings=(*report.readings, layer.how))
        if not report.passed:
            break
    assert report is not None and layer is not None
    return report, layer


def _loss_function(fn: Forward) -> tuple[Forward, Backward]:
    """A loss function ``fn(**inputs) -> (loss, d_first, d_second, ...)`` (a CS231n
    ``softmax_loss``) as a layer: the loss its output, the gradients its cache."""

    def forward(**inputs: Any) -> tuple[Any, tuple[Any, ...]]:
        returned = fn(**inputs)
        if not (isinstance(returned, tuple) and len(returned) >= 2 and np.size(returned[0]) == 1):
            raise TypeError(
                "backward is None, so forward must be a layer object with forward and backward "
                "methods, or a loss function returning (loss, gradients...); it returned "
                f"{_shape_words(returned)}"
            )
        return np.asarray(returned[0], dtype=np.float64), tuple(returned[1:])

    def backward(dout: Any, cache: tuple[Any, ...]) -> Any:
        scaled = tuple(dout * g if g is not None else None for g in cache)
        return scaled[0] if len(scaled) == 1 else scaled

    return forward, backward


def _through(
    layers: list[Any], inputs: Mapping[str, Any], settings: _Settings
) -> tuple[GradientReport, _Layer]:
    """A network of layer objects: each layer's backward checked at the activation the
    network gives it, in order; the first wrong one's report (the last's where every one is
    right), with its place said."""
    if len(inputs) != 1:
        raise TypeError("a list of layers takes the network's input alone: {'x': x}")
    ((name, a),) = inputs.items()
    for i, layer in enumerate(layers, start=1):
        own = [p for p in settings.params if hasattr(layer, p)]
        each = replace(settings, params=own, upstream=None)  # one upstream per layer's output
        report, checked = _checked(layer, None, {name: a}, each)
        if not report.passed:
            right = f"; layers 1-{i - 1} are right" if i > 2 else "; layer 1 is right" * (i == 2)
            kind = type(layer).__name__
            where = f"layer {i} of {len(layers)} ({kind}) is the first whose backward is wrong"
            where += right
            return replace(report, readings=(*report.readings, where)), checked
        a = layer.forward(a)
    done = f"each of the {len(layers)} layers' backward is right at the network's activations"
    return replace(report, readings=(*report.readings, done)), checked


class _Layer:
    """A layer made a scalar function of its float inputs (and its parameters), for one
    upstream gradient: ``loss``, ``grad`` and the ``point`` they are judged at."""

    def __init__(
        self,
        forward: Forward,
        backward: Backward,
        inputs: Mapping[str, Any],
        owner: object | None,
        settings: _Settings,
        rng: np.random.Generator,
    ) -> None:
        params, constant, lr = settings.params, settings.constant, settings.lr
        if not isinstance(inputs, Mapping) or not inputs:
            raise TypeError("inputs must be a non-empty dict of the forward's arguments by name")
        unknown = sorted(set(constant) - set(inputs))
        if unknown:
            raise ValueError(f"constant names {unknown}, which are not among the inputs")
        self.forward, self.backward = forward, backward
        # A dict of float arrays (a parameters dict) is judged entry by entry, by its keys.
        self.packed = {
            k: list(v)
            for k, v in inputs.items()
            if k not in constant and isinstance(v, Mapping) and v and all(map(_floats, v.values()))
        }
        self.constants = {k: v for k, v in inputs.items() if k not in self.packed
                          and (k in constant or not _floats(v))}  # fmt: skip
        self.inputs = [k for k in inputs if k not in self.constants and k not in self.packed]
        self.inputs += [key for k in self.packed for key in self.packed[k]]
        clashing = sorted({key for k in self.packed for key in self.packed[k]} & set(inputs))
        if clashing or len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"the entries of {sorted(self.packed)} clash with other inputs")
        inputs = {
            **{k: v for k, v in inputs.items() if k not in self.packed},
            **{key: inputs[k][key] for k in self.packed for key in self.packed[k]},
        }
        self.single = owner is not None and len(inputs) == 1  # layer.forward(x), positionally
        self.attrs: Attributes | None = attributes(owner, list(params)) if owner and params \
            else None  # fmt: skip
        self.params = list(self.attrs.params) if self.attrs else []
        clash = sorted(set(self.params) & set(inputs))
        if clash:
            raise ValueError(f"{clash} are both inputs and the layer's parameters")
        if not self.inputs and not self.params:
            raise ValueError("no float input or parameter to judge: " + ", ".join(
                f"{k} ({type(v).__name__})" for k, v in inputs.items()))  # fmt: skip
        self.point = {
            **{k: inputs[k] for k in self.inputs},
            **(self.attrs.params if self.attrs else {}),
        }
        self.grads, self.lr = dict(settings.grads or {}), lr
        if lr is not None and not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        names = _positional(backward)
        self.takes_lr = (lr is not None and owner is not None and names is not None
                         and len(names) >= 2 and "cache" not in names[-1].lower())  # fmt: skip
        first = self._call_forward(self.point)
        outs, self.cached, self.how = _outputs(first, backward, settings.cache,
                                               1 if self.takes_lr else 0)  # fmt: skip
        self.douts = _upstream(settings.upstream, outs, rng)

    def _run(self, point: Mapping[str, Any], fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        """``fn()`` with the point's parameters written into the layer (and restored)."""
        if self.attrs is None:
            return fn(), {}
        ran: tuple[Any, dict[str, Any]] = self.attrs.run({k: point[k] for k in self.params}, fn)
        return ran

    def _call_forward(self, point: Mapping[str, Any]) -> Any:
        """The forward at ``point``: the constants copied (a settings dict it writes into, as
        batch norm's running means, is left as given), packed dicts rebuilt."""
        constants = copy.deepcopy(self.constants)
        if self.single and not constants:
            return self.forward(point[self.inputs[0]])
        packed = {k: {key: point[key] for key in keys} for k, keys in self.packed.items()}
        own = {k: point[k] for k in self.inputs if not any(k in keys for keys in
                                                            self.packed.values())}  # fmt: skip
        return self.forward(**constants, **packed, **own)

    def outputs(self, point: Mapping[str, Any]) -> list[Any]:
        """The forward's outputs at ``point`` (float64 host arrays)."""

        def run() -> list[Any]:
            outs = _outputs(self._call_forward(point), self.backward, self.cached,
                            1 if self.takes_lr else 0)[0]  # fmt: skip
            return [np.asarray(Kind(kind_name(o)).host(o), dtype=np.float64) for o in outs]

        ran: list[Any] = self._run(point, run)[0]
        return ran

    def loss(self, point: Mapping[str, Any]) -> float:
        """sum_i <dout_i, out_i> at ``point``."""

        def value() -> float:
            outs, _, _ = _outputs(self._call_forward(point), self.backward, self.cached,
                                  1 if self.takes_lr else 0)  # fmt: skip
            return float(sum(scalar((_like(d, o) * o).sum()) for d, o in
                             zip(self.douts, outs, strict=True)))  # fmt: skip

        return float(self._run(point, value)[0])

    def grad(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """What the backward returns for the upstream gradient, by input name, and the layer's
        parameters' gradients read off the layer."""

        def run() -> tuple[Any, dict[str, Any]]:
            result = self._call_forward(point)
            outs, stored, _ = _outputs(result, self.backward, self.cached,
                                       1 if self.takes_lr else 0)  # fmt: skip
            douts = [_like(d, o) for d, o in zip(self.douts, outs, strict=True)]
            extra = ((result[-1],) if stored else ()) + ((self.lr,) if self.takes_lr else ())
            returned = self.backward(*douts, *extra)
            return returned, self._stored()

        (returned, stored), after = self._run(point, run)
        out = _by_name(returned, self.inputs) if self.inputs else {}
        if self.lr is not None:
            stored = {k: (point[k] - after[k]) / self.lr for k in self.params}
        return {**out, **stored}

    def _stored(self) -> dict[str, Any]:
        """The parameters' gradients the backward left on the layer (none with ``lr``)."""
        if self.attrs is None or self.lr is not None:
            return {}
        found = {}
        for name in self.params:
            value = self.attrs.stored(name, self.grads.get(name))
            found[name] = copy_of(value)
        return found


def _floats(value: Any) -> bool:
    """A float array (of any kind) or a Python float: something to differentiate."""
    return isinstance(value, float) or is_float(value)


def _positional(fn: Callable[..., Any]) -> list[str] | None:
    """The names of ``fn``'s positional parameters; None where it takes ``*args``."""
    try:
        found = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in found):
        return None
    return [p.name for p in found if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty]  # fmt: skip


def _outputs(
    result: Any, backward: Backward, cache: bool | None, lr: int = 0
) -> tuple[list[Any], bool, str]:
    """(the outputs, whether a cache follows them, how this was read) of one forward call;
    ``lr``: 1 where the backward takes the learning rate last."""
    names = _positional(backward)
    if not isinstance(result, tuple):
        cached, outs = False, [result]
    else:
        if cache is None:
            by_name = names is not None and bool(names) and "cache" in names[-1].lower()
            cache = by_name or not _floats(result[-1])
        cached = bool(cache) and len(result) > 1
        outs = list(result[:-1] if cached else result)
    outs = [np.asarray(o, dtype=np.float64) if isinstance(o, float) else o for o in outs]
    bad = [i for i, o in enumerate(outs) if not _floats(o)]
    if bad:
        raise TypeError(
            f"forward returned {_shape_words(result)}: expected out, a tuple of outputs, or "
            "either followed by a cache, every output a float array (pass cache=True or False "
            "where the last value is not what was read)"
        )
    wanted = len(outs) + cached + lr
    if names is not None and len(names) != wanted:
        raise TypeError(
            f"forward returned {_shape_words(result)}, read as {len(outs)} output(s)"
            f"{' and a cache' if cached else ''}, so backward should take {wanted} "
            f"argument(s); it takes {len(names)} ({', '.join(names)}). Pass cache=True or "
            "False if the cache was misread; a forward that also returns an output the "
            "backward takes no gradient for: wrap it to return only the others"
        )
    douts = ", ".join(f"d{i + 1}" for i in range(len(outs))) if len(outs) > 1 else "dout"
    how = (f"backward called as backward({douts}{', cache' if cached else ''}"
           f"{', lr' if lr else ''}) on "
           f"{len(outs)} output(s) of forward, each with a random upstream gradient")  # fmt: skip
    return outs, cached, how


def _shape_words(result: Any) -> str:
    parts = result if isinstance(result, tuple) else (result,)
    words = [f"array {tuple(p.shape)}" if _floats(p) and not isinstance(p, float)
             else type(p).__name__ for p in parts]  # fmt: skip
    return f"({', '.join(words)})" if isinstance(result, tuple) else words[0]


def _upstream(given: Any, outs: list[Any], rng: np.random.Generator) -> list[Any]:
    """One upstream gradient per output, of its shape: given, or standard normal draws."""
    if given is None:
        return [rng.standard_normal(np.shape(o)) for o in outs]
    douts = list(given) if isinstance(given, tuple | list) else [given]
    if len(douts) != len(outs) or any(np.shape(d) != np.shape(o) for d, o in
                                      zip(douts, outs, strict=False)):  # fmt: skip
        raise ValueError(
            f"upstream has shapes {[np.shape(d) for d in douts]}; the forward's outputs have "
            f"{[np.shape(o) for o in outs]}"
        )
    return [np.asarray(d, dtype=np.float64) for d in douts]


def _like(dout: Any, out: Any) -> Any:
    """``dout`` as an array of ``out``'s kind (on its device), in ``out``'s float dtype."""
    kind = kind_name(out)
    host = np.asarray(dout, dtype=host_dtype(out))
    # An upstream gradient never requires grad (a backward writes into it: dout[x <= 0] = 0).
    return host if kind == "numpy" else Kind(kind, out).device(host)


def _by_name(returned: Any, inputs: list[str]) -> dict[str, Any]:
    """The backward's gradients by input name: a dict as it is, one array for one input, a
    tuple or list in the inputs' order."""
    if isinstance(returned, Mapping):
        return dict(returned)
    many = list(returned) if isinstance(returned, tuple | list) else [returned]
    if len(many) != len(inputs):
        raise ValueError(
            f"backward returned {len(many)} gradient(s); the forward's float inputs are "
            f"{', '.join(inputs)} ({len(inputs)}): return one per float input, in their order, "
            "or a dict by name (mark inputs not differentiated with constant=)"
        )
    missing = [name for name, g in zip(inputs, many, strict=True) if g is None]
    if missing:
        raise ValueError(
            f"backward returned None for {', '.join(missing)}: mark inputs it does not "
            "differentiate with constant="
        )
    return dict(zip(inputs, many, strict=True))
