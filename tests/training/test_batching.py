"""An epoch's batches: every window once, grouped by length, reproducible from the generator."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from segue.data.pipeline import prepare_data
from segue.data.synthetic import generate_listening_log
from segue.training.batching import epoch_batches


@pytest.fixture(scope="module")
def windows():
    log = generate_listening_log(n_users=30, n_events=1500, seed=2)
    return prepare_data(log, split="leave_last_out", max_len=16).train


@pytest.mark.parametrize("bucket", [True, False])
def test_every_window_is_in_exactly_one_batch(windows, bucket):
    batches = epoch_batches(windows, 8, torch.Generator().manual_seed(0), bucket)
    assert len(batches) == math.ceil(len(windows) / 8)
    assert sorted(torch.cat(batches).tolist()) == list(range(len(windows)))


def test_bucketed_batches_are_runs_of_length_sorted_windows(windows):
    batches = epoch_batches(windows, 8, torch.Generator().manual_seed(0), True)
    # One pool (fewer than 50 batches): each batch is a consecutive run of sorted lengths.
    lengths = windows.lengths()
    ranges = sorted((lengths[b.numpy()].min(), lengths[b.numpy()].max()) for b in batches)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in itertools.pairwise(ranges))


def test_the_same_seed_gives_the_same_batches(windows):
    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        return [b.tolist() for b in epoch_batches(windows, 8, generator, True)]

    assert run(3) == run(3) and run(3) != run(4)
