"""The packed vocabulary: an exact round trip, and lookups that agree with TrackVocab's."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from segue.compress.packed_vocab import PackedVocab, pack_vocab, unpack_vocab
from segue.data.vocab import TrackVocab


def _vocab() -> TrackVocab:
    return TrackVocab(
        track_ids=["spotify:track:9", "42", "é-ü", "b", "a", "7"],
        counts=[90, 41, 41, 3, 2, 1],
        artists=["Zaz", None, "Abba", "Zaz", None, "Émile"],
        albums=[None, None, None, None, None, None],
        names=["one", "two", "three", "four", "five", "six"],
    )


def test_round_trip_is_exact_with_unknown_metadata():
    assert unpack_vocab(pack_vocab(_vocab())) == _vocab()
    without_metadata = TrackVocab(track_ids=["x", "y"], counts=[2, 1])
    assert unpack_vocab(pack_vocab(without_metadata)) == without_metadata


def test_lookups_agree_with_the_vocabulary():
    vocab, lookup = _vocab(), PackedVocab(pack_vocab(_vocab()))
    queries = ["a", "spotify:track:9", "missing", "é-ü", "", "7", "0"]
    np.testing.assert_array_equal(lookup.encode(queries), vocab.encode(queries))
    everything = np.arange(len(vocab) + 1)
    np.testing.assert_array_equal(lookup.artist_index(everything), vocab.artist_index(everything))
    np.testing.assert_array_equal(lookup.decode([3, 1, 6]), vocab.decode([3, 1, 6]))
    np.testing.assert_array_equal(lookup.popularity(), vocab.popularity())
    assert lookup.encode([]).shape == (0,)
    with pytest.raises(IndexError):
        lookup.decode([0])


def test_packed_tensors_load_with_weights_only_and_are_smaller():
    vocab = TrackVocab(
        track_ids=[str(1_000_000 + 7 * i) for i in range(5000)],
        counts=list(range(5000, 0, -1)),
        artists=[f"artist {i % 300}" for i in range(5000)],
    )
    packed, as_lists = io.BytesIO(), io.BytesIO()
    torch.save(pack_vocab(vocab), packed)
    torch.save(vocab.to_dict(), as_lists)
    assert len(packed.getvalue()) < len(as_lists.getvalue()) / 3
    packed.seek(0)
    assert unpack_vocab(torch.load(packed, weights_only=True)) == vocab


def test_a_nul_byte_is_rejected_naming_the_column():
    vocab = TrackVocab(track_ids=["ok", "bad\x00id"], counts=[2, 1])
    with pytest.raises(ValueError, match=r"'track_ids'.*NUL"):
        pack_vocab(vocab)
