import json

import pytest
import torch

from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.evaluation.scoring import rank_points
from segue.evaluation.summary import metric_summary
from segue.io.checkpoint import load_checkpoint
from segue.models import bert4rec, sasrec
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=40, n_events=2000, seed=1)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="leave_last_out",
        max_len=16,
    )


def _run(data, out_dir, epochs=2, validate=None, resume=False, **trainer):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=3)

    def default_validate(m):
        return metric_summary(rank_points(m, data.validation), ks=[10])

    config = TrainerConfig(
        epochs=epochs,
        batch_size=8,
        out_dir=str(out_dir),
        progress=False,
        warmup_steps=3,
        resume=resume,
        seed=5,
        **trainer,
    )
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    return model, fit(
        model, data.train, loss, validate or default_validate, config, vocab=data.vocab
    )


@pytest.mark.parametrize("ema_decay", [0.0, 0.99])
def test_resume_from_last_checkpoint_equals_uninterrupted_training(data, tmp_path, ema_decay):
    full_model, _ = _run(data, tmp_path / "full", ema_decay=ema_decay)

    calls = {"n": 0}

    def crash_on_second_validation(m):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return metric_summary(rank_points(m, data.validation), ks=[10])

    with pytest.raises(KeyboardInterrupt):
        _run(data, tmp_path / "resumed", validate=crash_on_second_validation, ema_decay=ema_decay)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt").training_state["epoch"] == 1
    resumed_model, result = _run(data, tmp_path / "resumed", resume=True, ema_decay=ema_decay)
    assert result.epochs_run == 2
    for name, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert _logged_epochs(tmp_path / "resumed") == [1, 2]
    # The weight average (trainer.ema_decay), which best.pt holds, continues exactly too.
    full, resumed = (
        load_checkpoint(tmp_path / run / "last.pt").training_state.get("weight_average")
        for run in ("full", "resumed")
    )
    assert (full is None) == (ema_decay == 0.0)
    if full is not None:
        assert full["updates"] == resumed["updates"] > 0
        for a, b in zip(full["shadow"], resumed["shadow"], strict=True):
            assert torch.equal(a, b)


def _logged_epochs(out_dir):
    jsonl = [
        json.loads(line)["epoch"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()
    ]
    csv_rows = (out_dir / "metrics.csv").read_text().splitlines()
    assert csv_rows[0].startswith("epoch,") and len(csv_rows) == len(jsonl) + 1
    return jsonl


def test_a_fresh_run_in_a_used_folder_starts_its_logs_afresh(data, tmp_path):
    _run(data, tmp_path, epochs=3)
    _run(data, tmp_path, epochs=2)
    assert _logged_epochs(tmp_path) == [1, 2]


def test_checkpoints_hold_everything_to_rebuild_the_model(data, tmp_path):
    model, result = _run(data, tmp_path)
    best = load_checkpoint(result.best_path)
    assert best.vocab.track_ids == data.vocab.track_ids
    assert best.model_config == model.config
    assert "ndcg@10" in best.metrics and best.training_state == {}
    rebuilt = best.build_model()
    batch = data.test.batch(torch.arange(4).numpy())
    assert torch.isfinite(rebuilt.score(rebuilt.last_hidden(batch))[:, 1:]).all()
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pt", ".tmp")) == [
        "best.pt",
        "last.pt",
    ]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (tmp_path / "metrics.csv").read_text().startswith("epoch,train_loss")


def test_early_stopping_after_patience_without_improvement(data, tmp_path):
    def flat(m):
        return {"ndcg@10": 0.5}

    model = sasrec(data.vocab.n_tracks, d_model=8, n_layers=1, max_len=16)
    config = TrainerConfig(
        epochs=10, patience=2, batch_size=16, out_dir=str(tmp_path), progress=False
    )
    result = fit(
        model,
        data.train,
        loss_for("softmax", n_tracks=data.vocab.n_tracks),
        flat,
        config,
        vocab=data.vocab,
    )
    assert result.epochs_run == 3 and result.best_epoch == 1


def test_training_improves_validation_ranking(data, tmp_path):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=0)
    before = metric_summary(rank_points(model, data.validation), ks=[10])["ndcg@10"]
    _, result = _run(data, tmp_path, epochs=6)
    assert result.best_metrics["ndcg@10"] > before


def test_window_masked_training_runs_and_learns(data, tmp_path):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=0)
    before = metric_summary(rank_points(model, data.validation), ks=[10])["ndcg@10"]
    config = TrainerConfig(
        epochs=6,
        batch_size=8,
        out_dir=str(tmp_path),
        progress=False,
        warmup_steps=3,
    )
    result = fit(
        model,
        data.train,
        loss_for("window_masked_softmax", n_tracks=data.vocab.n_tracks),
        lambda m: metric_summary(rank_points(m, data.validation), ks=[10]),
        config,
        vocab=data.vocab,
    )
    assert all(row["train_loss"] == row["train_loss"] for row in result.history)  # no NaN
    assert result.best_metrics["ndcg@10"] > before


def test_window_masked_training_works_for_the_masked_objective(tmp_path):
    # BERT4Rec batches hold the [MASK] token (index n_tracks + 1), which is not an item.
    log = generate_listening_log(n_users=20, n_events=800, seed=1)
    data = prepare_data(log, split="leave_last_out", max_len=16, causal=False)
    model = bert4rec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=0)
    config = TrainerConfig(epochs=2, batch_size=8, out_dir=str(tmp_path), progress=False)
    loss = loss_for("window_masked_softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, lambda m: {"ndcg@10": 0.0}, config, vocab=data.vocab)
    assert all(row["train_loss"] == row["train_loss"] for row in result.history)  # no NaN
