"""A run without validation (a refit): fixed epochs, its own stop epoch, its checkpoint."""

import json

import pytest
import torch

from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.io.checkpoint import load_checkpoint
from segue.models import sasrec
from segue.training.losses import loss_for
from segue.training.schedule import warmup_cosine_factor
from segue.training.trainer import TrainerConfig, fit, warmup_length


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=40, n_events=2000, seed=1)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="global_temporal",
        split_options={"test_days": 3, "validation_days": 0},
        max_len=16,
    )


def _refit(data, out_dir, epochs=4, stop_epoch=None, resume=False):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=3)
    config = TrainerConfig(
        epochs=epochs,
        batch_size=8,
        out_dir=str(out_dir),
        progress=False,
        patience=1,  # would stop a validated run after 2 epochs; a refit never stops early
        seed=5,
        resume=resume,
        num_threads=1,
    )
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, None, config, vocab=data.vocab, stop_epoch=stop_epoch)
    return model, result


def test_no_validation_fold_is_a_supported_run(data):
    assert len(data.validation) == 0 and len(data.test) > 0


def test_a_refit_trains_every_epoch_and_writes_the_last_one(data, tmp_path):
    model, result = _refit(data, tmp_path, epochs=3)
    assert (result.epochs_run, result.best_epoch) == (3, 3)
    assert result.best_path == tmp_path / "final.pt"
    assert not (tmp_path / "best.pt").exists()
    final = load_checkpoint(tmp_path / "final.pt")
    for name, value in model.state_dict().items():
        assert torch.equal(final.state_dict[name], value.cpu()), name
    assert final.metrics["epoch"] == 3 and "ndcg@10" not in final.metrics
    assert load_checkpoint(tmp_path / "last.pt").training_state["epoch"] == 3
    assert [row["epoch"] for row in _rows(tmp_path)] == [1, 2, 3]


def test_stop_epoch_keeps_the_schedule_of_all_epochs(data, tmp_path):
    """Stopping at epoch 2 of a 4-epoch schedule is exactly the first 2 epochs of that run."""
    _refit(data, tmp_path / "full", epochs=4)
    stopped_model, result = _refit(data, tmp_path / "stopped", epochs=4, stop_epoch=2)
    assert (result.epochs_run, result.best_epoch) == (2, 2)
    rows, full_rows = _rows(tmp_path / "stopped"), _rows(tmp_path / "full")
    assert [(r["train_loss"], r["lr"]) for r in rows] == [
        (r["train_loss"], r["lr"]) for r in full_rows[:2]
    ]
    steps = len(data.train) // 8 + (len(data.train) % 8 > 0)
    total = 4 * steps
    warmup = warmup_length(TrainerConfig(epochs=4), total)
    expected_lr = 1e-3 * warmup_cosine_factor(2 * steps, warmup, total, 0.0)
    assert rows[-1]["lr"] == pytest.approx(expected_lr)  # mid-schedule, not decayed to 0
    short_model, _ = _refit(data, tmp_path / "short", epochs=2)
    differs = any(
        not torch.equal(a, b)
        for a, b in zip(stopped_model.state_dict().values(), short_model.state_dict().values())
    )
    assert differs  # a 2-epoch schedule decays faster than 2 epochs of a 4-epoch one


def test_a_refit_resumes_to_the_same_model(data, tmp_path):
    uninterrupted, _ = _refit(data, tmp_path / "a", epochs=3)
    _refit(data, tmp_path / "b", epochs=3, stop_epoch=1)
    resumed, result = _refit(data, tmp_path / "b", epochs=3, resume=True)
    assert result.epochs_run == 3
    for name, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def _rows(out_dir):
    return [json.loads(x) for x in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_stop_epoch_outside_the_run_is_refused(data, tmp_path):
    with pytest.raises(ValueError, match=r"stop_epoch must be in 1\.\.epochs=3"):
        _refit(data, tmp_path, epochs=3, stop_epoch=4)


def test_refit_settings_move_the_validation_window_to_train():
    from segue.data.settings import DataSettings
    from segue.training.refit import refit_settings

    temporal = DataSettings(
        name="synthetic",
        reader="synthetic",
        split="global_temporal",
        split_options={"test_days": 14, "validation_days": 14},
    )
    refit = refit_settings(temporal)
    assert refit.split_options == {"test_days": 14, "validation_days": 0, "gap_days": 0}
    assert refit.name == "synthetic+refit" and temporal.split_options["validation_days"] == 14
    loo = refit_settings(DataSettings(name="ml", reader="synthetic", split="leave_last_out"))
    assert loo.split_options == {"validation": False}
    sessions = DataSettings(
        name="exports",
        reader="synthetic",
        split="held_out_sessions",
        split_options={"min_train_sessions": 2},
    )
    assert refit_settings(sessions).split_options == {"min_train_sessions": 2, "validation": False}


def test_a_split_without_a_refit_rule_is_refused(monkeypatch):
    from segue.data.settings import DataSettings
    from segue.training import refit

    # Every split has one today; a split added without one must not refit silently.
    monkeypatch.delitem(refit.REFIT_SPLITS, "held_out_sessions")
    sessions = DataSettings(name="exports", reader="synthetic", split="held_out_sessions")
    with pytest.raises(ValueError, match="'held_out_sessions' has none"):
        refit.refit_settings(sessions)


REFIT_CASES = {
    "leave_last_out": ("leave_last_out", {}),
    "held_out_sessions": ("held_out_sessions", {"min_train_sessions": 2}),
    "held_out_sessions, first track": (
        "held_out_sessions",
        {"min_train_sessions": 2, "predict_first_track": True},
    ),
}


@pytest.mark.parametrize("case", list(REFIT_CASES))
def test_a_refit_trains_on_the_validation_fold_and_keeps_the_test_points(case):
    from segue.training.refit import REFIT_SPLITS

    split, options = REFIT_CASES[case]
    log = generate_listening_log(n_users=30, n_events=900, seed=2)
    prepared = [
        prepare_data(log, sessions=SessionOptions(), split=split, split_options=o, max_len=400)
        for o in (options, {**options, **REFIT_SPLITS[split]})
    ]
    chosen, refit = prepared
    assert len(chosen.validation) > 0 and len(refit.validation) == 0
    tested = [
        p.split.points("test")[["user_id", "track_id", "timestamp"]].reset_index(drop=True)
        for p in prepared
    ]
    assert len(tested[0]) > 0 and tested[0].equals(tested[1])
    folds = [p.split.events["fold"].value_counts() for p in prepared]
    assert folds[1]["train"] == folds[0]["train"] + folds[0]["validation"]
    assert "validation" not in folds[1]
    # The same listeners are held out: one whose validation fold is trained on keeps its test.
    assert tested[1]["user_id"].nunique() == tested[0]["user_id"].nunique()


def test_a_temporal_refit_trains_on_the_gap_and_keeps_the_test_points():
    # The gap sits before the validation window; a refit keeping gap_days would move it up to
    # the test cut and drop the most recent days from training and from the test histories.
    from segue.training.refit import REFIT_SPLITS

    log = generate_listening_log(n_users=30, n_events=3000, seed=2)
    options = {"test_days": 3, "validation_days": 3, "gap_days": 3}
    prepared = [
        prepare_data(log, sessions=SessionOptions(), split="global_temporal", split_options=o)
        for o in (options, {**options, **REFIT_SPLITS["global_temporal"]})
    ]
    tested = [
        p.split.points("test")[["user_id", "track_id", "timestamp"]].reset_index(drop=True)
        for p in prepared
    ]
    assert len(tested[0]) > 0 and tested[0].equals(tested[1])
    events = [p.split.events for p in prepared]
    keys = ["user_id", "track_id", "timestamp"]
    before = events[0][events[0]["fold"] != "test"][keys]
    trained = events[1][events[1]["fold"] == "train"][keys]
    gap = trained.merge(before, how="left", indicator=True).query("_merge == 'left_only'")
    assert len(gap) > 0  # the first run left the gap out; the refit trains on it
    validation_start = events[0].loc[events[0]["fold"] == "validation", "timestamp"].min()
    assert (gap["timestamp"] < validation_start).all()
    folds = [e["fold"].value_counts() for e in events]
    assert folds[1]["train"] == folds[0]["train"] + folds[0]["validation"] + len(gap)
    assert folds[1]["test"] == folds[0]["test"]
