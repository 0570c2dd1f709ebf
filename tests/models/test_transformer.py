"""Properties of TrackTransformer: causality, padding invariance, KV cache, overfitting."""

from __future__ import annotations

import io

import pytest
import torch

from segue.data.batch import SequenceBatch
from segue.models import ModelConfig, TrackTransformer
from segue.models.blocks import BLOCKS
from segue.training.losses import full_softmax_ce

N_TRACKS = 20


def tiny(**overrides: object) -> TrackTransformer:
    values: dict = {"n_tracks": N_TRACKS, "d_model": 16, "n_heads": 2, "max_len": 12}
    values.update(overrides)
    return TrackTransformer(ModelConfig(**values)).eval()


def left_pad(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([[0] * (width - len(r)) + r for r in rows])


def batch_of(tracks: torch.Tensor, side: bool = False) -> SequenceBatch:
    if not side:
        return SequenceBatch(tracks)
    real = tracks != 0
    return SequenceBatch(
        tracks,
        artists=(tracks % 3 + 1) * real,
        event_types=(tracks % 2 + 1) * real,
        gap_buckets=(tracks % 5 + 1) * real,
    )


SIDE = {"n_artists": 3, "use_event_types": True, "use_gap_buckets": True}
POSITIONS = ["learned", "rotary", "none"]
ALL_BLOCKS = sorted(BLOCKS)  # a new block gets the contract tests below for free


@pytest.mark.parametrize("block", ALL_BLOCKS)
@pytest.mark.parametrize("positions", POSITIONS)
def test_causal_outputs_ignore_later_tracks(positions: str, block: str) -> None:
    model = tiny(positions=positions, block=block)
    tracks = left_pad([[1, 2, 3, 4, 5]], 7)
    changed = tracks.clone()
    changed[0, 4] = 9  # the third real token
    with torch.no_grad():
        a, b = model(batch_of(tracks)), model(batch_of(changed))
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_masked_objective_attends_bidirectionally() -> None:
    model = tiny(objective="masked")
    tracks = left_pad([[1, 2, 3, 4, 5]], 7)
    changed = tracks.clone()
    changed[0, 6] = 9  # the last token
    with torch.no_grad():
        a, b = model(batch_of(tracks)), model(batch_of(changed))
    assert not torch.allclose(a[:, 2:6], b[:, 2:6])


@pytest.mark.parametrize("block", ALL_BLOCKS)
@pytest.mark.parametrize("objective", ["causal", "masked"])
@pytest.mark.parametrize("positions", POSITIONS)
def test_left_padding_does_not_change_real_outputs(
    positions: str, objective: str, block: str
) -> None:
    model = tiny(positions=positions, objective=objective, block=block, **SIDE)
    seq = [4, 7, 1, 9]
    with torch.no_grad():
        short = model(batch_of(left_pad([seq], 4), side=True))
        long = model(batch_of(left_pad([seq, [3]], 10), side=True))
    torch.testing.assert_close(long[0, -4:], short[0], atol=1e-6, rtol=1e-5)


def test_fully_padded_rows_give_finite_outputs_and_gradients() -> None:
    model = tiny(dropout=0.1).train()
    batch = batch_of(left_pad([[], [1, 2]], 5))
    hidden = model(batch)
    assert torch.isfinite(hidden).all()
    hidden.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("block", ALL_BLOCKS)
@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_incremental_encoding_equals_full_encoding(positions: str, block: str) -> None:
    model = tiny(positions=positions, block=block, **SIDE)
    # Two sessions that receive different numbers of new events per step.
    full = left_pad([[3, 5, 7, 2, 8, 1, 6], [4, 4, 9, 2, 5]], 7)
    steps = [full[:, :3], full[:, 3:4], full[:, 4:7]]
    with torch.no_grad():
        expected = model(batch_of(full, side=True))
        cache, outputs = None, []
        for step in steps:
            hidden, cache = model.forward_incremental(batch_of(step, side=True), cache)
            outputs.append(hidden)
    got = torch.cat(outputs, dim=1)
    real = full != 0
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    assert cache is not None and cache.n_real.tolist() == [7, 5]


def test_incremental_rows_may_be_left_padded_within_a_step() -> None:
    model = tiny()
    with torch.no_grad():
        _, cache = model.forward_incremental(batch_of(left_pad([[1, 2], [3, 4]], 2)))
        # Row 0 gets two new events, row 1 only one (left-padded).
        step, cache = model.forward_incremental(batch_of(left_pad([[5, 6], [7]], 2)), cache)
        expected = model(batch_of(left_pad([[1, 2, 5, 6], [3, 4, 7]], 4)))
    torch.testing.assert_close(step[:, -1], expected[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step[0, 0], expected[0, 2], atol=1e-5, rtol=1e-5)


def test_incremental_needs_the_causal_objective() -> None:
    model = tiny(objective="masked")
    assert not model.supports_incremental and tiny().supports_incremental
    with pytest.raises(ValueError, match=r"causal.*next_hidden"):
        model.forward_incremental(batch_of(torch.tensor([[1]])))


@pytest.mark.parametrize("objective", ["causal", "masked"])
def test_next_hidden_predicts_after_the_history_for_either_objective(objective: str) -> None:
    model = tiny(objective=objective, **SIDE)
    history = batch_of(left_pad([[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]], 12), True)
    with torch.no_grad():
        got = model.next_hidden(history)  # (2, D)
        if objective == "causal":
            expected = model(history)[:, -1]
        else:  # a [MASK] after the last max_len - 1 events, side inputs 0 there
            tracks = torch.cat((history.tracks[:, 1:], torch.full((2, 1), N_TRACKS + 1)), 1)
            masked = batch_of(tracks, side=True)
            for name in ("artists", "event_types", "gap_buckets"):
                getattr(masked, name)[:, -1] = 0
            expected = model(masked)[:, -1]
    assert got.shape == (2, 16)
    torch.testing.assert_close(got, expected)
    assert model.history_length == (12 if objective == "causal" else 11)


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_every_block_declares_a_lower_bound_on_its_weights(block: str) -> None:
    model = tiny(block=block, d_ff=40)
    matrices = sum(
        p.numel() for name, p in model.blocks[0].named_parameters() if name.endswith("weight")
    )
    assert 0 < BLOCKS[block].n_weights(model.config) <= matrices


def test_side_inputs_change_outputs_and_are_required() -> None:
    model = tiny(**SIDE)
    tracks = left_pad([[1, 2, 3]], 4)
    batch = batch_of(tracks, side=True)
    assert batch.event_types is not None
    other = SequenceBatch(tracks, batch.artists, batch.event_types.flip(1) * (tracks != 0))
    other.gap_buckets = batch.gap_buckets
    with torch.no_grad():
        assert not torch.allclose(model(batch)[:, -1], model(other)[:, -1])
    with pytest.raises(ValueError, match="artists"):
        model(SequenceBatch(tracks))


def test_score_masks_padding_and_argmax_is_a_track_index() -> None:
    model = tiny()
    hidden = model.catalogue_embeddings()[[7, 3]] * 100  # (2, D): point at tracks 7 and 3
    logits = model.score(hidden)
    assert logits.shape == (2, N_TRACKS + 1)
    assert torch.isinf(logits[:, 0]).all()
    assert logits.argmax(dim=1).tolist() == [7, 3]
    assert model.catalogue_embeddings().shape == (N_TRACKS + 1, 16)


def test_init_is_deterministic_per_seed() -> None:
    a, b, c = tiny(seed=1), tiny(seed=1), tiny(seed=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.track_emb.weight, c.track_emb.weight)
    assert torch.equal(a.track_emb.weight[0], torch.zeros(16))


def test_too_long_history_is_an_error_with_learned_positions() -> None:
    with pytest.raises(ValueError, match="max_len"):
        tiny(max_len=3)(batch_of(torch.tensor([[1, 2, 3, 4]])))


def test_checkpoint_round_trip_with_weights_only() -> None:
    model = tiny(positions="rotary", **SIDE)
    buffer = io.BytesIO()
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    restored = TrackTransformer(ModelConfig.from_dict(checkpoint["config"]))
    restored.load_state_dict(checkpoint["state_dict"])
    batch = batch_of(left_pad([[1, 2, 3]], 4), side=True)
    with torch.no_grad():
        torch.testing.assert_close(restored.eval()(batch), model(batch))


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_tiny_model_overfits_a_toy_sequence(positions: str, one_thread: None) -> None:
    torch.manual_seed(0)
    model = tiny(positions=positions, dropout=0.0, d_model=32).train()
    tracks = torch.tensor([[0, 1, 2, 3, 4, 5]])
    targets = torch.tensor([[0, 2, 3, 4, 5, 6]])
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):  # the loss is below 0.005 after 50 steps
        hidden = model(SequenceBatch(tracks))[targets != 0]  # (5, D)
        loss = full_softmax_ce(hidden, model.catalogue_embeddings(), targets[targets != 0])
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert loss.item() < 0.01
    with torch.no_grad():
        logits = model.eval().score(model(SequenceBatch(tracks))[0, 1:])  # (5, V)
    assert logits.argmax(dim=1).tolist() == [2, 3, 4, 5, 6]
