import numpy as np
import pytest
import torch

from segue.evaluation.ranking import MISS, target_ranks, top_k, within_cap


def reference_rank(row: np.ndarray, target: int, excluded: set[int]) -> int:
    """1 + items above + other items tied, over non-padding, non-excluded items (a plain loop)."""
    if target == 0:
        return MISS
    rank = 1
    for j in range(1, len(row)):
        if j == target or j in excluded:
            continue
        if row[j] >= row[target]:
            rank += 1
    return rank


def reference_top_k(row: np.ndarray, k: int, excluded: set[int]) -> list[int]:
    items = [j for j in range(1, len(row)) if j not in excluded and row[j] > -np.inf]
    items.sort(key=lambda j: (-row[j], j))
    return (items + [0] * k)[:k]


def random_case(seed: int, n_rows: int = 40, n_cols: int = 30):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(n_rows, n_cols)).astype(np.float32)  # many ties
    scores[:, 0] = 100.0  # padding must be ignored even when it scores highest
    targets = rng.integers(0, n_cols, size=n_rows)
    exclude = [rng.integers(0, n_cols, size=rng.integers(0, 12)) for _ in range(n_rows)]
    exclude[0] = np.array([targets[0], targets[0], 3])  # target in the history: still ranked
    return scores, targets, exclude


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_ranks_match_loop_reference(seed: int, chunk_size: int) -> None:
    scores, targets, exclude = random_case(seed)
    expected = [reference_rank(r, t, set()) for r, t in zip(scores, targets, strict=True)]
    got = target_ranks(scores, targets, chunk_size=chunk_size)
    assert got.tolist() == expected

    expected = [
        reference_rank(r, t, set(e.tolist()))
        for r, t, e in zip(scores, targets, exclude, strict=True)
    ]
    assert target_ranks(scores, targets, exclude, chunk_size=chunk_size).tolist() == expected


def test_ranks_with_mask_equal_ranks_with_lists() -> None:
    scores, targets, exclude = random_case(3)
    mask = np.zeros(scores.shape, dtype=bool)
    for i, e in enumerate(exclude):
        mask[i, e] = True
    by_list = target_ranks(scores, targets, exclude)
    np.testing.assert_array_equal(target_ranks(scores, targets, mask), by_list)
    np.testing.assert_array_equal(
        target_ranks(torch.from_numpy(scores), torch.from_numpy(targets), torch.from_numpy(mask)),
        by_list,
    )


def test_constant_scores_rank_last_and_perfect_scores_rank_first() -> None:
    n_cols = 11
    assert target_ranks(np.zeros((2, n_cols)), [3, 10]).tolist() == [10, 10]
    perfect = np.zeros((2, n_cols))
    perfect[[0, 1], [3, 10]] = 1.0
    assert target_ranks(perfect, [3, 10]).tolist() == [1, 1]


def test_unknown_target_is_miss() -> None:
    assert target_ranks(np.ones((1, 4)), [0]).tolist() == [MISS]


def test_padding_is_ignored_even_when_its_score_is_nan() -> None:
    """Column 0 is never ranked "whatever score it holds", NaN included (e.g. a 0 / 0 there)."""
    scores = np.array([[np.nan, 0.9, 0.5, 0.5], [np.nan, 0.1, 0.2, 0.3]])
    assert target_ranks(scores, [2, 3]).tolist() == [3, 1]
    assert top_k(scores, 2).indices.tolist() == [[1, 2], [3, 2]]
    with pytest.raises(ValueError, match="NaN"):  # a NaN on a track is still refused
        top_k(np.array([[np.nan, np.nan, 0.5]]), 1)


def test_rank_errors() -> None:
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(np.array([[0.0, np.nan, 1.0]]), [2])
    with pytest.raises(ValueError, match="targets must be in"):
        target_ranks(np.zeros((1, 3)), [3])
    with pytest.raises(ValueError, match="targets must be"):
        target_ranks(np.zeros((2, 3)), [1])
    with pytest.raises(ValueError, match="exclude must hold"):
        target_ranks(np.zeros((2, 3)), [1, 1], exclude=[np.array([1])])
    with pytest.raises(ValueError, match="exclusion mask"):
        target_ranks(np.zeros((2, 3)), [1, 1], exclude=np.zeros((2, 3), dtype=int))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 5, 29])
def test_top_k_matches_sorted_reference(seed: int, k: int) -> None:
    scores, _, exclude = random_case(seed)
    scores[5, 1:] = 1.0  # a row of ties only
    scores[6, 1:] = -np.inf
    scores[6, [4, 2]] = [1.0, 2.0]  # fewer rankable items than k
    got = top_k(scores, k, chunk_size=16)
    assert got.indices.tolist() == [reference_top_k(r, k, set()) for r in scores]
    assert got.indices.dtype == np.int64 and got.scores.dtype == np.float32
    np.testing.assert_array_equal(
        got.scores[got.indices > 0],
        scores[np.nonzero(got.indices)[0], got.indices[got.indices > 0]],
    )
    assert np.isneginf(got.scores[got.indices == 0]).all()

    got = top_k(scores, k, exclude)
    expected = [
        reference_top_k(r, k, set(e.tolist())) for r, e in zip(scores, exclude, strict=True)
    ]
    assert got.indices.tolist() == expected


def test_top_k_leaves_input_intact_and_takes_torch() -> None:
    scores = torch.tensor([[5.0, 1.0, 3.0, 2.0]])
    got = top_k(scores, 2, exclude=[np.array([2])])
    assert got.indices.tolist() == [[3, 1]]
    assert scores.tolist() == [[5.0, 1.0, 3.0, 2.0]]


def test_top_k_lists_are_at_most_the_catalogue_long_and_k_is_checked() -> None:
    got = top_k(np.array([[0.0, 1.0, -np.inf, 3.0]]), 10)  # V - 1 = 3 columns, 2 rankable
    assert got.indices.tolist() == [[3, 1, 0]]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            top_k(np.zeros((1, 4)), bad)  # type: ignore[arg-type]


def loop_top_k(scores: np.ndarray, k: int, artists: np.ndarray, cap: int | None) -> list[list]:
    """Reference: walk each row best first (ties: lower index), keep a track while its artist
    has room; padding and -inf are never kept."""
    out = []
    for row in scores:
        taken: dict[int, int] = {}
        chosen: list[int] = []
        for j in np.argsort(-row, kind="stable"):
            if len(chosen) == k or not np.isfinite(row[j]):
                break
            a = int(artists[j])
            if j == 0 or (cap is not None and a != 0 and taken.get(a, 0) >= cap):
                continue
            taken[a] = taken.get(a, 0) + 1
            chosen.append(int(j))
        out.append(chosen)
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("cap", [None, 1, 2])
def test_capped_top_k_equals_loop_reference(seed: int, cap: int | None) -> None:
    rng = np.random.default_rng(seed)
    n_cols, k = 200, 12
    # Few artists, one of them dominating the best scores: forces the wider candidate passes.
    artists = rng.integers(0, 6, n_cols)
    scores = rng.integers(0, 40, size=(5, n_cols)).astype(np.float32)  # ties
    scores += 30 * (artists == 1)
    scores[rng.random((5, n_cols)) < 0.3] = -np.inf
    ranked = top_k(scores, k, artist_of_track=artists, max_per_artist=cap, chunk_size=2)
    expected = loop_top_k(scores, k, artists, cap)
    for row, want in enumerate(expected):
        got = ranked.indices[row][ranked.indices[row] > 0].tolist()
        assert got == want
        np.testing.assert_array_equal(ranked.scores[row][: len(want)], scores[row, want])
        assert np.isneginf(ranked.scores[row][len(want) :]).all()


def test_cap_returns_fewer_when_artists_run_out_and_needs_artists() -> None:
    scores = torch.tensor([[-np.inf, 3.0, 2.0, 1.0, 0.5]])
    artists = np.array([0, 1, 1, 1, 1])
    ranked = top_k(scores, 3, artist_of_track=artists, max_per_artist=1)
    assert ranked.indices.tolist() == [[1, 0, 0]]
    with pytest.raises(ValueError, match="artist_of_track"):
        top_k(scores, 3, max_per_artist=1)
    with pytest.raises(ValueError, match="max_per_artist"):
        top_k(scores, 3, artist_of_track=artists, max_per_artist=0)


def test_within_cap_equals_loop() -> None:
    rng = np.random.default_rng(0)
    artists = rng.integers(0, 4, (6, 30))
    got = within_cap(artists, cap=2)
    for row in range(6):
        counts: dict[int, int] = {}
        for col, a in enumerate(artists[row]):
            counts[a] = counts.get(a, 0) + 1
            assert got[row, col] == (a == 0 or counts[a] <= 2)
