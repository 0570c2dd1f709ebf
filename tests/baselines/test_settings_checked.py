"""Every baseline checks its settings when built: a value of the wrong kind or out of range is
an error naming the setting, never a comparison failing inside ``fit`` or a silent odd model."""

from __future__ import annotations

import pytest

from segue.baselines import (
    EASE,
    ItemCooccurrence,
    PersonalPopularity,
    PureSVD,
    SessionKNN,
    Transitions,
)

CASES = [
    (EASE, {"l2": 0}, ValueError, "l2 must be a number > 0, got 0"),
    (EASE, {"l2": "big"}, TypeError, "l2 must be a number > 0, got 'big'"),
    (EASE, {"top_items": 0}, ValueError, "top_items must be an integer >= 1, got 0"),
    (EASE, {"max_items": 2.5}, TypeError, "max_items must be an integer >= 1"),
    (ItemCooccurrence, {"window": 0}, ValueError, "window must be an integer >= 1, got 0"),
    (ItemCooccurrence, {"history_window": "x"}, TypeError, "history_window must be an integer"),
    (ItemCooccurrence, {"decay": 1.5}, ValueError, r"decay must be a number in \(0, 1\]"),
    (PersonalPopularity, {"decay": 0.0}, ValueError, r"decay must be a number in \(0, 1\]"),
    (PureSVD, {"n_components": 0}, ValueError, "n_components must be an integer >= 1, got 0"),
    (PureSVD, {"binary": "yes"}, TypeError, "binary must be true or false, got 'yes'"),
    (PureSVD, {"n_iter": 0}, ValueError, "n_iter must be an integer >= 1"),
    (PureSVD, {"seed": -1}, ValueError, "seed must be an integer >= 0"),
    (SessionKNN, {"k": "abc"}, TypeError, "k must be an integer >= 1, got 'abc'"),
    (SessionKNN, {"sample_size": 0}, ValueError, "sample_size must be an integer >= 1, got 0"),
    (SessionKNN, {"window": -3}, ValueError, "window must be an integer >= 1, got -3"),
    (Transitions, {"backoff_weight": -1e-6}, ValueError, "backoff_weight must be a number >= 0"),
    (Transitions, {"backoff_weight": float("nan")}, ValueError, "backoff_weight must be a finite"),
]


@pytest.mark.parametrize(("baseline", "settings", "error", "message"), CASES)
def test_a_bad_setting_is_refused_when_the_baseline_is_built(baseline, settings, error, message):
    with pytest.raises(error, match=message):
        baseline(**settings)


def test_the_defaults_and_none_where_allowed_are_accepted():
    for baseline in (EASE, ItemCooccurrence, PersonalPopularity, PureSVD, SessionKNN, Transitions):
        baseline()
    assert SessionKNN(sample_size=None).sample_size is None
    assert PersonalPopularity(decay=None).decay is None
    assert EASE(top_items=None).top_items is None
