"""Per-row int8 weights: exact values, the score error bound, scores, and the quantized model."""

from __future__ import annotations

import pytest
import torch

from segue.compress.int8 import (
    Int8Embedding,
    Int8Linear,
    Int8Rows,
    catalogue_rows,
    int8_scores,
    quantize_model,
)
from segue.data.batch import SequenceBatch
from tests.compress.conftest import tiny_model


def test_quantize_round_trips_within_half_a_step():
    weight = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    rows = Int8Rows.quantize(weight)
    assert rows.values.dtype == torch.int8 and rows.scales.dtype == torch.float32
    assert rows.values.abs().amax(dim=1).eq(127).all()  # every row uses the full range
    assert ((rows.dequantize() - weight).abs() <= rows.scales[:, None] / 2 + 1e-7).all()


def test_zero_rows_stay_zero():
    rows = Int8Rows.quantize(torch.zeros(3, 4))
    assert rows.values.eq(0).all() and rows.scales.eq(0).all()
    assert rows.scores(torch.ones(2, 4)).eq(0).all()


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_chunked_scores_equal_the_dequantized_product(chunk_rows):
    gen = torch.Generator().manual_seed(1)
    rows = Int8Rows.quantize(torch.randn(30, 8, generator=gen))
    hidden = torch.randn(3, 8, generator=gen)
    expected = hidden @ rows.dequantize().T
    torch.testing.assert_close(rows.scores(hidden, chunk_rows), expected, rtol=1e-5, atol=1e-5)


def test_scores_stay_within_the_l1_bound_of_float_scores():
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(500, 16, generator=gen) * torch.rand(500, 1, generator=gen)
    hidden = torch.randn(8, 16, generator=gen)
    rows = Int8Rows.quantize(weight)
    error = (rows.scores(hidden) - hidden @ weight.T).abs()
    assert (error <= rows.score_error_bound(hidden) + 1e-5).all()


def test_quantized_model_swaps_tables_and_linears_and_leaves_the_original():
    model = tiny_model()
    quantized = quantize_model(model)
    assert isinstance(quantized.track_emb, Int8Embedding)
    assert isinstance(quantized.blocks[0].attn.qkv, Int8Linear)
    assert isinstance(quantized.blocks[0].mlp[0], Int8Linear)
    assert isinstance(model.track_emb, torch.nn.Embedding)  # a copy was quantized
    assert catalogue_rows(quantized).values.shape == (model.config.n_tracks + 1, 16)
    with pytest.raises(TypeError, match="quantize_model"):
        catalogue_rows(model)


def test_int8_model_ranks_like_the_float_model():
    """Stated tolerance: int8 scores within the per-row L1 bound of the float scores *of the
    same hidden state*, and 9 of the top 10 on average shared with the float model."""
    model = tiny_model()
    quantized = quantize_model(model)
    gen = torch.Generator().manual_seed(3)
    tracks = torch.randint(1, model.config.n_tracks + 1, (20, model.config.max_len), generator=gen)
    tracks[:10, :6] = 0  # half the rows left-padded
    batch = SequenceBatch(tracks)
    with torch.no_grad():
        float_scores = model.score(model.last_hidden(batch))
        hidden_q = quantized.last_hidden(batch)
        int8 = int8_scores(quantized, hidden_q)
    bound = catalogue_rows(quantized).score_error_bound(hidden_q)[:, 1:]
    assert ((int8 - model.score(hidden_q))[:, 1:].abs() <= bound + 1e-5).all()
    assert torch.isinf(int8[:, 0]).all()
    top_float = float_scores.topk(10).indices
    top_int8 = int8.topk(10).indices
    overlap = [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(top_float, top_int8)]
    assert sum(overlap) / len(overlap) >= 0.9
