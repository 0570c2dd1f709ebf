import numpy as np
import pandas as pd
import pytest
import torch

from segue.baselines.most_popular import MostPopular
from segue.baselines.personal_popularity import PersonalPopularity
from segue.baselines.transitions import Transitions
from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.evaluation.evaluate import evaluate
from segue.evaluation.ranking import MISS
from segue.io.checkpoint import Checkpoint, save_checkpoint
from segue.models import bert4rec, sasrec
from segue.models.mask_token import append_mask_token


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=30, n_events=1500, seed=2)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="global_temporal",
        split_options={"test_days": 3, "validation_days": 3},
        max_len=12,
    )


def _loop_reference_ranks(model, data, exclude_seen):
    """Rank each point alone with plain Python: score, optionally drop seen, count above."""
    points, ranks = data.test, []
    for i in range(len(points)):
        target = int(points.targets[i])
        if target == 0:
            ranks.append(MISS)
            continue
        batch = points.batch(np.array([i]))
        if model.config.objective == "masked":
            batch = append_mask_token(batch, model.config.mask_token, model.config.max_len)
        with torch.no_grad():
            scores = model.score(model.last_hidden(batch))[0].tolist()
        seen = set(points.full_history(i).tolist()) if exclude_seen else set()
        target_score = scores[target]
        above = sum(
            1
            for j in range(1, len(scores))
            if j != target and j not in seen and scores[j] >= target_score
        )
        ranks.append(1 + above)
    return np.array(ranks)


@pytest.mark.parametrize("exclude_seen", [False, True])
@pytest.mark.parametrize("build", [sasrec, bert4rec])
def test_evaluate_equals_a_slow_loop_reference(data, exclude_seen, build):
    model = build(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=12).eval()
    result = evaluate({"m": model}, data, ks=(5, 10), exclude_seen=exclude_seen, batch_size=7)
    assert np.array_equal(
        result.points["rank"].to_numpy(), _loop_reference_ranks(model, data, exclude_seen)
    )


def test_tidy_table_and_summary_for_several_models(data, tmp_path):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=12)
    path = save_checkpoint(
        Checkpoint(model.config, model.state_dict(), data.vocab), tmp_path / "m.pt"
    )
    pop = MostPopular().fit(data.training_sequences(), data.vocab.n_tracks)
    trans = Transitions().fit(data.training_sequences(), data.vocab.n_tracks)
    result = evaluate({"ckpt": path, "pop": pop, "trans": trans}, data, ks=(10, 20))
    n = len(data.test)
    assert len(result.points) == 3 * n
    assert list(result.summary["model"]) == ["ckpt", "pop", "trans"]
    unknown = int((data.test.targets == 0).sum())
    assert (result.summary["unknown_targets"] == unknown).all()
    # Unknown targets are misses, never silently removed.
    assert (result.points.loc[~result.points.target_known, "rank"] == MISS).all()
    assert result.summary["points"].tolist() == [n] * 3
    for column in (
        "coverage@10",
        "artist_diversity@10",
        "mean_log_popularity@10",
        "repeat_share@10",
    ):
        assert result.summary[column].between(0, 100).all()
    assert result.top_k["pop"].shape == (n, 20)
    # MostPop recommends the same list everywhere.
    assert (result.top_k["pop"] == result.top_k["pop"][0]).all()
    assert "| model |" in result.to_markdown(["model", "ndcg@10"])


def test_checkpoint_with_another_vocabulary_is_refused(data, tmp_path):
    from segue.data.vocab import TrackVocab

    other = TrackVocab(track_ids=["x", "y"], counts=[1, 1])
    model = sasrec(2, d_model=8, n_layers=1, max_len=12)
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), other), tmp_path / "o.pt")
    with pytest.raises(ValueError, match="vocabulary"):
        evaluate(path, data)


def test_discovery_counts_replayed_targets_as_misses(data):
    """exclude_seen keeps a replayed target in the ranking (against fewer tracks); the
    discovery setting misses it, since none of its lists can hold an already-played track."""
    pers = PersonalPopularity().fit(data.training_sequences(), data.vocab.n_tracks)
    seen = evaluate(pers, data, ks=(10,), exclude_seen=True).points
    found = evaluate(pers, data, ks=(10,), discovery=True)
    points = found.points
    repeat = points["is_repeat"].to_numpy()
    assert repeat.any() and (~repeat).any()
    assert (points.loc[repeat, "rank"] == MISS).all()
    np.testing.assert_array_equal(points.loc[~repeat, "rank"], seen.loc[~repeat, "rank"])
    assert found.summary.loc[0, "repeat_share@10"] == 0.0
    assert found.summary.loc[0, "repeat_targets_missed"] == int(repeat.sum())
    known = points["target_known"].to_numpy()
    assert found.summary.loc[0, "unknown_targets"] == int((~known).sum())


class _Unscored:
    """A baseline stand-in that fails the test if anything scores it."""

    def score(self, histories):
        raise AssertionError("scored before the arguments were checked")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"fold": "train"}, ValueError, "fold must be one of"),
        ({"ks": 10}, TypeError, "ks must be a non-empty list"),
        ({"ks": ()}, TypeError, "ks must be a non-empty list"),
        ({"ks": (10, 0)}, ValueError, "ks must be an integer >= 1"),
        ({"exclude_seen": "no"}, TypeError, "exclude_seen must be true or false"),
        ({"discovery": 1}, TypeError, "discovery must be true or false"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_refused_before_any_model_is_scored(data, arguments, error, message):
    with pytest.raises(error, match=message):
        evaluate({"m": _Unscored()}, data, **arguments)


def test_a_fold_other_than_validation_or_test_is_refused_not_read_as_test(data):
    with pytest.raises(ValueError, match="fold must be one of"):
        data.points("train")
    assert data.points("test") is data.test and data.points("validation") is data.validation


def test_a_replayed_target_unknown_to_the_vocabulary_is_a_repeat() -> None:
    """Track "new" is first heard at the validation point (outside the training catalogue), then
    played again at the test point: a repeat for the listener, though a miss for every model."""
    tracks = ["a", "b", "c", "a", "b", "c", "new", "new"]
    log = pd.DataFrame(
        {
            "user_id": ["u"] * 8,
            "track_id": tracks,
            "timestamp": pd.to_datetime(np.arange(8) * 3600, unit="s", utc=True),
        }
    )
    data = prepare_data(log, sessions=SessionOptions(skip_min_ms=None), catalogue="train")
    pop = MostPopular().fit(data.training_sequences(), data.vocab.n_tracks)
    points = evaluate(pop, data, ks=(1,)).points
    assert points["track_id"].tolist() == ["new"]
    assert points["rank"].tolist() == [MISS]
    assert points["is_repeat"].tolist() == [True]
    assert points["target_known"].tolist() == [False]


def test_a_fold_without_points_is_refused_before_any_model_is_scored() -> None:
    """A refit split has no validation fold: say so, not "ranks must be a non-empty array"."""
    log = generate_listening_log(n_users=30, n_events=1500, seed=2)
    refit = prepare_data(log, split="leave_last_out", split_options={"validation": False})
    assert len(refit.validation) == 0
    with pytest.raises(ValueError, match="the validation fold has no prediction points"):
        evaluate({"m": _Unscored()}, refit, fold="validation")
