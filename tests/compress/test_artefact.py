"""The int8 artefact: save -> load gives the same scores, safely, and a float model is quantized."""

from __future__ import annotations

import pytest
import torch

from segue.compress.artefact import compress_checkpoint, load_int8, save_int8
from segue.compress.int8 import int8_scores, quantize_model
from segue.data.batch import SequenceBatch
from segue.io.checkpoint import Checkpoint, save_checkpoint
from tests.compress.conftest import tiny_model, tiny_vocab


def _scores(model, artefact_score, tracks):
    with torch.no_grad():
        return artefact_score(model.last_hidden(SequenceBatch(tracks)))


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_gives_the_same_scores(tmp_path, mmap):
    quantized = quantize_model(tiny_model())
    path = save_int8(quantized, tiny_vocab(), tmp_path / "m.int8.pt")
    loaded = load_int8(path, mmap=mmap)
    assert loaded.vocab == tiny_vocab()
    assert loaded.config == quantized.config
    tracks = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 60]])
    expected = _scores(quantized, lambda h: int8_scores(quantized, h), tracks)
    torch.testing.assert_close(_scores(loaded.model, loaded.score, tracks), expected)
    assert loaded.model.track_emb.values.dtype == torch.int8
    # weights_only: the file holds plain containers and tensors only
    torch.load(path, weights_only=True)


def test_a_float_model_is_quantized_on_save(tmp_path):
    path = save_int8(tiny_model(), tiny_vocab(), tmp_path / "m.int8.pt")
    assert load_int8(path).model.track_emb.values.dtype == torch.int8


def test_compress_checkpoint_stores_the_track_table_in_int8(tmp_path):
    model = tiny_model()
    checkpoint = Checkpoint(model.config, model.state_dict(), tiny_vocab())
    path = compress_checkpoint(save_checkpoint(checkpoint, tmp_path / "b.pt"), tmp_path / "q.pt")
    tensors = torch.load(path, weights_only=True)["tensors"]
    table = tensors["track_emb.values"].nbytes + tensors["track_emb.scales"].nbytes
    # D int8 bytes + one float32 scale per row instead of 4 D bytes: 3.2x at D = 16, 3.8x at 64
    assert model.track_emb.weight.nbytes / table == pytest.approx(4 * 16 / (16 + 4))


def test_rejects_other_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": "something"}, path)
    with pytest.raises(ValueError, match="not a segue int8"):
        load_int8(path)
    with pytest.raises(FileNotFoundError):
        load_int8(tmp_path / "missing.pt")


def test_the_artist_table_is_int8_and_survives_the_round_trip(tmp_path):
    model = tiny_model(n_artists=4)
    quantized = quantize_model(model)
    assert quantized.artist_emb.values.dtype == torch.int8
    assert isinstance(model.artist_emb, torch.nn.Embedding)  # the original is untouched
    loaded = load_int8(save_int8(quantized, tiny_vocab(), tmp_path / "a.int8.pt")).model
    batch = SequenceBatch(torch.tensor([[0, 3, 4, 5]]), artists=torch.tensor([[0, 1, 2, 4]]))
    with torch.no_grad():
        expected = int8_scores(quantized, quantized.last_hidden(batch))
        float_hidden = model.last_hidden(batch)
        torch.testing.assert_close(int8_scores(loaded, loaded.last_hidden(batch)), expected)
    # the artist rows moved by at most half a step: the hidden state barely changes
    assert (quantized.last_hidden(batch) - float_hidden).abs().max() < 0.05


def test_every_embedding_table_is_int8(tmp_path):
    model = tiny_model(n_artists=4, use_event_types=True, use_gap_buckets=True)
    loaded = load_int8(save_int8(model, tiny_vocab(), tmp_path / "a.int8.pt")).model
    for name in ("track_emb", "artist_emb", "event_emb", "gap_emb", "pos_emb"):
        assert getattr(loaded, name).values.dtype == torch.int8, name


def test_a_version_1_artefact_with_a_list_vocabulary_still_loads(tmp_path):
    path = save_int8(tiny_model(), tiny_vocab(), tmp_path / "v2.int8.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"], payload["vocab"] = 1, tiny_vocab().to_dict()
    del payload["sha256"]  # version 1 had no checksum
    torch.save(payload, tmp_path / "v1.int8.pt")
    loaded = load_int8(tmp_path / "v1.int8.pt")
    assert loaded.vocab == tiny_vocab()
    assert loaded.lookup.encode(["t3"]).tolist() == [4]
