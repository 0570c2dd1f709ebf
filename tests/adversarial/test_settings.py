"""Degenerate settings of sessions, splits, data preparation, model, trainer and losses: each is
refused before any data is read, naming the setting and what is allowed."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pandas as pd
import pytest
import torch

from segue.data.errors import DataError
from segue.data.pipeline import prepare_data
from segue.data.sessions import SkipRule, build_sessions
from segue.data.splits import (
    check_split_options,
    global_temporal,
    held_out_sessions,
    leave_last_out,
)
from segue.data.subsample import cap_events
from segue.data.synthetic import generate_listening_log
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, resolve_device
from tests.conftest import make_log

# Two users, three sessions each (30 min gap), one skip-free play every minute.
ROWS = [
    (user, f"t{(i + s) % 5}", day * 86_400 + s * 7_200 + 60 * i)
    for user in ("u1", "u2")
    for day, s in ((0, 0), (1, 1), (2, 2))
    for i in range(4)
]


@pytest.fixture(scope="module")
def sessions():
    return build_sessions(make_log(ROWS), "30min", skip_rule=None)


@pytest.fixture(scope="module")
def small_log():
    return generate_listening_log(n_users=30, n_events=2000, seed=0)


@pytest.mark.parametrize(
    ("gap", "error", "message"),
    [
        ("-5min", ValueError, "positive duration"),
        ("0s", ValueError, "positive duration"),
        ("", ValueError, "duration with a unit"),
        ("   ", ValueError, "duration with a unit"),
        (None, TypeError, "duration with a unit"),
        (30, TypeError, 'write "30min"'),
        (30.0, TypeError, 'write "30.0min"'),
        ("30", ValueError, 'write "30min"'),
        ("soon", ValueError, "duration with a unit"),
        (pd.Timedelta("-1h"), ValueError, "positive duration"),
        (["30min"], TypeError, "duration with a unit"),
    ],
)
def test_bad_gap_is_refused_before_the_log_is_read(gap, error, message) -> None:
    # An empty frame would be a DataError if the log were looked at first.
    with pytest.raises(error, match=f"gap must be .*{message}|{message}"):
        build_sessions(pd.DataFrame(), gap)


@pytest.mark.parametrize(
    ("kwargs", "error", "setting"),
    [
        ({"max_length": 0}, ValueError, "max_length"),
        ({"max_length": 2.5}, TypeError, "max_length"),
        ({"min_length": 0}, ValueError, "min_length"),
        ({"skip_rule": SkipRule(min_ms=-5)}, ValueError, "skip_min_ms"),
        ({"skip_rule": SkipRule(min_ms=None, min_fraction=1.5)}, ValueError, "skip_min_fraction"),
    ],
)
def test_bad_session_settings(kwargs, error, setting) -> None:
    with pytest.raises(error, match=setting):
        build_sessions(pd.DataFrame(), "30min", **kwargs)


@pytest.mark.parametrize("gap", [pd.Timedelta("30min"), datetime.timedelta(minutes=30), "30min"])
def test_every_spelling_of_a_gap_gives_the_same_sessions(gap) -> None:
    out = build_sessions(make_log(ROWS), gap, skip_rule=None)
    assert out.events["session_id"].nunique() == 6


SPLIT_CASES: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
    (global_temporal, {"test_days": 0}, ValueError, r"test_days must be a number in \(0, 36525\]"),
    (global_temporal, {"test_days": -2}, ValueError, "test_days"),
    (global_temporal, {"test_days": math.nan}, ValueError, "test_days"),
    (global_temporal, {"test_days": "2"}, TypeError, "test_days"),
    (
        global_temporal,
        {"validation_days": -1},
        ValueError,
        r"validation_days must be a number in \[0, 36525\]",
    ),
    (global_temporal, {"gap_days": -1}, ValueError, "gap_days"),
    (global_temporal, {"test_start": "garbage"}, ValueError, "test_start"),
    (global_temporal, {"test_start": 5}, TypeError, "test_start"),
    (global_temporal, {"predict_first_track": "yes"}, TypeError, "predict_first_track"),
    (held_out_sessions, {"min_train_sessions": -1}, ValueError, "min_train_sessions"),
    (held_out_sessions, {"min_train_sessions": 1.5}, TypeError, "min_train_sessions"),
    (leave_last_out, {"min_points": 1}, ValueError, "min_points must be an integer >= 3"),
]


@pytest.mark.parametrize(("split", "kwargs", "error", "message"), SPLIT_CASES)
def test_bad_split_settings_are_refused_before_the_log(split, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        split(pd.DataFrame(), **kwargs)  # an empty log would be a DataError
    with pytest.raises(error, match=message):
        check_split_options(split.__name__, kwargs)  # the same check, with no data at all


def test_unknown_split_or_option_lists_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"choose from \['global_temporal'"):
        check_split_options("random", {})
    with pytest.raises(ValueError, match=r"unknown option 'test_day'.*'test_days'"):
        check_split_options("global_temporal", {"test_day": 2})


def test_test_start_after_the_last_event_is_a_data_error(sessions) -> None:
    with pytest.raises(DataError, match=r"test_start=2030-01-01 .* is after the last event"):
        global_temporal(sessions, "2030-01-01")


def test_one_session_per_user_leaves_no_test_point_and_says_so() -> None:
    one_each = build_sessions(make_log([(u, "a", 0) for u in "xyz"] * 1), "30min")
    with pytest.raises(DataError, match="held-out-sessions split left no test point"):
        held_out_sessions(one_each)
    with pytest.raises(DataError, match="no test point"):
        leave_last_out(one_each)


def test_validation_days_zero_is_a_run_without_validation(sessions, small_log) -> None:
    split = global_temporal(sessions, test_days=0.5, validation_days=0)
    assert split.report.stats["validation events"] == 0
    assert split.report.stats["test points"] > 0
    data = prepare_data(
        small_log, split="global_temporal", split_options={"test_days": 3, "validation_days": 0}
    )
    assert len(data.validation) == 0 and len(data.test) > 0 and len(data.train) > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_count": 10**9}, DataError, "min_count=1000000000 leaves no track"),
        ({"min_count": 0}, ValueError, "min_count"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"max_len": 1, "causal": False}, ValueError, "max_len must be an integer >= 2"),
        ({"split_options": {"bogus": 1}}, ValueError, "unknown option 'bogus'"),
        ({"split": "random"}, ValueError, "split must be one of"),
    ],
)
def test_bad_preparation_settings(small_log, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        prepare_data(small_log, **kwargs)


def test_event_cap_keeps_whole_users_and_counts_the_rest(small_log) -> None:
    capped = cap_events(small_log, 500)
    kept = capped.events["user_id"].unique()
    full = small_log.events[small_log.events["user_id"].isin(kept)]
    assert len(capped) == len(full) <= 500  # kept users are whole
    assert capped.report.rows_dropped == len(small_log) - len(capped)
    one_user = cap_events(generate_listening_log(n_users=1, n_events=300, seed=0), 100)
    assert len(one_user) == 100  # one listener's export: its most recent events
    with pytest.raises(ValueError, match="max_events"):
        cap_events(small_log, 0)


TRAINER_CASES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"epochs": -1}, ValueError, "epochs must be an integer >= 1"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"patience": 0}, ValueError, "patience must be an integer >= 1"),
    ({"num_threads": 0}, ValueError, "num_threads"),
    ({"max_steps_per_epoch": 0}, ValueError, "max_steps_per_epoch"),
    ({"monitor": "bogus"}, ValueError, "monitor must be .*ndcg@K"),
    ({"monitor": "ndcg@0"}, ValueError, "monitor"),
    ({"lr": "abc"}, TypeError, "lr must be a number"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"lr": math.nan}, ValueError, "lr"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ({"min_lr_ratio": 2.0}, ValueError, "min_lr_ratio"),
    ({"grad_clip": 0.0}, ValueError, "grad_clip"),
    ({"mask_prob": 0.0}, ValueError, "mask_prob"),
    ({"device": "gpu"}, ValueError, "device must be auto, cpu, cuda"),
    ({"bf16": "yes"}, TypeError, "bf16"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), TRAINER_CASES)
def test_bad_trainer_settings(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        TrainerConfig(**kwargs)


def test_monitor_sets_the_cut_off_validation_computes() -> None:
    assert TrainerConfig(monitor="ndcg@50").monitor_k == 50
    assert TrainerConfig(monitor="mrr@5").monitor_k == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "gbce", "n_negatives": 0}, ValueError, "n_negatives"),
        ({"name": "gbce", "gbce_t": 2.0}, ValueError, "gbce_t"),
        ({"name": "softmax", "chunk_size": 0}, ValueError, "chunk_size"),
        ({"name": "sampled_softmax", "n_negatives": "many"}, TypeError, "n_negatives"),
        ({"name": "hinge"}, ValueError, "name must be one of"),
    ],
)
def test_bad_loss_settings(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        loss_for(n_tracks=10, **kwargs)


def test_a_time_cut_on_naive_times_is_a_data_error(sessions) -> None:
    naive = sessions.events.assign(timestamp=sessions.events["timestamp"].dt.tz_localize(None))
    with pytest.raises(DataError, match="timezone-aware"):
        global_temporal(naive, "2024-01-01")
