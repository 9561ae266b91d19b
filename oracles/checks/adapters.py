"""Code as people write it, turned into the checker's ``loss``, ``grad`` and ``params``.

``gradients_from_update``: for code that only updates, the gradient read off one step of it.
``attributes``: parameters held in objects (a class, a list of layer objects), written into
them for each point checked and restored afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracles._engine.arrays import (
    assign,
    copy_of,
    equal,
    float64_of,
    is_float,
    kind_name,
    writable,
)
from oracles._engine.inputs import Grad, Point


def gradients_from_update(
    update: Callable[..., Mapping[str, Any] | None],
    *,
    lr: float,
    examples: Iterable[Sequence[Any]] | None = None,
) -> Grad:
    """A ``grad(params)`` for code that applies plain gradient descent, p <- p - lr g.

    With ``examples`` (argument tuples), ``update(params, *example)`` is per-example code (one
    SGD step on one example): each step is taken from the same point and the read-off gradients
    averaged, the gradient of a loss that is the mean over those examples.

    ``update(params)`` either changes the dict's arrays in place or returns a new dict; it is
    called on copies (the caller's arrays are never changed) and g = (p - p_new) / lr. The first
    call steps twice from the same point: an update that keeps state (momentum, Adam) moves
    differently the second time and is refused, and so is one that changes nothing or a shape.
    Not detectable, and so judged as the gradient: weight decay applied in the update (it reads
    as an L2 term the loss lacks: the diagnosis says ``regularisation``) and an ``lr`` other
    than the update's own (it reads as ``scale``). The read-off gradient carries a rounding
    error of about eps |p| / lr: take an ``lr`` near 1 where the update lets you choose.
    CuPy and jax.numpy parameters stay of their kind (``oracles._engine.arrays``).
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    first = [True]

    batch = None if examples is None else [tuple(e) for e in examples]
    if batch is not None and not batch:
        raise ValueError("examples is empty: give the argument tuples of each example")

    def step(x: Point, given: Mapping[str, Any]) -> Point:
        work = {k: copy_of(v) for k, v in given.items()}  # in their own dtypes
        returned = update(work, *(batch[0] if batch else ()))
        return _checked_step(x, work, returned)

    def _checked_step(x: Point, work: Point, returned: Any) -> Point:
        after = work if returned is None else returned
        if not isinstance(after, Mapping):
            raise TypeError(f"update must return None or a dict, got {type(after).__name__}")
        missing = sorted(set(x) - set(after))
        if missing:
            raise ValueError(f"update's result has no {', '.join(missing)}")
        new = {k: float64_of(after[k]) for k in x}
        for k, v in new.items():
            if v.shape != x[k].shape:
                raise ValueError(
                    f"update changed the shape of {k} from {x[k].shape} to {v.shape}: its "
                    "gradient does not have the parameter's shape"
                )
        return new

    def grad(params: dict[str, Any]) -> dict[str, NDArray[np.float64]]:
        x = {k: float64_of(v) for k, v in params.items()}
        new = step(x, params)
        if first[0]:
            first[0] = False
            again = step(x, params)
            if any(not equal(new[k], again[k]) for k in x):
                raise ValueError(
                    "update is not plain gradient descent: two steps from the same point moved "
                    "the parameters differently (momentum, Adam, or other state it keeps)"
                )
            if all(equal(new[k], x[k]) for k in x):
                raise ValueError(
                    "update changed no parameter at this point. Either the gradient is zero "
                    "here (every ReLU off, a flat region, a degenerate point such as weights "
                    "of zeros): check at another point (check_at_points draws several); or "
                    "the update does not reach the parameters: it must change the dict's "
                    "arrays in place or return the new ones"
                )
        if batch is None or len(batch) == 1:
            return {k: (x[k] - new[k]) / lr for k in x}
        total = {k: x[k] - new[k] for k in x}
        for example in batch[1:]:
            work = {k: copy_of(v) for k, v in params.items()}
            moved = _checked_step(x, work, update(work, *example))
            total = {k: total[k] + (x[k] - moved[k]) for k in x}
        return {k: total[k] / (lr * len(batch)) for k in x}

    return grad


class Attributes:
    """Parameters held as attributes of objects, named for the checker.

    An attribute may hold an array, a list of arrays (named ``weights[0]``, ...) or a dict of
    arrays (named by its keys, as a CS231n ``params`` dict). With several owners (a list of
    layer objects), names are prefixed by the owner's position (``0.weights``); owners that
    lack every attribute (an activation layer) are skipped.
    """

    def __init__(
        self,
        owners: object | Sequence[object],
        names: Sequence[str] | Sequence[Sequence[str]] | Mapping[str, str],
    ) -> None:
        chosen = {attr: label for label, attr in names.items()} if isinstance(names, Mapping) \
            else {}  # fmt: skip
        names = list(chosen) if chosen else names
        groups = [list(n) for n in names if not isinstance(n, str)]
        if groups and len(groups) != len(names):
            raise TypeError(f"names {list(names)}: either attribute names or lists of them (one "
                            "list per layer), not both")  # fmt: skip
        flat: list[str] = [n for g in groups for n in g] if groups else [str(n) for n in names]
        many = isinstance(owners, list | tuple)
        self._owners = list(owners) if isinstance(owners, list | tuple) else [owners]
        self._slots: dict[str, tuple[object, str, Any]] = {}
        layers: list[tuple[str, ...]] = []
        for i, owner in enumerate(self._owners):
            found = [n for n in flat if hasattr(owner, n)]
            if many and not found:
                continue
            if not found:
                raise AttributeError(f"{type(owner).__name__} has none of {flat}")
            prefix = f"{i}." if many else ""
            for attr in found:
                for key, label in _entries(getattr(owner, attr), chosen.get(attr, attr)):
                    self._slots[prefix + label] = (owner, attr, key)
            layers += _layers(self._owners[i], found, prefix, chosen)
        if not self._slots:
            raise AttributeError(f"no owner has any of {flat}")
        if groups and not many:
            layers = [tuple(label for label, (_, attr, _) in self._slots.items() if attr in group)
                      for group in groups]  # fmt: skip
        elif chosen and not many:
            layers = _numbered(list(self._slots)) or layers  # W1, b1, W2, ...: by their numbers
        self.layers: list[tuple[str, ...]] = layers

    @property
    def params(self) -> dict[str, NDArray[Any]]:
        """Copies of the parameters' current values."""
        return {name: copy_of(self._get(slot)) for name, slot in self._slots.items()}

    def __call__(self, fn: Callable[[], Any]) -> Callable[[dict[str, Any]], Any]:
        """``fn()`` as a function of the parameters: each call writes them into the objects,
        runs ``fn`` and restores every value and attribute as it was."""
        return lambda params: self.run(params, fn)[0]

    def update(self, step: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        """``step()`` (a training step that updates the objects) as an update of the
        parameters, for ``gradients_from_update``: the values it leaves, read back. Arguments
        after the parameters go to ``step`` (one example, with ``examples=``)."""
        return lambda params, *example: self.run(params, lambda: step(*example))[1]

    def grad(
        self,
        fn: Callable[..., Any],
        *,
        order: Sequence[str] | None = None,
        examples: Iterable[Sequence[Any]] | None = None,
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A ``grad(params)`` from code that returns its gradients in the object's own layout.

        ``fn()`` returns a dict by attribute name (or ``d`` + name), each entry shaped as the
        attribute is (an array, a list, a dict), or a tuple parallel to ``order`` (attribute
        names; default the names given to ``attributes``): Nielsen's ``(nabla_b, nabla_w)``
        is ``order=["biases", "weights"]``. With ``examples`` (argument tuples), ``fn(*e)`` is
        called for each and the gradients averaged: per-example code, ``backprop(x, y)``, for
        a loss that is the mean over those examples."""
        attrs = list(dict.fromkeys(attr for _, attr, _ in self._slots.values()))
        if len(self._owners) > 1:
            raise TypeError("attrs.grad reads one object's gradients; layer objects that keep "
                            "their own: check_backward(layer, None, ...)")  # fmt: skip
        order = list(order) if order is not None else attrs
        if sorted(order) != sorted(attrs):
            raise ValueError(f"order names {list(order)}; the attributes are {attrs}")
        batch = None if examples is None else [tuple(e) for e in examples]

        def flat(params: dict[str, Any]) -> dict[str, Any]:
            if batch is None:
                return {n: copy_of(g) for n, g in self._flattened(fn(), order).items()}
            each = [self._flattened(fn(*e), order) for e in batch]
            return {name: sum(g[name] for g in each) / len(each) for name in each[0]}

        return lambda params: self.run(params, lambda: flat(params))[0]

    def _flattened(self, returned: Any, order: list[str]) -> dict[str, Any]:
        """``returned`` (see ``grad``) by parameter name, its shapes checked against theirs."""
        if isinstance(returned, Mapping):
            lacking = [a for a in order if a not in returned and f"d{a}" not in returned]
            if lacking:
                raise ValueError(
                    f"the gradients returned have no {', '.join(lacking)} (looked for each "
                    f"name and 'd' + name); they have {sorted(returned)}"
                )
            by_attr: dict[str, Any] = {a: returned.get(f"d{a}", returned.get(a)) for a in order}
        elif isinstance(returned, tuple | list) and len(returned) == len(order):
            by_attr = dict(zip(order, returned, strict=True))
        else:
            raise TypeError(
                f"the gradients returned are {type(returned).__name__}"
                f"{f' of {len(returned)}' if isinstance(returned, tuple | list) else ''}: "
                f"expected a dict by attribute name or a tuple of {len(order)} in the order "
                f"{order} (order= names another)"
            )
        out = {}
        for name, (_, attr, key) in self._slots.items():
            value = by_attr[attr]
            out[name] = value if key is None else value[key]
        wrong = [n for n in out if np.shape(out[n]) != np.shape(self._get(self._slots[n]))]
        if wrong and isinstance(returned, tuple | list):
            raise ValueError(
                f"the gradients returned, read in the order {order}, do not have the shapes "
                f"of {', '.join(wrong)}: is the tuple in another order? (order=[...])"
            )
        return out

    def stored(self, name: str, attribute: str | None = None) -> Any:
        """What the object holding parameter ``name`` keeps as its gradient: ``attribute``,
        else the first of ``d<attr>``, ``<attr>_grad``, ``grad_<attr>`` and ``gradient_<attr>``
        it has, indexed as
        the parameter is (in a list or dict attribute)."""
        owner, attr, key = self._slots[name]
        names = [attribute] if attribute else [f"d{attr}", f"{attr}_grad", f"grad_{attr}",
                                               f"gradient_{attr}"]  # fmt: skip
        found = next((n for n in names if hasattr(owner, n)), None)
        if found is None:
            raise AttributeError(
                f"{type(owner).__name__} holds no gradient of {name}: looked for "
                f"{', '.join(names)} after backward (name it: grads={{{name!r}: 'attribute'}})"
            )
        value = getattr(owner, found)
        return value if key is None else value[key]

    def _get(self, slot: tuple[object, str, Any]) -> Any:
        owner, attr, key = slot
        value = getattr(owner, attr)
        return value if key is None else value[key]

    def run(self, params: Mapping[str, Any], fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        """``fn()`` with ``params`` written into the objects: its result and the parameters'
        values it left; every value and attribute is then restored as it was."""
        unknown = sorted(set(params) - set(self._slots))
        if unknown:
            raise KeyError(f"not parameters of these objects: {', '.join(unknown)}")
        attrs = {(id(o), a): (o, a) for o, a, _ in self._slots.values()}
        saved = {k: (o, a, getattr(o, a), _shallow(getattr(o, a))) for k, (o, a) in attrs.items()}
        values = {name: (self._get(slot), copy_of(self._get(slot))) for name, slot in
                  self._slots.items()}  # fmt: skip
        try:
            for name, value in params.items():
                self._write(self._slots[name], value)
            result = fn()
            return result, {name: copy_of(self._get(slot)) for name, slot in self._slots.items()}
        finally:
            for owner, attr, original, elements in saved.values():
                setattr(owner, attr, original)
                if isinstance(original, dict):
                    original.update(elements)
                elif isinstance(original, list):
                    original[:] = elements
            for array, copy in values.values():
                if writable(array):
                    assign(array, copy)

    def _write(self, slot: tuple[object, str, Any], value: Any) -> None:
        """In place where the array can be written and is of the value's kind, whatever its
        float dtype: a layer or a list holding the same array reads the point too (a float32
        array rounds it, and the check then measures the loss at float32's precision). Else
        as a new float64 array of the value's kind (a JAX array cannot be written in place)."""
        current = self._get(slot)
        if (writable(current) and kind_name(current) == kind_name(value)
                and is_float(current)
                and current.shape == value.shape):  # fmt: skip
            assign(current, value)
            return
        owner, attr, key = slot
        fresh = float64_of(value)
        if key is None:
            setattr(owner, attr, fresh)
        else:
            getattr(owner, attr)[key] = fresh


def _entries(value: Any, attr: str) -> list[tuple[Any, str]]:
    if isinstance(value, dict):
        return [(key, str(key)) for key in value]
    if isinstance(value, list | tuple):
        return [(i, f"{attr}[{i}]") for i in range(len(value))]
    return [(None, attr)]


def _layers(
    owner: object, found: list[str], prefix: str, chosen: Mapping[str, str]
) -> list[tuple[str, ...]]:
    """Layer tuples (weight, bias, ...): one per owner, or one per index of list attributes
    (named as ``chosen`` names the attributes)."""
    values = [getattr(owner, attr) for attr in found]
    labels = [chosen.get(attr, attr) for attr in found]
    if all(isinstance(v, list | tuple) for v in values):
        return [tuple(f"{prefix}{a}[{i}]" for a in labels) for i in range(len(values[0]))]
    if any(isinstance(v, dict) for v in values):
        keys = [str(k) for v in values if isinstance(v, dict) for k in v]
        return _numbered(keys)
    return [tuple(prefix + a for a in labels)]


def _numbered(keys: list[str]) -> list[tuple[str, ...]]:
    """Layers from a dict's keys by their trailing number: W1, b1, gamma1, beta1 are layer 1
    (the weight first); none where some key has no number."""
    numbered: dict[int, list[str]] = {}
    for key in keys:
        m = re.fullmatch(r"(.*?)(\d+)", key)
        if m is None:
            return []
        numbered.setdefault(int(m.group(2)), []).append(key)
    return [tuple(sorted(numbered[k], key=lambda n: not n.lower().startswith("w")))
            for k in sorted(numbered)]  # fmt: skip


def _shallow(value: Any) -> Any:
    """The elements of a list or dict attribute, to put back; None for anything else."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return None


def unwrapped(params: Any, layers: Any = None) -> tuple[Any, Any]:
    """``params`` as the checks take them: an ``Attributes`` gives its parameters, and its
    layers where ``layers`` is None; anything else is returned as it is."""
    if isinstance(params, Attributes):
        return params.params, params.layers if layers is None else layers
    return params, layers


def attributes(
    owners: object | Sequence[object],
    names: Sequence[str] | Sequence[Sequence[str]] | Mapping[str, str],
) -> Attributes:
    """The parameters ``names`` of ``owners`` (an object, or a list of layer objects): see
    ``Attributes``; ``names`` grouped in lists, one per layer, gives the layers of one object
    that holds several (``[["weight_h", "bias_h"], ["weight_out", "bias_out"]]``); a dict
    chooses the names the checker gives them (``{"W1": "weight_h", "b1": "bias_h"}``). Its
    ``params`` go to the checker, ``attrs(fn)`` makes a loss or a gradient
    function of them, ``attrs.update(step)`` an update for ``gradients_from_update``, and
    ``attrs.layers`` the layer order for the diagnosis."""
    return Attributes(owners, names)
