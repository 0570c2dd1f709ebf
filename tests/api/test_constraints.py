"""One Constraints dataclass: its checks, its resolution to one mask, every call taking it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import Constraints, Recommender
from segue.api.constraints import ResolvedConstraints, resolve, tracks_of_artists
from segue.api.playlist import PlaylistGuard
from segue.constraints import constraints_from
from segue.data.vocab import TrackVocab
from segue.models import sasrec
from tests.api.conftest import N_TRACKS, ids, tiny_recommender


def index_of(*numbers: int) -> list[int]:
    """Catalogue indices of tracks t<n> (index 0 is padding)."""
    return [n + 1 for n in numbers]


def artist_tracks(artist: int) -> list[int]:
    """Indices of the tracks of artist a<artist> (t39 has no artist)."""
    return [i + 1 for i in range(N_TRACKS - 1) if i % 5 == artist]


def banned_indices(resolved: ResolvedConstraints) -> list[int]:
    assert resolved.banned is not None
    return torch.nonzero(resolved.banned).ravel().tolist()


def test_fields_are_checked_and_id_collections_kept_as_tuples() -> None:
    c = Constraints(allow=iter(["t1", "t2"]), block="t3", exclude_artists={"a1"})
    assert (c.allow, c.block, c.exclude_artists) == (("t1", "t2"), ("t3",), ("a1",))
    with pytest.raises(ValueError, match="max_per_artist"):
        Constraints(max_per_artist=0)
    with pytest.raises(ValueError, match="no_repeat_window"):
        Constraints(no_repeat_window=-1)
    with pytest.raises(TypeError, match="exclude_played"):
        Constraints(exclude_played="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude_artists must be a collection of artist names"):
        Constraints(exclude_artists={"a1": 1})
    with pytest.raises(TypeError, match=r"block\[0\] is a list, not a track id"):
        Constraints(block=[["t1"]])


def test_keywords_become_one_constraints_in_one_place() -> None:
    base = Constraints(block=["t1"], max_per_artist=2)
    got = constraints_from(base, {"max_per_artist": 1}, "recommend")
    assert got == Constraints(block=["t1"], max_per_artist=1)  # keywords on top of the object
    assert constraints_from(None, {}, "recommend") == Constraints()
    with pytest.raises(TypeError, match="unexpected keyword argument 'alow'"):
        constraints_from(None, {"alow": ["t1"]}, "recommend")
    with pytest.raises(TypeError, match="must be a Constraints"):
        constraints_from({"block": ["t1"]}, {}, "recommend")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no_repeat_window"):
        constraints_from(None, {"no_repeat_window": 3}, "recommend_batch")
    with pytest.raises(ValueError, match="exclude_played"):
        constraints_from(None, {"exclude_played": False}, "continue_playlist")


def test_resolve_gives_one_mask_and_ignores_unknown_ids(rec: Recommender) -> None:
    catalogue = rec.catalogue
    assert resolve(Constraints(max_per_artist=2), catalogue) == ResolvedConstraints(None, 2)
    resolved = resolve(Constraints(allow=[*ids(1, 2, 3), "zz"], block=["t3", "zz"]), catalogue)
    eligible = set(range(catalogue.size)) - set(banned_indices(resolved))
    assert eligible == set(index_of(1, 2))
    resolved = resolve(Constraints(block=ids(4), exclude_artists=["a2", "nobody"]), catalogue)
    assert banned_indices(resolved) == sorted({0, *index_of(4), *artist_tracks(2)})
    assert resolve(Constraints(allow=[]), catalogue).banned.all()  # type: ignore[union-attr]


def test_resolved_mask_equals_a_loop(rec: Recommender) -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, rec.catalogue.size)).astype(np.float32)
    resolved = resolve(Constraints(block=ids(2, 3), exclude_artists=["a4"]), rec.catalogue)
    masked = torch.from_numpy(scores.copy())
    resolved.mask(masked)
    banned = {0, *index_of(2, 3), *artist_tracks(4)}
    expected = np.where(np.isin(np.arange(rec.catalogue.size), list(banned)), -np.inf, scores)
    np.testing.assert_array_equal(masked.numpy(), expected)


def test_tracks_of_artists_needs_artist_names() -> None:
    vocab = TrackVocab(track_ids=ids(*range(6)), counts=[1] * 6)
    bare = Recommender(sasrec(6, d_model=8, n_layers=1, max_len=4, seed=0), vocab)
    with pytest.raises(ValueError, match="no artist names"):
        tracks_of_artists(bare.catalogue, ["a1"])
    assert sorted(tracks_of_artists(tiny_recommender().catalogue, ["a0"])) == artist_tracks(0)


@pytest.mark.parametrize("call", ["recommend", "batch", "session", "playlist"])
def test_exclude_artists_reaches_every_call(rec: Recommender, call: str) -> None:
    history = ids(0, 5, 10)  # artist a0 only
    rules = {"exclude_artists": ["a0", "a3"]}
    if call == "recommend":
        frame = rec.recommend(history, k=N_TRACKS, **rules)
    elif call == "batch":
        frame = rec.recommend_batch([history, ids(1)], k=N_TRACKS, **rules)
    elif call == "session":
        frame = rec.session(history).recommend(k=N_TRACKS, **rules)
    else:
        frame = rec.continue_playlist(history, n=N_TRACKS, **rules)
    assert len(frame) > 0
    assert not set(frame["artist"].dropna()) & {"a0", "a3"}
    if call != "playlist":  # every other eligible track is listed: nothing else was removed
        per_query = frame.groupby("query").size().tolist() if call == "batch" else [len(frame)]
        assert per_query[0] == N_TRACKS - len(artist_tracks(0)) - len(artist_tracks(3))


def test_constraints_object_equals_keywords(rec: Recommender) -> None:
    history = ids(1, 2, 3)
    rules = {"block": ids(4, 5), "max_per_artist": 1, "exclude_played": False}
    whole = Constraints(**rules)  # type: ignore[arg-type]
    pd_equal = pd.testing.assert_frame_equal
    pd_equal(rec.recommend(history, k=8, constraints=whole), rec.recommend(history, k=8, **rules))
    pd_equal(
        rec.session(history).recommend(8, constraints=whole),
        rec.session(history).recommend(8, **rules),
    )
    playlist = Constraints(no_repeat_window=2, block=ids(4))
    pd_equal(
        rec.continue_playlist(history, n=5, constraints=playlist),
        rec.continue_playlist(history, n=5, no_repeat_window=2, block=ids(4)),
    )


def test_playlist_guard_window_and_cap(rec: Recommender) -> None:
    catalogue = rec.catalogue
    rules = Constraints(no_repeat_window=2, max_per_artist=1)
    guard = PlaylistGuard(catalogue, rules, context=np.array([1, 2, 3]))
    scores = torch.zeros(catalogue.size)
    guard.apply(scores)
    assert torch.isneginf(scores).nonzero().ravel().tolist() == [0, 2, 3]  # padding + window
    guard.push(6)  # t5, artist a0: a0 is now capped
    scores = torch.zeros(catalogue.size)
    guard.apply(scores)
    blocked = set(torch.isneginf(scores).nonzero().ravel().tolist())
    assert blocked == {0, 3, 6, *artist_tracks(0)}  # the window slid past track 2


def test_playlist_guard_applies_the_bans(rec: Recommender) -> None:
    guard = PlaylistGuard(
        rec.catalogue, Constraints(exclude_artists=["a1"], block=ids(0)), np.array([5])
    )
    scores = torch.zeros(rec.catalogue.size)
    guard.apply(scores)
    blocked = set(torch.isneginf(scores).nonzero().ravel().tolist())
    assert blocked == {0, 5, *index_of(0), *artist_tracks(1)}  # the seed never repeats


def test_the_dataclass_needs_no_torch() -> None:
    """A torch-free server (the ONNX backend) builds the same Constraints."""
    code = (
        "import sys; import segue.constraints as c; c.Constraints(block='t1'); "
        "sys.exit(1 if 'torch' in sys.modules or 'pandas' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
