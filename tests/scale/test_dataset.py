"""Shards stream into the trainer, and stream() visits every window once per epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segue import DataError, prepare_data
from segue.models import sasrec
from segue.scale import ShardedWindows, prepare_out_of_core
from segue.scale.dataset import MANIFEST
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit
from tests.scale.logs import messy_log, write_parquet


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    log = messy_log(n=1200, seed=3)
    data = prepare_out_of_core(
        [write_parquet(log, folder)], folder / "out", max_len=8, shard_rows=60
    )
    return log, data


def test_shards_train_with_the_trainer_for_one_epoch(prepared, tmp_path):
    log, data = prepared
    windows = data.windows()
    vocab = data.vocab()
    model = sasrec(vocab.n_tracks, d_model=16, n_layers=1, max_len=8, seed=0)
    before = model.track_emb.weight.detach().clone()
    config = TrainerConfig(
        epochs=1, batch_size=16, out_dir=str(tmp_path), progress=False, warmup_steps=1, bf16=False
    )
    loss = loss_for("sampled_softmax", vocab.n_tracks, n_negatives=8)
    result = fit(model, windows, loss, lambda m: {"ndcg@10": 0.0}, config, vocab=vocab)
    assert result.epochs_run == 1
    row = result.history[0]
    assert np.isfinite(row["train_loss"])
    assert row["sequences_per_second"] > 0
    assert not model.track_emb.weight.detach().equal(before)
    # the same log through the pandas path gives the same number of windows
    assert len(windows) == len(prepare_data(log, split="global_temporal", max_len=8).train)


def test_stream_visits_every_window_once(prepared):
    _, data = prepared
    windows = data.windows()
    assert len(windows.shards) > 1
    everything = windows.batch(np.arange(len(windows)))
    seen = []
    for batch in windows.stream(batch_size=7, generator=torch.Generator().manual_seed(0)):
        assert len(batch) <= 7
        seen += [tuple(row[row > 0].tolist()) for row in batch.tracks]
    want = sorted(tuple(row[row > 0].tolist()) for row in everything.tracks)
    assert sorted(seen) == want
    capped = list(windows.stream(5, torch.Generator().manual_seed(0), max_batches=3))
    assert len(capped) == 3


def test_batch_keeps_the_requested_order(prepared):
    _, data = prepared
    windows = data.windows()
    order = np.array([len(windows) - 1, 0, 5, 5])
    batch = windows.batch(order)
    for i, index in enumerate(order):
        single = windows.batch(np.array([index]))
        T = single.tracks.shape[1]
        assert batch.tracks[i, -T:].equal(single.tracks[0])
        assert (batch.tracks[i, :-T] == 0).all()
    with pytest.raises(IndexError):
        windows.batch(np.array([len(windows)]))


def test_ties_cannot_be_shuffled_and_unknown_formats_are_refused(prepared, tmp_path):
    _, data = prepared
    with pytest.raises(NotImplementedError, match="shuffle_ties"):
        data.windows().shuffle_ties(0)
    manifest = json.loads((data.directory / MANIFEST).read_text())
    manifest["version"] = 99
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="version"):
        ShardedWindows(tmp_path)
    with pytest.raises(DataError, match="no manifest"):
        ShardedWindows(tmp_path / "nowhere")
