"""Train with the real script on the debug config, then load the checkpoint and recommend."""

from __future__ import annotations

from segue.api import COLD_START, Recommender
from segue.cli import train_run
from segue.io.checkpoint import load_checkpoint
from tests.scripts.conftest import compose_config


def test_load_then_recommend_from_a_trained_checkpoint(tmp_path) -> None:
    cfg = compose_config(["debug=default", "trainer.progress=false"], tmp_path)
    path = train_run.train(cfg)["checkpoint"]
    rec = Recommender.load(path, num_threads=None)
    vocab = load_checkpoint(path).vocab
    history = vocab.track_ids[:5]
    out = rec.recommend(history, k=10)
    assert len(out) == 10 and not set(out["track_id"]) & set(history)
    assert not out.attrs[COLD_START]
    assert set(out["track_id"]) <= set(vocab.track_ids)
    batch = rec.recommend_batch([history, []], k=10)
    assert batch[batch["query"] == 0]["track_id"].tolist() == out["track_id"].tolist()
    state = rec.session(history[:4])
    state.add(history[4])
    assert state.recommend(10)["track_id"].tolist() == out["track_id"].tolist()
    assert len(rec.continue_playlist(history, n=5)) == 5
    assert len(rec.similar_tracks(history[0], k=3)) == 3


def test_the_checkpoint_stores_the_data_recipe_of_its_run(tmp_path) -> None:
    """The stored data settings are the run's, as plain data, and rebuild its vocabulary."""
    from segue.data.settings import DataSettings, prepare_from_settings

    cfg = compose_config(["debug=default", "trainer.progress=false"], tmp_path)
    checkpoint = load_checkpoint(train_run.train(cfg)["checkpoint"])
    settings = checkpoint.require_data_settings()
    assert settings == train_run.data_settings(cfg)
    assert DataSettings.from_dict(settings.to_dict()) == settings
    assert settings.reader == "synthetic" and settings.max_len == cfg.model.max_len
    assert prepare_from_settings(settings).vocab.track_ids == checkpoint.vocab.track_ids
