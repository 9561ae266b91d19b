"""The types of a network spec: everything a source document fixes about its network.

A spec is data (frozen dataclasses of strings and numbers), so that the styles,
the oracles, the tests and the reports are all driven by it and it can be written
to JSON as it is. The registry of the five documents' specs is in ``networks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Variant = Literal["reference", "published"]
VARIANTS: tuple[Variant, ...] = ("reference", "published")


@dataclass(frozen=True)
class Citation:
    """Where a spec comes from: the document, its title and author, and the passage quoted."""

    document: str
    title: str
    author: str | None
    passage: str


@dataclass(frozen=True)
class Initialisation:
    """How the document draws W_k and b_k.

    weights: ``normal`` (randn * weight_scale), ``he_normal`` (randn * sqrt(2 / fan_in)) or
    ``uniform_centered`` (rand - 0.5, uniform on [-0.5, 0.5)); biases: ``zeros`` or
    ``uniform_centered``.
    """

    weights: Literal["normal", "he_normal", "uniform_centered"]
    biases: Literal["zeros", "uniform_centered"]
    weight_scale: float = 1.0


@dataclass(frozen=True)
class DataProtocol:
    """Which examples train and which test, and how pixels become inputs.

    source ``keras``: the 60,000 training and 10,000 test images of MNIST.
    source ``kaggle_pool``: the first 42,000 MNIST training images stand in for Kaggle's
    ``train.csv`` (see ../shared/data/README.md); ``train`` and ``test`` are half-open
    row ranges of that pool, after a seeded shuffle when ``shuffle`` is set.
    """

    source: Literal["keras", "kaggle_pool"]
    input_scale: float
    shuffle: bool = False
    train: tuple[int, int] | None = None
    test: tuple[int, int] | None = None
    test_name: str = "test"


@dataclass(frozen=True)
class Training:
    """The optimiser as published: plain gradient descent on the mean loss.

    accumulation ``full_batch``: one vectorised gradient over all m examples per step;
    ``per_example_sum``: per-example gradients summed, divided by m, one update per pass.
    """

    learning_rate: float
    iterations: int
    accumulation: Literal["full_batch", "per_example_sum"]
    log_every: int
    logged: str
    optimiser: Literal["gradient_descent"] = "gradient_descent"


@dataclass(frozen=True)
class PublishedResult:
    """What the document reports: accuracies in percent, ``loss_log`` as (printed iteration,
    loss) pairs, ``confusion_matrix`` with true labels as rows.

    ``loss_log_lag``: the loss printed at iteration i is that of the forward pass made
    after i - loss_log_lag updates (how the document's loop counts).
    """

    train_accuracy: float | None
    test_accuracy: float | None
    loss_log: tuple[tuple[int, float], ...] = ()
    loss_log_lag: int = 0
    confusion_matrix: tuple[tuple[int, ...], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Derivation:
    """The math of one variant, as names of primitives (resolved in ``recipe.py``).

    activation / activation_derivative: hidden layers; ``relu`` with derivative ``relu``
    (of Z) or ``relu_of_output`` (mask on A = relu(Z)); ``sigmoid`` or ``sigmoid_offset``
    (1 / (1 + exp(-Z + 1e-5)), computed as written) with derivative ``sigmoid`` (of Z) or
    ``sigmoid_of_output`` (A (1 - A)).
    softmax: ``stable`` (shift by the column max), ``unshifted`` (exp(Z) / sum exp(Z)) or
    ``offset`` (exp(Z + 1e-5) / sum, unshifted).
    one_hot: ``num_classes`` (always as wide as the output) or ``batch_max`` (labels.max() + 1).
    bias_gradient: ``per_unit`` (sum over the examples, axis 1) or ``sum_all`` (one scalar).
    loss: ``log_softmax`` (stable, from the logits), ``log_probs`` (-log of the output
    probabilities) or ``log_probs_eps`` (-log(output + 1e-8)).
    test_input_scale: the pixel scale used on the test set; None means as in training.
    """

    activation: Literal["relu", "sigmoid", "sigmoid_offset"]
    activation_derivative: Literal["relu", "relu_of_output", "sigmoid", "sigmoid_of_output"]
    softmax: Literal["stable", "unshifted", "offset"]
    one_hot: Literal["num_classes", "batch_max"]
    bias_gradient: Literal["per_unit", "sum_all"]
    loss: Literal["log_softmax", "log_probs", "log_probs_eps"]
    params_dtype: Literal["float32", "float64"]
    input_dtype: Literal["float32", "float64"]
    test_input_scale: float | None = None


@dataclass(frozen=True)
class Departure:
    """One place where the published variant departs from the reference, and the passage.

    ``concerns`` names what it touches: a Derivation field (``activation``,
    ``activation_derivative``, ``softmax``, ``one_hot``, ``bias_gradient``, ``loss``,
    ``params_dtype``, ``test_input_scale``), or ``scale``, ``shape`` or ``prose`` for what
    has no numerical effect here.
    """

    concerns: str
    what: str
    passage: str


@dataclass(frozen=True)
class OpenChoice:
    """Something the document leaves open: the value chosen and why."""

    what: str
    chosen: str
    why: str


@dataclass(frozen=True)
class NetworkSpec:
    """Everything one document fixes about its network.

    sizes: (n_0, n_1, ..., n_L), with n_0 = 784 inputs and n_L = 10 classes; W_k has shape
    (n_k, n_{k-1}) and b_k shape (n_k, 1). The output is a softmax and the loss the mean
    cross-entropy over the m examples (columns).
    """

    name: str
    sizes: tuple[int, ...]
    hidden_activation: Literal["relu", "sigmoid"]
    initialisation: Initialisation
    data: DataProtocol
    training: Training
    reference: Derivation
    published: Derivation
    departures: tuple[Departure, ...]
    published_result: PublishedResult
    citation: Citation
    open_choices: tuple[OpenChoice, ...] = ()
    output: Literal["softmax"] = "softmax"
    loss: Literal["cross_entropy"] = "cross_entropy"

    @property
    def num_layers(self) -> int:
        """L, the number of layers with parameters."""
        return len(self.sizes) - 1

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """``("W1", "b1", ..., "WL", "bL")``."""
        return tuple(f"{p}{k}" for k in range(1, self.num_layers + 1) for p in ("W", "b"))

    def parameter_shapes(self) -> dict[str, tuple[int, int]]:
        """Shape of each parameter: W_k (n_k, n_{k-1}), b_k (n_k, 1)."""
        shapes: dict[str, tuple[int, int]] = {}
        for k in range(1, self.num_layers + 1):
            shapes[f"W{k}"] = (self.sizes[k], self.sizes[k - 1])
            shapes[f"b{k}"] = (self.sizes[k], 1)
        return shapes

    @property
    def parameter_count(self) -> int:
        """Total number of scalar parameters."""
        return sum(r * c for r, c in self.parameter_shapes().values())

    def derivation(self, variant: str) -> Derivation:
        """The Derivation of ``variant`` ("reference" or "published")."""
        if variant == "reference":
            return self.reference
        if variant == "published":
            return self.published
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")

    def reverted(self, *departures: str) -> NetworkSpec | None:
        """This spec with the departures named (by ``what``) reverted: each concerned field of
        the published derivation set to the reference's; None when one names no such field."""
        published = self.published
        for what in departures:
            departure = next((d for d in self.departures if d.what == what), None)
            if departure is None or not hasattr(published, departure.concerns):
                return None
            reference = getattr(self.reference, departure.concerns)
            published = replace(published, **{departure.concerns: reference})
        return replace(self, published=published)
