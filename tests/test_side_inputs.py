"""The side-input table agrees with every structure that carries side inputs."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from segue.api.history import EncodedHistory
from segue.data.batch import SequenceBatch
from segue.data.encoding import EncodedEvents
from segue.data.sequences import SideInputs
from segue.models import ModelConfig, TrackTransformer
from segue.side_inputs import SIDE_INPUT_NAMES, SIDE_INPUTS, enabled_side_inputs


def names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def test_every_side_input_is_a_field_of_each_carrier() -> None:
    assert set(SIDE_INPUT_NAMES) == names(SideInputs)
    assert set(SIDE_INPUT_NAMES) <= names(SequenceBatch)
    assert set(SIDE_INPUT_NAMES) <= names(EncodedEvents)
    per_event = {s.name for s in SIDE_INPUTS if not s.per_track}
    assert per_event <= names(EncodedHistory)  # the artist comes from the catalogue


def test_flags_and_sizes_are_model_config_fields() -> None:
    config_fields = names(ModelConfig)
    for side in SIDE_INPUTS:
        assert side.flag in config_fields and side.size in config_fields


@pytest.mark.parametrize("enabled", [(), ("artists",), ("event_types", "gap_buckets")])
def test_the_model_builds_exactly_the_enabled_tables(enabled: tuple[str, ...]) -> None:
    values = {"n_artists": 3 if "artists" in enabled else 0}
    values |= {"use_event_types": "event_types" in enabled}
    values |= {"use_gap_buckets": "gap_buckets" in enabled}
    config = ModelConfig(n_tracks=5, d_model=8, n_heads=2, **values)
    model = TrackTransformer(config)
    assert [s.name for s in enabled_side_inputs(config)] == list(enabled)
    assert SideInputs.of_model(config) == SideInputs(**{n: n in enabled for n in SIDE_INPUT_NAMES})
    for side in SIDE_INPUTS:
        table = getattr(model, side.embedding)
        if side.name in enabled:
            assert table.weight.shape == (side.n_rows(config), 8)
        else:
            assert table is None


def test_a_missing_side_input_is_an_error_naming_it() -> None:
    model = TrackTransformer(ModelConfig(n_tracks=5, d_model=8, n_heads=2, use_gap_buckets=True))
    with pytest.raises(ValueError, match="gap_buckets"):
        model(SequenceBatch(torch.tensor([[1, 2]])))
