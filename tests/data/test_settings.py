"""Data settings: plain, strict, versioned; the data recipe prepares what prepare_data does."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pytest

from segue.data.errors import DataError
from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.sequences import SideInputs
from segue.data.settings import (
    DataSettings,
    prepare_from_settings,
    read_from_settings,
    settings_from_group,
)
from segue.data.synthetic import generate_listening_log
from segue.models.config import ModelConfig

TINY = {"n_users": 8, "n_events": 400, "n_artists": 10, "seed": 3}


def tiny_settings(**changes) -> DataSettings:
    values = {
        "name": "tiny",
        "reader": "synthetic",
        "reader_options": dict(TINY),
        "split": "leave_last_out",
        "max_len": 16,
    }
    return DataSettings(**{**values, **changes})


def test_round_trip_through_a_plain_dict():
    settings = tiny_settings(sessions=SessionOptions(gap="1h"), side=SideInputs(True, False, True))
    values = settings.to_dict()
    assert values["version"] == 2 and values["sessions"]["gap"] == "1h"
    assert DataSettings.from_dict(values) == settings


def test_settings_written_before_the_catalogue_key_read_as_the_training_catalogue():
    """Version 1 settings (no ``catalogue``) prepared the vocabulary from train alone."""
    values = tiny_settings(catalogue="log").to_dict()
    del values["catalogue"]
    values["version"] = 1
    assert DataSettings.from_dict(values) == tiny_settings(catalogue="train")
    with pytest.raises(ValueError, match="missing key\\(s\\) \\['catalogue'\\]"):
        DataSettings.from_dict({**values, "version": 2})


def test_an_unknown_catalogue_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="catalogue must be one of"):
        tiny_settings(catalogue="everything")


def test_the_recipe_prepares_what_prepare_data_prepares():
    settings = tiny_settings()
    by_recipe = prepare_from_settings(settings)
    by_hand = prepare_data(generate_listening_log(**TINY), split="leave_last_out", max_len=16)
    assert by_recipe.vocab == by_hand.vocab
    assert np.array_equal(by_recipe.test.targets, by_hand.test.targets)
    assert len(read_from_settings(settings)) == TINY["n_events"]


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        ({"surprise": 1}, ValueError, "unknown key\\(s\\) \\['surprise'\\]"),
        ({"version": "1"}, TypeError, "version must be an integer"),
        ({"version": 3}, ValueError, "version 3 is not readable"),
        ({"reader": "os.system"}, ValueError, "reader must be one of"),
        ({"split": "random"}, ValueError, "split must be one of"),
        ({"min_count": "2"}, TypeError, "min_count must be an integer"),
        ({"min_count": 0}, ValueError, "min_count must be an integer >= 1"),
        ({"max_len": 0}, ValueError, "max_len must be an integer >= 1"),
        ({"exclude_seen": "yes"}, TypeError, "exclude_seen must be true or false"),
        ({"train_by": "album"}, ValueError, "train_by must be"),
        ({"reader_options": {"_target_": "os.system"}}, ValueError, "reader_options._target_"),
        ({"reader_options": {"n_users": math.nan}}, ValueError, "reader_options.n_users"),
        ({"reader_options": {"habits": {"skip": 1}}}, ValueError, "\\['habits'\\] are not"),
        ({"split_options": {"x": {1, 2}}}, TypeError, "split_options.x must be plain data"),
        ({"sessions": {**asdict(SessionOptions()), "gap": 30}}, TypeError, "gap must be a string"),
        (
            {"side": {"artists": 1, "event_types": False, "gap_buckets": False}},
            TypeError,
            "side.artists must be true or false",
        ),
    ],
)
def test_from_dict_names_what_is_wrong(edit, error, match):
    values = {**tiny_settings().to_dict(), **edit}
    with pytest.raises(error, match=match):
        DataSettings.from_dict(values)


def test_a_missing_key_is_named():
    values = tiny_settings().to_dict()
    del values["split"]
    with pytest.raises(ValueError, match="missing key\\(s\\) \\['split'\\]"):
        DataSettings.from_dict(values)


def test_read_log_needs_a_source():
    with pytest.raises(ValueError, match="need a 'source'"):
        DataSettings("x", "read_log", {"format": "movielens"})


def test_a_group_with_a_target_or_without_its_keys_is_refused():
    group = {"name": "x", "split": "leave_last_out", "min_count": 1, "train_by": "user"}
    group = {**group, "exclude_seen": False}
    side = SideInputs()
    source = {"_target_": "segue.read_log", "source": "a.csv"}
    with pytest.raises(ValueError, match=r"data\.source must name a reader"):
        settings_from_group({**group, "source": source}, max_len=10, causal=True, side=side)
    with pytest.raises(ValueError, match=r"the data group has no data\.split, data\.min_count"):
        settings_from_group({"name": "x"}, max_len=10, causal=True, side=side)


def test_for_model_takes_the_models_sequence_settings():
    config = ModelConfig(
        n_tracks=5, n_artists=3, use_gap_buckets=True, max_len=7, objective="masked"
    )
    settings = tiny_settings().for_model(config)
    assert (settings.max_len, settings.causal) == (7, False)
    assert settings.side == SideInputs(artists=True, event_types=False, gap_buckets=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_count": 10**9}, DataError, "min_count=1000000000 leaves no track"),
        ({"max_len": 0}, ValueError, "max_len must be an integer >= 1"),
        ({"max_len": 1, "causal": False}, ValueError, "max_len must be an integer >= 2"),
        ({"min_count": 1.5}, TypeError, "min_count must be an integer"),
        ({"train_by": "track"}, ValueError, "train_by must be one of"),
        ({"split": "random"}, ValueError, "split must be one of"),
        ({"sessions": {"gap": "1h"}}, TypeError, "sessions must be SessionOptions"),
    ],
)
def test_prepare_data_checks_its_settings(kwargs, error, match):
    log = generate_listening_log(**TINY)
    with pytest.raises(error, match=match):
        prepare_data(log, **kwargs)
