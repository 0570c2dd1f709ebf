"""Vectorised masks and the per-artist cap against plain-loop references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.api.constraints import (
    Filters,
    PlaylistConstraints,
    mask_scores,
    resolve_filters,
    top_k,
    within_cap,
)
from tests.api.conftest import ids, tiny_recommender


def loop_top_k(scores: np.ndarray, k: int, artists: np.ndarray, cap: int | None) -> list[list]:
    """Reference: walk each row best first, keep a track while its artist has room."""
    out = []
    for row in scores:
        taken: dict[int, int] = {}
        chosen: list[int] = []
        for j in np.argsort(-row, kind="stable"):
            if len(chosen) == k or not np.isfinite(row[j]):
                break
            a = int(artists[j])
            if cap is not None and a != 0 and taken.get(a, 0) >= cap:
                continue
            taken[a] = taken.get(a, 0) + 1
            chosen.append(int(j))
        out.append(chosen)
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("cap", [None, 1, 2])
def test_capped_top_k_equals_loop_reference(seed: int, cap: int | None) -> None:
    rng = np.random.default_rng(seed)
    n_cols, k = 200, 12
    # Few artists, one of them dominating the best scores: forces the candidate fallback.
    artists = rng.integers(0, 6, n_cols)
    scores = rng.normal(size=(5, n_cols)).astype(np.float32)
    scores += 3 * (artists == 1)
    scores[:, 0] = -np.inf
    scores[rng.random((5, n_cols)) < 0.3] = -np.inf
    ranked = top_k(torch.from_numpy(scores), k, artists, cap)
    expected = loop_top_k(scores, k, artists, cap)
    for row, want in enumerate(expected):
        got = ranked.indices[row][ranked.indices[row] > 0].tolist()
        assert got == want
        np.testing.assert_array_equal(ranked.scores[row][: len(want)], scores[row, want])
        assert np.isneginf(ranked.scores[row][len(want) :]).all()


def test_cap_returns_fewer_when_artists_run_out() -> None:
    scores = torch.tensor([[-np.inf, 3.0, 2.0, 1.0, 0.5]])
    artists = np.array([0, 1, 1, 1, 1])
    ranked = top_k(scores, 3, artists, cap=1)
    assert ranked.indices.tolist() == [[1, 0, 0]]


def test_within_cap_equals_loop() -> None:
    rng = np.random.default_rng(0)
    artists = rng.integers(0, 4, (6, 30))
    got = within_cap(artists, cap=2)
    for row in range(6):
        counts: dict[int, int] = {}
        for col, a in enumerate(artists[row]):
            counts[a] = counts.get(a, 0) + 1
            assert got[row, col] == (a == 0 or counts[a] <= 2)


def test_mask_scores_equals_loop() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, 30)).astype(np.float32)
    excluded = [np.array([1, 5, 5]), np.array([], dtype=np.int64), np.array([29])]
    disallowed = torch.from_numpy(rng.random(30) < 0.2)
    blocked = torch.tensor([2, 3])
    masked = torch.from_numpy(scores.copy())
    mask_scores(masked, Filters(disallowed, blocked), excluded)
    expected = scores.copy()
    for row in range(3):
        for col in range(30):
            if col in excluded[row] or col in (2, 3) or disallowed[col]:
                expected[row, col] = -np.inf
    np.testing.assert_array_equal(masked.numpy(), expected)


def test_resolve_filters_ignores_unknown_ids_and_checks_the_cap() -> None:
    catalogue = tiny_recommender().catalogue
    filters = resolve_filters(catalogue, allow=[*ids(1, 2), "zz"], block=["t3", "zz"])
    assert filters.disallowed is not None
    assert torch.nonzero(~filters.disallowed).ravel().tolist() == [2, 3]
    assert filters.blocked is not None and filters.blocked.tolist() == [4]
    with pytest.raises(ValueError, match="max_per_artist"):
        resolve_filters(catalogue, max_per_artist=0)


def test_playlist_constraints_window_and_cap() -> None:
    catalogue = tiny_recommender().catalogue
    guard = PlaylistConstraints(
        catalogue, Filters(), context=np.array([1, 2, 3]), window=2, max_per_artist=1
    )
    scores = torch.zeros(catalogue.size)
    guard.apply(scores)
    assert torch.isneginf(scores).nonzero().ravel().tolist() == [0, 2, 3]  # padding + window
    guard.push(6)  # t5, artist a0: a0 is now capped
    scores = torch.zeros(catalogue.size)
    guard.apply(scores)
    artists = catalogue.artists
    assert artists is not None
    a0 = [i for i in range(1, catalogue.size) if artists[i] == "a0"]
    blocked = set(torch.isneginf(scores).nonzero().ravel().tolist())
    assert blocked == {0, 3, 6, *a0}  # the window slid past track 2
