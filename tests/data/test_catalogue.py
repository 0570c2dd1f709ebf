"""The catalogue setting: ``catalogue="log"`` adds the tracks first heard after the training fold.

Such a track is never a training target, so training must see exactly what it sees without it;
but a listener who replays it in validation or test can now be answered with it.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from segue.baselines.personal_popularity import PersonalPopularity
from segue.data.pipeline import prepare_data
from segue.data.settings import DataSettings, prepare_from_settings
from segue.evaluation.evaluate import evaluate
from segue.evaluation.ranking import MISS
from segue.recipes.training import build_loss
from segue.training.losses import loss_for

DAY = 86_400


def _log() -> pd.DataFrame:
    """Two listeners: ten days of training plays, a validation day, a test day.

    "new" is first heard by u1 on the validation day and replayed on the test day; "fresh" is
    heard in test only, twice in a row; "rare" is played once in train and again in test.
    """
    rows = []
    for user, tracks in {"u1": "abcabcab", "u2": "bcabcarc"}.items():
        rows += [(user, t if t != "r" else "rare", i * DAY) for i, t in enumerate(tracks)]
    rows += [("u1", "new", 11 * DAY), ("u1", "a", 11 * DAY + 600)]
    rows += [("u1", "new", 13 * DAY), ("u1", "fresh", 13 * DAY + 300)]
    rows += [("u1", "fresh", 13 * DAY + 600), ("u2", "b", 13 * DAY + 600)]
    rows += [("u2", "rare", 13 * DAY + 900)]
    rows += [("u2", "a", 13 * DAY + 1200)]
    frame = pd.DataFrame(rows, columns=["user_id", "track_id", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    return frame


def _prepare(catalogue: str, min_count: int = 1):
    return prepare_data(
        _log(),
        split="global_temporal",
        split_options={"test_days": 1, "validation_days": 2},
        min_count=min_count,
        max_len=8,
        catalogue=catalogue,
    )


def _test_target(data, track: str) -> list[int]:
    """Positions of the test points whose target is ``track``."""
    index = data.vocab.positions.get(track, -1)
    return [i for i, t in enumerate(data.test.targets) if t == index]


def test_log_appends_the_later_tracks_with_no_plays_and_keeps_every_known_index():
    trained, logged = _prepare("train"), _prepare("log")
    n = trained.vocab.n_tracks
    assert logged.vocab.track_ids[:n] == trained.vocab.track_ids
    assert logged.vocab.counts[:n] == trained.vocab.counts
    assert logged.vocab.track_ids[n:] == ["new", "fresh"]  # in order of first appearance
    assert logged.vocab.counts[n:] == [0, 0]
    catalogue = next(r for r in logged.reports if r.stage == "catalogue")
    assert catalogue.stats["added tracks"] == 2


def test_training_sees_exactly_what_it_sees_without_the_added_tracks():
    trained, logged = _prepare("train"), _prepare("log")
    assert np.array_equal(trained.train.starts, logged.train.starts)
    assert np.array_equal(trained.train.ends, logged.train.ends)
    assert np.array_equal(trained.train.encoded.tracks, logged.train.encoded.tracks)
    added = [logged.vocab.positions[t] for t in ("new", "fresh")]
    assert not np.isin(logged.train.encoded.tracks, added).any()


def test_a_replayed_new_track_becomes_a_target_and_a_history_event():
    trained, logged = _prepare("train"), _prepare("log")
    assert _test_target(trained, "new") == []  # unseen in train: index 0, a miss for all
    points = _test_target(logged, "new") + _test_target(logged, "fresh")
    assert len(points) == 2
    new, fresh = logged.vocab.positions["new"], logged.vocab.positions["fresh"]
    histories = [set(logged.test.full_history(i).tolist()) for i in points]
    assert new in histories[0] and fresh in histories[1]  # each was played before its point


def test_the_replayed_new_track_is_ranked_instead_of_missed():
    """Personal popularity reads the history: with the log's catalogue it can rank the replay.

    u1's test day: "new" (heard the day before), "fresh", "fresh": the second "fresh" is the
    replay; its one earlier play puts it level with "new" and behind u1's old favourites.
    """
    ranks = {}
    for catalogue in ("train", "log"):
        data = _prepare(catalogue)
        model = PersonalPopularity().fit(data.training_sequences("user"), data.vocab.n_tracks)
        evaluation = evaluate({"pp": model}, data, ks=(1,))
        ranks[catalogue] = evaluation.points["rank"].to_numpy()
    fresh = _test_target(_prepare("log"), "fresh")[0]
    assert ranks["train"][fresh] == MISS
    assert ranks["log"][fresh] != MISS and ranks["log"][fresh] <= 6  # 5 tracks + "new", ties
    known = [i for i in range(len(ranks["log"])) if ranks["train"][i] != MISS]
    assert np.array_equal(ranks["train"][known], ranks["log"][known])  # zero-count extras


def test_a_track_below_min_count_stays_unlearned_but_joins_when_heard_later():
    logged = _prepare("log", min_count=2)
    rare = logged.vocab.positions["rare"]
    assert logged.vocab.counts[rare - 1] == 0  # its one training play is not learned from
    assert not np.isin(logged.train.encoded.tracks, [rare]).any()
    assert _test_target(logged, "rare")


def test_the_recipe_passes_the_catalogue_through():
    settings = DataSettings(
        "tiny",
        "synthetic",
        {"n_users": 8, "n_events": 400, "seed": 3},
        split="global_temporal",
        split_options={"test_days": 3, "validation_days": 3},
        max_len=16,
        catalogue="log",
    )
    by_recipe = prepare_from_settings(settings)
    assert any(r.stage == "catalogue" for r in by_recipe.reports)


@pytest.mark.parametrize("sampler", ["popularity", "in_batch"])
def test_a_sampler_that_never_draws_unplayed_tracks_is_refused(sampler):
    vocab = _prepare("log").vocab

    def factory(n_tracks, counts):
        return loss_for("sampled_softmax", n_tracks=n_tracks, counts=counts, sampler=sampler)

    with pytest.raises(ValueError, match=f"2 tracks .* no training plays .* {sampler} sampler"):
        build_loss(factory, vocab)
    uniform = build_loss(
        lambda n_tracks, counts: loss_for("sampled_softmax", n_tracks=n_tracks, counts=counts),
        vocab,
    )
    assert uniform.sampler == "uniform" and torch.is_tensor(uniform.counts)


def test_an_unknown_catalogue_is_refused_before_the_log_is_read():
    with pytest.raises(ValueError, match="catalogue must be one of"):
        prepare_data(_log(), catalogue="everything")


@pytest.mark.parametrize(
    ("split", "options"),
    [("leave_last_out", {}), ("held_out_sessions", {}), ("global_temporal", {"test_days": 1})],
)
def test_every_split_adds_exactly_the_later_folds_tracks_that_train_lacks(split, options):
    log = _log()
    logged = prepare_data(log, split=split, split_options=options, max_len=8, catalogue="log")
    events = logged.split.events
    train_tracks = set(events.loc[events["fold"] == "train", "track_id"])
    later = set(events.loc[events["fold"] != "train", "track_id"]) - train_tracks
    trained = prepare_data(log, split=split, split_options=options, max_len=8)
    assert set(logged.vocab.track_ids[trained.vocab.n_tracks :]) == later
    assert set(trained.vocab.track_ids) == train_tracks
