"""The HSTU block: a naive reference, causality, padding invariance, cache, time bias, export."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segue.data.batch import SequenceBatch
from segue.data.vocab import TrackVocab
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.models import ModelConfig, TrackTransformer
from segue.models.block_inputs import BlockInputs
from segue.models.elapsed_time import BUCKET_SECONDS, elapsed_seconds
from segue.models.hstu import N_TIME_BUCKETS, HSTUBlock, time_buckets
from segue.training.losses import full_softmax_ce

N_TRACKS = 20
SIDE = {"n_artists": 3, "use_event_types": True, "use_gap_buckets": True}


def tiny(**overrides: object) -> TrackTransformer:
    values: dict = {"n_tracks": N_TRACKS, "d_model": 16, "n_heads": 2, "max_len": 12}
    values.update({"block": "hstu", **overrides})
    model = TrackTransformer(ModelConfig(**values)).eval()
    with torch.no_grad():  # the biases start near 0; make them matter in these tests
        for block in model.blocks:
            block.position_bias.weight.normal_(0, 1, generator=torch.Generator().manual_seed(1))
            block.time_bias.weight.normal_(0, 1, generator=torch.Generator().manual_seed(2))
    return model


def left_pad(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([[0] * (width - len(r)) + r for r in rows])


def batch_of(tracks: torch.Tensor) -> SequenceBatch:
    real = tracks != 0
    return SequenceBatch(
        tracks,
        artists=(tracks % 3 + 1) * real,
        event_types=(tracks % 2 + 1) * real,
        gap_buckets=(tracks % 5 + 2) * real,
    )


def naive_block(
    block: HSTUBlock, x: torch.Tensor, real: torch.Tensor, causal: bool
) -> torch.Tensor:
    """The paper's formula one query at a time, for one row without cache, (T, D)."""
    T, D = x.shape
    u, v, q, k = F.silu(block.uvqk(block.ln_in(x))).split(D, dim=-1)  # (T, D) each
    positions = (real.cumsum(0) - 1).clamp(min=0)  # (T,)
    gaps = (torch.arange(T) % 5 + 2) * real  # the gap buckets batch_of would give
    elapsed = BUCKET_SECONDS[gaps].cumsum(0)  # (T,)
    out = torch.zeros(T, D)
    hd = D // block.n_heads
    for i in range(T):
        keys = [j for j in range(T) if (real[j] and (not causal or j <= i)) or j == i]
        for h in range(block.n_heads):
            cols = slice(h * hd, (h + 1) * hd)
            total = torch.zeros(hd)
            for j in keys:
                distance = int(positions[i] - positions[j])
                bias = block.position_bias.weight[distance + block.max_distance, 0]
                bias = bias + block.time_bias.weight[time_buckets(elapsed[i] - elapsed[j]), 0]
                total += F.silu(q[i, cols] @ k[j, cols] + bias) * v[j, cols]
            out[i, cols] = total / len(keys)
    return x + block.proj(block.ln_attn(out[None])[0] * u)


@pytest.mark.parametrize("objective", ["causal", "masked"])
def test_block_equals_the_naive_formula(objective: str) -> None:
    model = tiny(objective=objective, positions="none", use_gap_buckets=True)
    tracks = torch.tensor([0, 0, 3, 4, 5, 6, 7])
    gaps = (torch.arange(7) % 5 + 2) * (tracks != 0)
    batch = SequenceBatch(tracks[None], gap_buckets=gaps[None])
    x = torch.randn(1, 7, 16, generator=torch.Generator().manual_seed(0))
    real = tracks != 0
    inputs = BlockInputs(
        mask=model._attention_mask(real[None], real[None]),
        rope=None,
        positions=(real.cumsum(0) - 1).clamp(min=0)[None],
        elapsed=elapsed_seconds(batch.gap_buckets),
    )
    block = model.blocks[0]
    with torch.no_grad():
        fast, _ = block(x, inputs)
        slow = naive_block(block, x[0], real, causal=objective == "causal")
    torch.testing.assert_close(fast[0, real], slow[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "rotary", "none"])
def test_causal_outputs_ignore_later_events(positions: str) -> None:
    model = tiny(positions=positions, **SIDE)
    tracks = left_pad([[1, 2, 3, 4, 5]], 7)
    changed = batch_of(tracks)
    changed.tracks = changed.tracks.clone()
    changed.tracks[0, 4] = 9  # the third real token
    assert changed.gap_buckets is not None
    changed.gap_buckets[0, 5] = 16  # a month's gap before the fourth
    with torch.no_grad():
        a, b = model(batch_of(tracks)), model(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("objective", ["causal", "masked"])
@pytest.mark.parametrize("positions", ["learned", "rotary", "none"])
def test_left_padding_does_not_change_real_outputs(positions: str, objective: str) -> None:
    model = tiny(positions=positions, objective=objective, **SIDE)
    seq = [4, 7, 1, 9]
    with torch.no_grad():
        short = model(batch_of(left_pad([seq], 4)))
        long = model(batch_of(left_pad([seq, [3]], 10)))
        next_short = model.next_hidden(batch_of(left_pad([seq], 4)))
        next_long = model.next_hidden(batch_of(left_pad([seq, [3]], 9)))
    torch.testing.assert_close(long[0, -4:], short[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(next_long[0], next_short[0], atol=1e-5, rtol=1e-5)


def test_masked_objective_attends_bidirectionally() -> None:
    model = tiny(objective="masked")
    tracks = left_pad([[1, 2, 3, 4, 5]], 7)
    changed = tracks.clone()
    changed[0, 6] = 9
    with torch.no_grad():
        a, b = model(batch_of(tracks)), model(batch_of(changed))
    assert not torch.allclose(a[:, 2:6], b[:, 2:6])


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_incremental_encoding_equals_full_encoding(positions: str) -> None:
    model = tiny(positions=positions, **SIDE)
    full = left_pad([[3, 5, 7, 2, 8, 1, 6], [4, 4, 9, 2, 5]], 7)
    steps = [full[:, :3], full[:, 3:4], full[:, 4:7]]
    with torch.no_grad():
        expected = model(batch_of(full))
        cache, outputs = None, []
        for step in steps:
            hidden, cache = model.forward_incremental(batch_of(step), cache)
            outputs.append(hidden)
    got = torch.cat(outputs, dim=1)
    real = full != 0
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    assert cache is not None and cache.elapsed is not None
    torch.testing.assert_close(cache.elapsed, elapsed_seconds(batch_of(full).gap_buckets))


@pytest.mark.parametrize("use_gap_buckets", [True, False])
def test_time_bias_is_read_exactly_when_the_model_has_gap_input(use_gap_buckets: bool) -> None:
    model = tiny(**{**SIDE, "use_gap_buckets": use_gap_buckets})
    batch = batch_of(left_pad([[1, 2, 3, 4], [5, 6]], 4))
    if not use_gap_buckets:
        batch.gap_buckets = None
    with torch.no_grad():
        before = model.next_hidden(batch)
        for block in model.blocks:
            block.time_bias.weight.mul_(-1)
        after = model.next_hidden(batch)
    assert torch.allclose(before, after) is not use_gap_buckets


def test_a_long_pause_changes_the_attention_to_events_before_it() -> None:
    model = tiny(**SIDE)
    quick, pause = batch_of(left_pad([[1, 2, 3, 4]], 4)), batch_of(left_pad([[1, 2, 3, 4]], 4))
    assert pause.gap_buckets is not None
    pause.gap_buckets = pause.gap_buckets.clone()
    pause.gap_buckets[0, 2] = 16  # a month between the second and third event
    with torch.no_grad():
        hidden_quick, hidden_pause = model(quick), model(pause)
    torch.testing.assert_close(hidden_quick[:, :2], hidden_pause[:, :2])
    assert not torch.allclose(hidden_quick[:, 2:], hidden_pause[:, 2:])


def test_time_buckets_are_logarithmic_and_bounded() -> None:
    seconds = torch.tensor([0, 1, 3, 10, 100, 10**4, 10**6, 10**12])
    buckets = time_buckets(seconds)
    assert buckets.tolist() == sorted(buckets.tolist())
    assert buckets[0] == 0 and buckets[-1] == N_TIME_BUCKETS - 1
    assert torch.equal(time_buckets(-seconds), buckets)


def test_fully_padded_rows_give_finite_outputs_and_gradients() -> None:
    model = tiny(dropout=0.1, attn_dropout=0.1, **SIDE).train()
    hidden = model(batch_of(left_pad([[], [1, 2]], 5)))
    assert torch.isfinite(hidden).all()
    hidden.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_tiny_model_overfits_a_toy_sequence(one_thread: None) -> None:
    torch.manual_seed(0)
    model = tiny(dropout=0.0, d_model=32).train()
    tracks = torch.tensor([[0, 1, 2, 3, 4, 5]])
    targets = torch.tensor([[0, 2, 3, 4, 5, 6]])
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        hidden = model(SequenceBatch(tracks))[targets != 0]  # (5, D)
        loss = full_softmax_ce(hidden, model.catalogue_embeddings(), targets[targets != 0])
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert loss.item() < 0.05
    with torch.no_grad():
        logits = model.eval().score(model(SequenceBatch(tracks))[0, 1:])  # (5, V)
    assert logits.argmax(dim=1).tolist() == [2, 3, 4, 5, 6]


def test_unknown_block_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"block 'hstv'.*hstu"):
        ModelConfig(n_tracks=3, block="hstv")


def test_checkpoint_round_trip_through_the_safe_loader(tmp_path) -> None:
    model = tiny(**SIDE)
    vocab = TrackVocab(track_ids=[f"t{i}" for i in range(N_TRACKS)], counts=[1] * N_TRACKS)
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), vocab), tmp_path / "h.pt")
    restored = load_checkpoint(path).build_model().eval()
    assert restored.config.block == "hstu"
    batch = batch_of(left_pad([[1, 2, 3]], 4))
    with torch.no_grad():
        torch.testing.assert_close(restored.next_hidden(batch), model.next_hidden(batch))
