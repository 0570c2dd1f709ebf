"""Each loss against a naive reference written from its formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segue.training.losses import (
    LossInputs,
    bce_one_negative,
    full_softmax_ce,
    gbce,
    gbce_beta,
    in_batch_negatives,
    loss_for,
    popularity_negatives,
    sampled_softmax,
    uniform_negatives,
)

N, V, D = 6, 11, 4  # 10 tracks plus padding


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=gen, dtype=torch.float64, requires_grad=True)
    item_emb = torch.randn(V, D, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, V, (N,), generator=gen)
    return hidden, item_emb, targets


def grads(loss: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("chunk_size", [1, 3, 10, None])
def test_chunked_softmax_ce_equals_cross_entropy(chunk_size: int | None) -> None:
    hidden, item_emb, targets = inputs()
    targets[1] = targets[0]  # a repeated target accumulates two gradients into one row
    got = full_softmax_ce(hidden, item_emb, targets, chunk_size=chunk_size)
    expected = F.cross_entropy(hidden @ item_emb[1:].T, targets - 1)
    torch.testing.assert_close(got, expected)
    for g, e in zip(grads(got, hidden, item_emb), grads(expected, hidden, item_emb), strict=True):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("chunk_size", [1, 4, None])
@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_label_smoothed_softmax_ce_equals_cross_entropy(chunk_size: int | None, eps: float) -> None:
    hidden, item_emb, targets = inputs()
    got = full_softmax_ce(hidden, item_emb, targets, chunk_size=chunk_size, label_smoothing=eps)
    expected = F.cross_entropy(hidden @ item_emb[1:].T, targets - 1, label_smoothing=eps)
    torch.testing.assert_close(got, expected)
    for g, e in zip(grads(got, hidden, item_emb), grads(expected, hidden, item_emb), strict=True):
        torch.testing.assert_close(g, e)
    assert not torch.allclose(got, full_softmax_ce(hidden, item_emb, targets))  # it does smooth


def test_loss_for_softmax_passes_label_smoothing_and_refuses_it_elsewhere() -> None:
    hidden, item_emb, targets = inputs()
    got = loss_for("softmax", V, label_smoothing=0.2)(LossInputs.plain(hidden, item_emb, targets))
    expected = F.cross_entropy(hidden @ item_emb[1:].T, targets - 1, label_smoothing=0.2)
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="label_smoothing applies to the full softmax"):
        loss_for("sampled_softmax", V, label_smoothing=0.2)
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
        loss_for("softmax", V, label_smoothing=1.0)
    with pytest.raises(ValueError, match="not supported with a history prior"):
        loss_for("softmax", V, label_smoothing=0.2).check_prior()


def test_chunked_softmax_ce_passes_gradcheck() -> None:
    hidden, item_emb, targets = inputs()
    hidden = hidden[:2].detach().requires_grad_()  # gradcheck costs one pass per input element
    assert torch.autograd.gradcheck(
        lambda h, e: full_softmax_ce(h, e, targets[:2], chunk_size=4, reduction="none"),
        (hidden, item_emb),
    )


def test_softmax_ce_rejects_padding_targets() -> None:
    hidden, item_emb, targets = inputs()
    with pytest.raises(ValueError, match="padding"):
        full_softmax_ce(hidden, item_emb, targets * 0)


def test_sampled_softmax_equals_naive_loop() -> None:
    hidden, item_emb, targets = inputs()
    negatives = torch.tensor([1, 2, 3, 5, 5, 9, 0])  # includes a duplicate and padding
    log_q = torch.log(torch.linspace(0.01, 0.2, V, dtype=torch.float64))
    got = sampled_softmax(hidden, item_emb, targets, negatives, log_q)
    losses = []
    for n in range(N):
        logits = [hidden[n] @ item_emb[targets[n]] - log_q[targets[n]]]
        logits += [
            hidden[n] @ item_emb[k] - log_q[k]
            for k in negatives.tolist()
            if k not in (0, targets[n].item())
        ]
        stacked = torch.stack(logits)
        losses.append(-torch.log_softmax(stacked, 0)[0])
    expected = torch.stack(losses).mean()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grads(got, hidden)[0], grads(expected, hidden)[0])


def test_sampled_softmax_with_all_negatives_and_no_correction_is_full_softmax() -> None:
    hidden, item_emb, targets = inputs()
    everything = torch.arange(1, V)
    got = sampled_softmax(hidden, item_emb, targets, everything, log_q=None)
    torch.testing.assert_close(got, full_softmax_ce(hidden, item_emb, targets))


def test_sampled_softmax_per_row_negatives_match_shared() -> None:
    hidden, item_emb, targets = inputs()
    shared = torch.tensor([2, 4, 6])
    per_row = shared.expand(N, 3)
    torch.testing.assert_close(
        sampled_softmax(hidden, item_emb, targets, shared, None),
        sampled_softmax(hidden, item_emb, targets, per_row, None),
    )


def test_gbce_equals_formula() -> None:
    hidden, item_emb, targets = inputs()
    negatives = torch.randint(1, V, (N, 3), generator=torch.Generator().manual_seed(1))
    beta = gbce_beta(3, V - 1, t=0.75)
    got = gbce(hidden, item_emb, targets, negatives, n_items=V - 1, t=0.75)
    rows = []
    for n in range(N):
        pos = torch.sigmoid(hidden[n] @ item_emb[targets[n]])
        row = -torch.log(pos**beta)
        for k in negatives[n].tolist():
            if k != targets[n].item():
                row = row - torch.log(1 - torch.sigmoid(hidden[n] @ item_emb[k]))
        rows.append(row)
    expected = torch.stack(rows).mean()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grads(got, item_emb)[0], grads(expected, item_emb)[0])


def test_gbce_beta_limits() -> None:
    assert gbce_beta(4, 101, t=0.0) == 1.0
    assert math.isclose(gbce_beta(4, 101, t=1.0), 4 / 100)


def test_gbce_with_t_zero_is_plain_bce() -> None:
    hidden, item_emb, targets = inputs()
    negatives = torch.randint(1, V, (N, 1), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(
        gbce(hidden, item_emb, targets, negatives, n_items=V - 1, t=0.0),
        bce_one_negative(hidden, item_emb, targets, negatives[:, 0]),
    )


def test_bce_one_negative_equals_formula() -> None:
    hidden, item_emb, targets = inputs()
    negatives = (targets % (V - 1)) + 1  # never the target
    got = bce_one_negative(hidden, item_emb, targets, negatives)
    pos = (hidden * item_emb[targets]).sum(1)
    neg = (hidden * item_emb[negatives]).sum(1)
    expected = -(torch.log(torch.sigmoid(pos)) + torch.log(1 - torch.sigmoid(neg))).mean()
    torch.testing.assert_close(got, expected)


def test_samplers_never_draw_padding_and_report_their_distribution() -> None:
    gen = torch.Generator().manual_seed(0)
    uniform = uniform_negatives(10, 1000, generator=gen)
    assert uniform.items.min() >= 1 and uniform.items.max() <= 10
    counts = torch.tensor([100.0, 0.0, 1.0, 3.0])
    popular = popularity_negatives(counts, 4000, n_rows=None, generator=gen)
    assert set(popular.items.tolist()) == {2, 3}
    share_of_3 = (popular.items == 3).float().mean().item()
    assert abs(share_of_3 - 0.75) < 0.05
    per_row = popularity_negatives(counts, 5, n_rows=3, generator=gen)
    assert per_row.items.shape == (3, 5)
    batch = in_batch_negatives(torch.tensor([4, 4, 1, 2]), 5)
    assert batch.items.tolist() == [1, 2, 4]
    torch.testing.assert_close(batch.log_q.exp(), torch.tensor([0.0, 0.25, 0.25, 0.0, 0.5, 0.0]))


@pytest.mark.parametrize("name", ["softmax", "sampled_softmax", "gbce", "bce"])
def test_loss_for_every_name_gives_a_finite_differentiable_scalar(name: str) -> None:
    hidden, item_emb, targets = inputs()
    loss_fn = loss_for(name, n_tracks=V - 1, n_negatives=4)
    loss = loss_fn(LossInputs.plain(hidden, item_emb, targets, torch.Generator()))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.isfinite(grads(loss, hidden)[0]).all()


def test_loss_for_in_batch_and_popularity_samplers() -> None:
    hidden, item_emb, targets = inputs()
    counts = torch.arange(V, dtype=torch.float64)
    for params in ({"sampler": "in_batch"}, {"sampler": "popularity", "counts": counts}):
        loss_fn = loss_for("sampled_softmax", V - 1, n_negatives=4, **params)
        loss = loss_fn(LossInputs.plain(hidden, item_emb, targets))
        assert torch.isfinite(loss)


def test_loss_for_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        loss_for("hinge", 10)
    with pytest.raises(ValueError, match="uniform"):
        loss_for("gbce", 10, sampler="in_batch")


def test_window_masked_softmax_equals_a_per_row_reference():
    import torch.nn.functional as F

    from segue.training.losses.window_masked import window_masked_softmax_ce

    g = torch.Generator().manual_seed(0)
    hidden, emb = torch.randn(5, 4, generator=g), torch.randn(9, 4, generator=g)
    window = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    rows = torch.tensor([0, 0, 0, 1, 1])
    targets = torch.tensor([2, 3, 8, 5, 7])
    value = window_masked_softmax_ce(hidden, emb, targets, window, rows)
    expected = []
    for n in range(5):
        others = set(window[rows[n]].tolist()) | {0}
        keep = [v for v in range(9) if v not in others or v == targets[n]]
        logits = hidden[n] @ emb[keep].T
        expected.append(-F.log_softmax(logits, 0)[keep.index(int(targets[n]))])
    assert torch.allclose(value, torch.stack(expected).mean(), atol=1e-6)
    # With nothing else in the windows it is the plain full softmax over tracks 1..V-1.
    lone = window_masked_softmax_ce(hidden[:1], emb, targets[:1], torch.tensor([[0, 2]]), rows[:1])
    plain = F.cross_entropy((hidden[:1] @ emb.T)[:, 1:], targets[:1] - 1)
    assert torch.allclose(lone, plain, atol=1e-6)
