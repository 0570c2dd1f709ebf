"""Losses with the history prior's sparse terms, against the dense cross-entropy they equal."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segue.data.batch import SequenceBatch
from segue.models.history_prior import PriorEntries
from segue.training.losses import LossInputs, full_softmax_ce, loss_for
from segue.training.losses.adjusted import (
    adjusted_full_softmax_ce,
    adjusted_sampled_softmax,
)

N, V, D = 5, 9, 4  # 8 tracks plus padding


def setup(seed: int = 0, big: bool = False):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=gen, requires_grad=True)
    item_emb = torch.randn(V, D, generator=gen, requires_grad=True)
    targets = torch.randint(1, V, (N,), generator=gen)
    # Coalesced entries, sorted by (row, item) as torch.unique leaves them; some on targets.
    keys = torch.unique(torch.randint(0, N * V, (20,), generator=gen))
    rows, items = keys // V, keys % V
    keep = items > 0
    rows, items = rows[keep], items[keep]
    scale = 30.0 if big else 2.0
    values = (torch.rand(len(rows), generator=gen) * scale).requires_grad_(True)
    return hidden, item_emb, targets, PriorEntries(rows, items, values)


def dense_ce(hidden, item_emb, targets, entries):
    logits = hidden @ item_emb.T
    extra = torch.zeros_like(logits).index_put((entries.rows, entries.items), entries.values)
    return F.cross_entropy((logits + extra)[:, 1:], targets - 1)


@pytest.mark.parametrize("big", [False, True])
def test_adjusted_full_softmax_equals_the_dense_reference_values_and_gradients(big):
    hidden, item_emb, targets, entries = setup(big=big)
    expected = dense_ce(hidden, item_emb, targets, entries)
    got = adjusted_full_softmax_ce(hidden, item_emb, targets, entries, chunk_size=3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    inputs = (hidden, item_emb, entries.values)
    for a, b in zip(torch.autograd.grad(got, inputs), torch.autograd.grad(expected, inputs)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_no_entries_is_the_plain_full_softmax():
    hidden, item_emb, targets, _ = setup()
    empty = PriorEntries(
        torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    )
    torch.testing.assert_close(
        adjusted_full_softmax_ce(hidden, item_emb, targets, empty),
        full_softmax_ce(hidden, item_emb, targets),
    )


def test_sampled_with_every_track_as_negative_equals_the_full_softmax():
    # Uniform q = 1/(V-1) and K = V-1 negatives covering the catalogue: log(K q) = 0, exact.
    hidden, item_emb, targets, entries = setup()
    negatives = torch.arange(1, V)
    log_q = torch.full((V,), -math.log(V - 1))
    got = adjusted_sampled_softmax(hidden, item_emb, targets, negatives, log_q, entries)
    torch.testing.assert_close(got, dense_ce(hidden, item_emb, targets, entries))
    got_none = adjusted_sampled_softmax(hidden, item_emb, targets, negatives, None, entries)
    torch.testing.assert_close(got_none, got)


@torch.no_grad()
def test_sampled_estimate_is_close_to_the_full_loss_on_average():
    hidden, item_emb, targets, entries = setup(seed=3)
    exact = float(dense_ce(hidden, item_emb, targets, entries))
    gen = torch.Generator().manual_seed(0)
    log_q = torch.full((V,), -math.log(V - 1))
    estimates = [
        float(
            adjusted_sampled_softmax(
                hidden,
                item_emb,
                targets,
                torch.randint(1, V, (64,), generator=gen),
                log_q,
                entries,
            )
        )
        for _ in range(50)
    ]
    assert abs(sum(estimates) / len(estimates) - exact) < 0.05 * exact


def test_per_row_negatives_are_refused_with_a_prior():
    hidden, item_emb, targets, entries = setup()
    with pytest.raises(ValueError, match="shared negatives"):
        adjusted_sampled_softmax(
            hidden, item_emb, targets, torch.randint(1, V, (N, 3)), None, entries
        )


@pytest.mark.parametrize("name", ["gbce", "bce"])
def test_losses_that_cannot_carry_a_prior_say_so(name):
    hidden, item_emb, targets, entries = setup()
    loss = loss_for(name, n_tracks=V - 1, n_negatives=3)
    with pytest.raises(ValueError, match="history prior"):
        loss(LossInputs(hidden, item_emb, targets, prior=entries))


def test_track_loss_routes_the_prior_to_the_adjusted_softmax():
    hidden, item_emb, targets, entries = setup()
    loss = loss_for("softmax", n_tracks=V - 1)
    torch.testing.assert_close(
        loss(LossInputs(hidden, item_emb, targets, prior=entries)),
        dense_ce(hidden, item_emb, targets, entries),
    )


def test_window_masked_softmax_adds_the_prior_to_its_dense_logits():
    hidden, item_emb, targets, entries = setup()
    tracks = torch.zeros(N, 1, dtype=torch.long)  # nothing else in the windows to mask
    batch = SequenceBatch(tracks=tracks, targets=targets[:, None])
    loss = loss_for("window_masked_softmax", n_tracks=V - 1)
    inputs = LossInputs(
        hidden, item_emb, targets, batch=batch, queries=targets[:, None] > 0, prior=entries
    )
    torch.testing.assert_close(loss(inputs), dense_ce(hidden, item_emb, targets, entries))


@pytest.mark.parametrize("name", ["full", "sampled"])
def test_logits_carried_by_the_entries_give_the_loss_of_logits_gathered_here(name):
    """A mixture prior hands its entries' h . e_j to the loss; the loss and every gradient are
    those of gathering them again from the same hidden states and table."""
    hidden, item_emb, targets, entries = setup(seed=3)
    own = (hidden[entries.rows] * item_emb[entries.items]).sum(dim=1)
    carried = PriorEntries(entries.rows, entries.items, entries.values, logits=own)
    inputs = (hidden, item_emb, entries.values)
    losses = []
    for e in (entries, carried):
        if name == "full":
            losses.append(adjusted_full_softmax_ce(hidden, item_emb, targets, e, chunk_size=3))
        else:
            gen = torch.Generator().manual_seed(1)
            negatives = torch.randint(1, V, (6,), generator=gen)
            log_q = torch.full((V,), -math.log(V - 1))  # per track
            losses.append(adjusted_sampled_softmax(hidden, item_emb, targets, negatives, log_q, e))
    torch.testing.assert_close(losses[1], losses[0])
    for a, b in zip(
        torch.autograd.grad(losses[1], inputs), torch.autograd.grad(losses[0], inputs), strict=True
    ):
        torch.testing.assert_close(a, b)
