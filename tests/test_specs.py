"""The registry of specs: every document's network is described, as data, and consistently."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reference_nn import NETWORKS
from reference_nn.recipe import recipe_for

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

DOCUMENTS = {
    "relu_500_150": "000_e6518d4dbbb334e1.txt",
    "sigmoid_16_16": "001_35693fd248027a45.txt",
    "relu_532": "002_72b69701b6aa8f32.txt",
    "relu_10_10": "003_5e86aafe8650a8e5.txt",
    "relu_16_16": "004_5d1a164f1f814777.txt",
}
SIZES = {
    "relu_500_150": (784, 500, 150, 10),
    "sigmoid_16_16": (784, 16, 16, 10),
    "relu_532": (784, 532, 10),
    "relu_10_10": (784, 10, 10),
    "relu_16_16": (784, 16, 16, 10),
}


def test_the_registry_holds_one_spec_per_document_under_the_contract_names() -> None:
    assert {name: spec.citation.document for name, spec in NETWORKS.items()} == DOCUMENTS
    assert {name: spec.sizes for name, spec in NETWORKS.items()} == SIZES


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_spec_is_frozen_json_data_with_resolvable_derivations(name: str) -> None:
    spec = NETWORKS[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    json.dumps(dataclasses.asdict(spec))
    for variant in ("reference", "published"):
        assert recipe_for(spec.derivation(variant)).derivation is spec.derivation(variant)
    with pytest.raises(ValueError, match="unknown variant 'fixed'"):
        spec.derivation("fixed")


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_parameter_shapes_follow_the_documents_convention(name: str) -> None:
    spec = NETWORKS[name]
    shapes = spec.parameter_shapes()
    assert tuple(shapes) == spec.parameter_names
    for k in range(1, spec.num_layers + 1):
        assert shapes[f"W{k}"] == (spec.sizes[k], spec.sizes[k - 1])
        assert shapes[f"b{k}"] == (spec.sizes[k], 1)


def test_relu_500_150_has_about_468_thousand_parameters() -> None:
    assert NETWORKS["relu_500_150"].parameter_count == 784 * 500 + 500 + 500 * 150 + 150 + 1510


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_published_departure_from_the_reference_is_listed_with_a_passage(name: str) -> None:
    spec = NETWORKS[name]
    differing = [
        f.name
        for f in dataclasses.fields(spec.reference)
        if getattr(spec.reference, f.name) != getattr(spec.published, f.name)
    ]
    assert differing, "every document's published code departs from the reference somewhere"
    concerns = {departure.concerns for departure in spec.departures}
    assert set(differing) - {"input_dtype"} <= concerns, set(differing) - concerns
    for departure in spec.departures:
        assert departure.what and departure.passage


def test_what_document_004_leaves_open_is_recorded_with_the_value_chosen() -> None:
    choices = NETWORKS["relu_16_16"].open_choices
    rate = [c for c in choices if "learning rate" in c.what]
    assert rate and "0.10" in rate[0].chosen and rate[0].why
    assert NETWORKS["relu_16_16"].published_result.test_accuracy is None


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside this checkout")
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_cited_document_exists(name: str) -> None:
    assert (SEEDS / NETWORKS[name].citation.document).is_file()


def test_published_loss_log_of_000_is_the_printed_one() -> None:
    log = NETWORKS["relu_500_150"].published_result.loss_log
    assert len(log) == 100 and log[0] == (10, 2.3020) and log[-1] == (1000, 0.2916)
    losses = [loss for _, loss in log]
    assert losses == sorted(losses, reverse=True)
