"""Training a model with a history prior: the table, the loop, checkpoints, resume, refit."""

import pytest
import torch

from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.evaluation.scoring import rank_points, score_points
from segue.evaluation.summary import metric_summary
from segue.io.checkpoint import load_checkpoint
from segue.models import TrackTransformer, sasrec
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table
from segue.models.history_prior import fit_transition_table
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=40, n_events=2000, seed=1)
    return prepare_data(log, sessions=SessionOptions(), split="leave_last_out", max_len=16)


def _model(data, **overrides) -> TrackTransformer:
    return sasrec(
        data.vocab.n_tracks,
        **{"d_model": 16, "n_layers": 1, "max_len": 16, "seed": 3, "history_prior": True},
        **overrides,
    )


def _config(out_dir, **overrides) -> TrainerConfig:
    values = dict(epochs=2, batch_size=8, out_dir=str(out_dir), progress=False, warmup_steps=3)
    values.update(overrides)
    return TrainerConfig(seed=5, **values)


def _validate(data):
    return lambda m: metric_summary(rank_points(m, data.validation), ks=[10])


def test_fit_counts_the_table_from_the_training_rows_and_learns_the_gate(data, tmp_path):
    model = _model(data)
    gate_before = model.prior.gate.weight.detach().clone()
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    fit(model, data.train, loss, _validate(data), _config(tmp_path), vocab=data.vocab)
    events = data.train.events
    expected, counts = fit_transition_table(
        events.tracks,
        events.group_start,
        data.vocab.n_tracks,
        model.config.prior_successors,
        events.is_skip,
    )
    assert model.prior.successors.tolist() == expected.tolist()
    assert model.prior.successor_counts.tolist() == counts.tolist()
    assert not model.prior.gate.weight.detach().equal(gate_before)


def test_the_best_checkpoint_scores_exactly_like_the_trained_model(data, tmp_path):
    model = _model(data)
    loss = loss_for("sampled_softmax", n_tracks=data.vocab.n_tracks, n_negatives=16)
    result = fit(model, data.train, loss, None, _config(tmp_path), vocab=data.vocab)
    checkpoint = load_checkpoint(result.best_path)
    loaded = TrackTransformer(checkpoint.model_config)
    loaded.load_state_dict(checkpoint.state_dict)
    idx = torch.arange(len(data.validation)).numpy()
    torch.testing.assert_close(
        score_points(loaded.eval(), data.validation, idx),
        score_points(model.eval(), data.validation, idx),
    )


def test_resume_of_a_prior_model_equals_uninterrupted_training(data, tmp_path):
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    full = _model(data)
    fit(full, data.train, loss, None, _config(tmp_path / "full", epochs=2), vocab=data.vocab)
    first = _model(data)
    fit(
        first,
        data.train,
        loss,
        None,
        _config(tmp_path / "cut", epochs=2),
        vocab=data.vocab,
        stop_epoch=1,
    )
    resumed = _model(data)
    fit(
        resumed,
        data.train,
        loss,
        None,
        _config(tmp_path / "cut", epochs=2, resume=True),
        vocab=data.vocab,
    )
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_a_loss_that_cannot_carry_the_prior_fails_before_training(data, tmp_path):
    loss = loss_for("gbce", n_tracks=data.vocab.n_tracks)
    with pytest.raises(ValueError, match="history prior"):
        fit(_model(data), data.train, loss, None, _config(tmp_path), vocab=data.vocab)
    assert not (tmp_path / "last.pt").exists()


def test_fit_fills_the_album_table_from_the_vocabulary(data, tmp_path):
    model = _model(data, prior_album=True, prior_album_tracks=4)
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, None, _config(tmp_path, epochs=1), vocab=data.vocab)
    expected = album_mates_table(data.vocab, n_mates=4)
    assert (expected > 0).any()  # the synthetic log names albums
    assert model.prior.album_mates.tolist() == expected.tolist()
    stored = load_checkpoint(result.best_path).state_dict["prior.album_mates"]
    assert stored.tolist() == expected.tolist()


def test_fit_fills_the_artist_table_from_the_vocabulary(data, tmp_path):
    model = _model(data, prior_artist=True, prior_artist_tracks=4)
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, None, _config(tmp_path, epochs=1), vocab=data.vocab)
    mates, plays = artist_mates_table(data.vocab, n_mates=4)
    assert (mates > 0).any()  # the synthetic log names artists
    assert model.prior.artist_mates.tolist() == mates.tolist()
    assert model.prior.artist_mate_plays.tolist() == plays.tolist()
    stored = load_checkpoint(result.best_path).state_dict
    assert stored["prior.artist_mates"].tolist() == mates.tolist()
    assert stored["prior.artist_mate_plays"].tolist() == plays.tolist()


def test_fit_counts_the_album_entries_from_the_training_rows(data, tmp_path):
    model = _model(data, prior_album=True, prior_album_tracks=4, prior_album_entry=True)
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, None, _config(tmp_path, epochs=1), vocab=data.vocab)
    events = data.train.events
    mates = album_mates_table(data.vocab, n_mates=4)
    expected = album_entry_counts(events.tracks, events.group_start, mates, events.is_skip)
    assert expected[:, 1].sum() > 0  # the synthetic log plays albums through
    assert model.prior.album_entry_counts.tolist() == expected.tolist()
    stored = load_checkpoint(result.best_path).state_dict["prior.album_entry_counts"]
    assert stored.tolist() == expected.tolist()
