"""The album and artist tables of the history prior (mates from the vocabulary's metadata) and its
album-entry counts (from the training log)."""

import numpy as np

from segue.data.vocab import TrackVocab
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table


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


def naive_entry_counts(tracks, group_start, mates, is_skip) -> np.ndarray:
    """Per track: plays entered from outside its album with a next unskipped play in the group,
    and those whose next play is an album-mate; from the definition, one row at a time."""
    out = np.zeros((len(mates), 2), dtype=np.float32)
    for i in range(len(tracks) - 1):
        if group_start[i + 1] != group_start[i] or is_skip[i + 1]:
            continue  # no next play that the transition table would count
        previous = tracks[i - 1] if i > 0 and group_start[i] != i else 0
        if previous > 0 and previous in mates[tracks[i]]:
            continue  # arrived from its own album
        out[tracks[i], 0] += 1
        out[tracks[i], 1] += tracks[i + 1] in mates[tracks[i]]
    return out


def test_album_entry_counts_equal_the_naive_definition_on_random_logs():
    rng = np.random.default_rng(4)
    for _ in range(20):
        n_tracks = int(rng.integers(2, 12))
        vocab = _vocab(["x"] * n_tracks, [f"A{a}" for a in rng.integers(0, 3, n_tracks)])
        mates = album_mates_table(vocab, n_mates=int(rng.integers(1, 4)))
        rows = int(rng.integers(0, 60))
        tracks = rng.integers(1, n_tracks + 1, rows)
        starts = np.flatnonzero(np.r_[True, rng.random(rows - 1) < 0.2]) if rows else []
        group_start = np.repeat(starts, np.diff(np.r_[starts, rows])) if rows else tracks
        is_skip = rng.random(rows) < 0.2
        got = album_entry_counts(tracks, group_start, mates, is_skip)
        expected = naive_entry_counts(tracks, group_start, mates, is_skip)
        np.testing.assert_array_equal(got, expected)
        assert got.shape == (n_tracks + 1, 2) and got.dtype == np.float32


def test_an_album_opener_has_the_highest_entry_rate():
    # Album A is tracks 1-3 played in order; 4 and 5 are singles between its play-throughs.
    vocab = _vocab(["x"] * 5, ["A", "A", "A", "B", "C"])
    mates = album_mates_table(vocab, n_mates=2)
    tracks = np.array([4, 1, 2, 3, 5, 1, 2, 3, 4, 2, 5, 1, 2])
    counts = album_entry_counts(tracks, np.zeros(len(tracks), dtype=int), mates)
    assert counts[1].tolist() == [3.0, 3.0]  # entered three times, went on every time
    assert counts[2].tolist() == [1.0, 0.0]  # reached from 4 once, then left the album
    assert counts[3].tolist() == [0.0, 0.0]  # always reached from its own album
    rate = counts[:, 1] / (counts[:, 0] + 1)
    assert rate.argmax() == 1


def test_without_album_names_nothing_goes_on_to_an_album():
    vocab = TrackVocab(["a", "b", "c"], counts=[1, 1, 1])
    mates = album_mates_table(vocab, n_mates=2)
    counts = album_entry_counts(np.array([1, 2, 3, 1]), np.zeros(4, dtype=int), mates)
    assert counts[:, 1].sum() == 0 and counts[:, 0].tolist() == [0.0, 1.0, 1.0, 1.0]
