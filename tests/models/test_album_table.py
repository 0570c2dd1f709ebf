"""The album and artist tables of the history prior: mates from the vocabulary's metadata."""

import numpy as np

from segue.data.vocab import TrackVocab
from segue.models.album_table import album_mates_table, artist_mates_table


def _vocab(artists, albums, counts=None) -> TrackVocab:
    n = len(albums)
    return TrackVocab(
        [f"t{i}" for i in range(n)],
        counts=counts or [1] * n,
        artists=artists,
        albums=albums,
    )


def naive_mates(vocab: TrackVocab, n_mates: int) -> np.ndarray:
    """Per track, the other tracks of its (artist, album) by plays, then index; from the
    definition, one track at a time."""
    out = np.zeros((vocab.n_tracks + 1, n_mates), dtype=np.int64)
    artists = vocab.artists or [None] * vocab.n_tracks
    for i in range(vocab.n_tracks):
        if vocab.albums[i] is None:
            continue
        mates = [
            j
            for j in range(vocab.n_tracks)
            if j != i and vocab.albums[j] == vocab.albums[i] and artists[j] == artists[i]
        ]
        mates.sort(key=lambda j: (-vocab.counts[j], j))
        out[i + 1, : min(n_mates, len(mates))] = [j + 1 for j in mates[:n_mates]]
    return out


def test_the_table_equals_the_naive_definition_on_random_catalogues():
    rng = np.random.default_rng(0)
    for n_mates in (1, 3, 8):
        n = 60
        artists = [None if a == 0 else f"a{a}" for a in rng.integers(0, 4, n)]
        albums = [None if b == 0 else f"b{b}" for b in rng.integers(0, 6, n)]
        vocab = _vocab(artists, albums, rng.integers(1, 5, n).tolist())  # many tied counts
        np.testing.assert_array_equal(
            album_mates_table(vocab, n_mates), naive_mates(vocab, n_mates)
        )


def test_albums_of_the_same_name_by_two_artists_stay_apart():
    vocab = _vocab(["x", "x", "y", "y"], ["Greatest Hits"] * 4)
    assert album_mates_table(vocab, 2).tolist() == [[0, 0], [2, 0], [1, 0], [4, 0], [3, 0]]


def test_a_big_album_keeps_its_most_played_tracks():
    vocab = _vocab(["x"] * 5, ["A"] * 5, counts=[1, 9, 3, 7, 5])
    table = album_mates_table(vocab, 2)
    assert table[1].tolist() == [2, 4]  # t1 (9 plays), t3 (7)
    assert table[2].tolist() == [4, 5]  # not itself: the next two


def test_a_log_without_album_names_has_an_empty_table():
    vocab = TrackVocab(["a", "b"], counts=[1, 1], artists=["x", "x"])
    assert album_mates_table(vocab, 4).tolist() == [[0] * 4] * 3


def naive_artist_mates(vocab: TrackVocab, n_mates: int) -> tuple[np.ndarray, np.ndarray]:
    """Per track, the other tracks of its artist by plays, then index, and their plays."""
    mates = np.zeros((vocab.n_tracks + 1, n_mates), dtype=np.int64)
    plays = np.zeros((vocab.n_tracks + 1, n_mates), dtype=np.float32)
    for i in range(vocab.n_tracks):
        if not vocab.artists[i]:
            continue
        others = [
            j for j in range(vocab.n_tracks) if j != i and vocab.artists[j] == vocab.artists[i]
        ]
        others.sort(key=lambda j: (-vocab.counts[j], j))
        for k, j in enumerate(others[:n_mates]):
            mates[i + 1, k], plays[i + 1, k] = j + 1, vocab.counts[j]
    return mates, plays


def test_the_artist_table_equals_the_naive_definition_on_random_catalogues():
    rng = np.random.default_rng(1)
    for n_mates in (1, 3, 8):
        n = 60
        artists = [[None, ""][a % 2] if a < 2 else f"a{a}" for a in rng.integers(0, 6, n)]
        vocab = _vocab(artists, [None] * n, rng.integers(1, 5, n).tolist())  # many tied counts
        got, expected = artist_mates_table(vocab, n_mates), naive_artist_mates(vocab, n_mates)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        assert got[1].dtype == np.float32


def test_a_log_without_artist_names_has_an_empty_artist_table():
    mates, plays = artist_mates_table(TrackVocab(["a", "b"], counts=[3, 1]), 4)
    assert mates.tolist() == [[0] * 4] * 3 and not plays.any()
