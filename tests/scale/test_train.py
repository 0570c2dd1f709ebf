"""Sparse sampled softmax equals the dense one; streamed training updates only touched rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.models import sasrec
from segue.scale import prepare_out_of_core, track_counts
from segue.scale.sampler import PopularitySampler
from segue.scale.sparse_loss import sampled_softmax_rows
from segue.scale.train import StreamedTrainingConfig, train_streamed
from segue.training.losses.sampled_softmax import sampled_softmax
from tests.scale.logs import messy_log, write_parquet


@pytest.mark.parametrize("per_row", [False, True])
def test_sparse_rows_equal_dense_value_and_gradient(per_row):
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(30, 4, generator=gen)
    hidden = torch.randn(6, 4, generator=gen)
    targets = torch.tensor([1, 5, 5, 29, 3, 7])
    shape = (6, 9) if per_row else (9,)
    negatives = torch.randint(1, 30, shape, generator=gen)
    negatives.view(-1)[0] = 5  # an accidental hit is masked in both
    log_q = torch.log_softmax(torch.randn(30, generator=gen), 0)
    log_q[0] = float("-inf")
    dense, sparse = (table.clone().requires_grad_() for _ in range(2))
    h1, h2 = (hidden.clone().requires_grad_() for _ in range(2))
    want = sampled_softmax(h1, dense, targets, negatives, log_q)
    got = sampled_softmax_rows(h2, sparse, targets, negatives, log_q)
    want.backward()
    got.backward()
    torch.testing.assert_close(got, want)
    assert sparse.grad.is_sparse
    torch.testing.assert_close(sparse.grad.to_dense(), dense.grad)
    torch.testing.assert_close(h2.grad, h1.grad)


def test_popularity_sampler_follows_counts():
    counts = torch.tensor([0.0, 60.0, 30.0, 0.0, 10.0])
    sampler = PopularitySampler(counts, alpha=1.0)
    draws = sampler.sample(20_000, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=5).double() / len(draws)
    assert freq[0] == 0 and freq[3] == 0
    torch.testing.assert_close(freq, sampler.log_q.exp().double(), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="positive"):
        PopularitySampler(torch.zeros(3))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    source = write_parquet(messy_log(n=1500, seed=4), out)
    return prepare_out_of_core([source], out / "prepared", max_len=8, shard_rows=100)


def _counts(folder) -> torch.Tensor:
    counts = track_counts(folder.directory / "vocab.parquet")
    assert counts[0] == 0 and counts[1:].tolist() == folder.vocab().counts
    return torch.from_numpy(counts).float()


def test_streamed_training_updates_only_the_rows_it_touched(folder):
    windows = folder.windows()
    model = sasrec(folder.n_tracks, d_model=16, n_layers=1, max_len=8, seed=0)
    before = model.track_emb.weight.detach().clone()
    config = StreamedTrainingConfig(batch_size=16, n_negatives=4, max_steps=3, seed=1)
    result = train_streamed(model, windows, _counts(folder), config)
    assert result.steps == 3 and len(result.losses) == 3
    assert all(np.isfinite(result.losses)) and result.seconds_per_step > 0
    changed = (model.track_emb.weight.detach() != before).any(dim=1)
    assert changed.any() and not changed.all()  # 3 small batches never touch every track
    assert not changed[0]  # padding
    assert not changed[folder.n_tracks + 1]  # the [MASK] row of a causal model


def test_streamed_training_checks_its_inputs(folder):
    windows = folder.windows()
    wrong = sasrec(folder.n_tracks + 1, d_model=16, n_layers=1, max_len=8)
    with pytest.raises(ValueError, match="tracks"):
        train_streamed(wrong, windows, _counts(folder))
    model = sasrec(folder.n_tracks, d_model=16, n_layers=1, max_len=8)
    with pytest.raises(ValueError, match="counts"):
        train_streamed(model, windows, torch.ones(3))
