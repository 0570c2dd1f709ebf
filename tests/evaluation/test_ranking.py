import numpy as np
import pytest
import torch

from segue.evaluation.ranking import MISS, target_ranks, top_k


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


def test_top_k_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        top_k(np.zeros((1, 4)), 4)
