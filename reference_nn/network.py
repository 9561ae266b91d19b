"""``network(name, style=, variant=)``: a document's network in one of three styles.

Every style has the same signature, so any two can be compared by the same test:
``init_params(seed)``, ``loss(params, X, y)``, ``gradients(params, X, y)``,
``probabilities(params, X)`` and ``train(...)``. X has shape (784, m), examples as
columns, already scaled; y holds m integer labels. Inputs are checked at this
boundary and bad input raises ValueError or TypeError naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from reference_nn import loop, vectorized
from reference_nn.arrays import require_finite, require_float, require_ndim
from reference_nn.gpu import read_back_once, require_cupy
from reference_nn.networks import NETWORKS
from reference_nn.recipe import Recipe, recipe_for
from reference_nn.spec import VARIANTS, Initialisation, NetworkSpec, Variant

Style = Literal["loop", "vectorized", "gpu"]
STYLES: tuple[Style, ...] = ("loop", "vectorized", "gpu")

Array = Any
Params = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class Backend:
    """How one style computes: its array module, its functions, and the moves to and from it."""

    xp: ModuleType
    loss_and_gradients: Callable[..., tuple[Any, dict[str, Any], Any]]
    gradients: Callable[..., dict[str, Any]]
    probabilities: Callable[..., Any]
    to_native: Callable[[Any], Any]
    to_numpy: Callable[[Any], Any]


def _backend(style: str) -> Backend:
    if style == "loop":
        return Backend(
            np, loop.loss_and_gradients, loop.gradients, loop.probabilities, np.asarray, np.asarray
        )
    if style == "vectorized":
        return Backend(
            np,
            vectorized.loss_and_gradients,
            vectorized.gradients,
            vectorized.probabilities,
            np.asarray,
            np.asarray,
        )
    if style == "gpu":
        cupy = require_cupy()
        # The vectorised code, with each call's checks read back from the device together.
        return Backend(
            cupy,
            read_back_once(vectorized.loss_and_gradients),
            read_back_once(vectorized.gradients),
            read_back_once(vectorized.probabilities),
            cupy.asarray,
            cupy.asnumpy,
        )
    raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


def _draw(
    rng: np.random.Generator, kind: str, shape: tuple[int, int], scale: float
) -> NDArray[np.float64]:
    if kind == "zeros":
        return np.zeros(shape)
    if kind == "uniform_centered":
        return rng.random(shape) - 0.5
    if kind == "normal":
        return rng.standard_normal(shape) * scale
    if kind == "he_normal":
        return rng.standard_normal(shape) * float(np.sqrt(2.0 / shape[1]))
    raise ValueError(f"unknown initialisation {kind!r}")


def initial_params(
    spec: NetworkSpec, init: Initialisation, seed: int | np.random.Generator, dtype: str
) -> Params:
    """W_k (n_k, n_{k-1}) and b_k (n_k, 1), drawn in the order W1, b1, W2, ... as ``init`` says."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for name, shape in spec.parameter_shapes().items():
        kind = init.weights if name.startswith("W") else init.biases
        params[name] = _draw(rng, kind, shape, init.weight_scale).astype(dtype)
    return params


@dataclass(frozen=True)
class Network:
    """One document's network in one style and variant; see the module docstring."""

    spec: NetworkSpec
    style: Style
    variant: Variant
    recipe: Recipe = field(repr=False)
    backend: Backend = field(repr=False)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the parameters this variant uses."""
        return np.dtype(self.recipe.derivation.params_dtype)

    def init_params(self, seed: int | np.random.Generator) -> Params:
        """Fresh parameters drawn as the document does, in the variant's dtype, from ``seed``."""
        return initial_params(self.spec, self.spec.initialisation, seed, self.dtype.name)

    # -- checks at the boundary -------------------------------------------------------------

    def check_params(self, params: Params) -> np.dtype[Any]:
        """Raise unless ``params`` has exactly this network's keys, shapes, one float dtype."""
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        expected = self.spec.parameter_shapes()
        if set(params) != set(expected):
            missing = sorted(set(expected) - set(params))
            extra = sorted(set(params) - set(expected))
            raise ValueError(f"{self.spec.name}: params missing {missing}, unexpected {extra}")
        dtypes = set()
        for name, shape in expected.items():
            value = params[name]
            require_float(value, f"{self.spec.name}: {name}")
            if tuple(value.shape) != shape:
                raise ValueError(
                    f"{self.spec.name}: {name} has shape {tuple(value.shape)}, expected {shape}"
                )
            require_finite(value, f"{self.spec.name}: {name}")
            dtypes.add(np.dtype(value.dtype))
        if len(dtypes) != 1:
            raise TypeError(f"{self.spec.name}: params mix dtypes {sorted(map(str, dtypes))}")
        return dtypes.pop()

    def check_inputs(self, X: Array) -> None:
        """Raise unless X is a finite float array of shape (n_0, m) with m >= 1."""
        require_ndim(X, 2, f"{self.spec.name}: X")
        require_float(X, f"{self.spec.name}: X")
        if X.shape[0] != self.spec.sizes[0] or X.shape[1] < 1:
            raise ValueError(
                f"{self.spec.name}: X must have shape ({self.spec.sizes[0]}, m) with examples "
                f"as columns, got {tuple(X.shape)}"
            )
        require_finite(X, f"{self.spec.name}: X")

    def check_labels(self, X: Array, y: Array) -> None:
        """Raise unless y holds X.shape[1] integer labels in 0..n_L-1."""
        require_ndim(y, 1, f"{self.spec.name}: y")
        if np.dtype(y.dtype).kind not in "iu":
            raise TypeError(f"{self.spec.name}: y must hold integer labels, got dtype {y.dtype}")
        if y.shape[0] != X.shape[1]:
            raise ValueError(
                f"{self.spec.name}: {y.shape[0]} labels for {X.shape[1]} examples (columns of X)"
            )
        n_L = self.spec.sizes[-1]
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= n_L:
            raise ValueError(
                f"{self.spec.name}: labels must lie in 0..{n_L - 1}, found {low}..{high}"
            )

    def to_native(self, params: Params, X: Array, y: Array | None = None) -> tuple[Any, ...]:
        """Check, cast X to the params' dtype, and move everything to this style's device."""
        dtype = self.check_params(params)
        self.check_inputs(X)
        if y is not None:
            self.check_labels(X, y)
        native = self.backend.to_native
        moved = {name: native(value) for name, value in params.items()}
        X_native = native(X).astype(dtype, copy=False)
        return (moved, X_native) if y is None else (moved, X_native, native(y))

    # -- the API shared by every style ------------------------------------------------------

    def loss_and_gradients(self, params: Params, X: Array, y: Array) -> tuple[float, Params]:
        """(mean loss, hand-written gradients), one forward pass shared by both."""
        p, Xn, yn = self.to_native(params, X, y)
        value, grads, _ = self.backend.loss_and_gradients(p, Xn, yn, self.recipe)
        to_numpy = self.backend.to_numpy
        return float(value), {name: to_numpy(g) for name, g in grads.items()}

    def loss(self, params: Params, X: Array, y: Array) -> float:
        """The mean softmax cross-entropy over the m columns of X, in the params' dtype."""
        p, Xn, yn = self.to_native(params, X, y)
        if self.style == "loop":
            return float(loop.loss(p, Xn, yn, self.recipe))
        return float(vectorized.loss(p, Xn, yn, self.recipe))

    def gradients(self, params: Params, X: Array, y: Array) -> Params:
        """The hand-written backpropagation: same keys and shapes as ``params``, as NumPy.

        The function training steps call between logs (no loss evaluated), so the oracles
        judge the code that does most of the training."""
        p, Xn, yn = self.to_native(params, X, y)
        grads = self.backend.gradients(p, Xn, yn, self.recipe)
        return {name: self.backend.to_numpy(g) for name, g in grads.items()}

    def probabilities(self, params: Params, X: Array) -> NDArray[np.floating]:
        """A_L, the softmax output of shape (n_L, m), as NumPy."""
        p, Xn = self.to_native(params, X)
        return np.asarray(self.backend.to_numpy(self.backend.probabilities(p, Xn, self.recipe)))

    def predict(self, params: Params, X: Array) -> NDArray[np.intp]:
        """The predicted class of each column of X: argmax of A_L over axis 0, shape (m,)."""
        return np.asarray(np.argmax(self.probabilities(params, X), axis=0), dtype=np.intp)

    def accuracy(self, params: Params, X: Array, y: Array) -> float:
        """Fraction of columns of X whose predicted class equals y."""
        self.check_inputs(X)
        self.check_labels(X, y)
        return float(np.mean(self.predict(params, X) == y))


def network(name: str, *, style: str = "vectorized", variant: str = "reference") -> Network:
    """The network of document ``name`` (a key of NETWORKS) in ``style`` and ``variant``.

    style: "loop", "vectorized" or "gpu" (needs CuPy and a CUDA device);
    variant: "reference" (correct, stable mathematics) or "published" (the document's own).
    """
    if not isinstance(name, str) or name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; expected one of {sorted(NETWORKS)}")
    return build(NETWORKS[name], style=style, variant=variant)


def build(spec: NetworkSpec, *, style: str = "vectorized", variant: str = "reference") -> Network:
    """A Network for any ``spec``, such as a registry spec with other layer sizes."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return Network(
        spec=spec,
        style=style,
        variant=variant,
        recipe=recipe_for(spec.derivation(variant)),
        backend=_backend(style),
    )
