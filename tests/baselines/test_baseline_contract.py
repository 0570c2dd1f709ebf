"""Every baseline: shapes, padding, empty histories, batch invariance, input checks."""

import numpy as np
import pytest

from segue.baselines import (
    EASE,
    Baseline,
    ItemCooccurrence,
    MostPopular,
    PersonalPopularity,
    PureSVD,
    SessionKNN,
    Transitions,
)

N_TRACKS = 30


def make_all() -> list[Baseline]:
    return [
        MostPopular(),
        PersonalPopularity(),
        PersonalPopularity(decay=0.7),
        Transitions(),
        SessionKNN(k=3, sample_size=5, window=4),
        ItemCooccurrence(window=2, history_window=3),
        EASE(l2=5.0),
        EASE(l2=5.0, top_items=10),
        PureSVD(n_components=4),
    ]


@pytest.fixture(scope="module")
def data() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, N_TRACKS + 1, size=rng.integers(1, 15)) for _ in range(20)]
    histories = [rng.integers(1, N_TRACKS + 1, size=n) for n in (0, 1, 3, 8, 25)]
    return sequences, histories


@pytest.mark.parametrize("model", make_all(), ids=lambda m: m.name)
def test_scores_cover_the_catalogue_but_never_padding(model: Baseline, data) -> None:
    sequences, histories = data
    scores = model.fit(sequences, N_TRACKS).score(histories)
    assert scores.shape == (len(histories), N_TRACKS + 1)
    assert scores.dtype == np.float32
    assert np.isneginf(scores[:, 0]).all()
    assert np.isfinite(scores[:, 1:]).all()
    assert isinstance(model.name, str) and model.name


@pytest.mark.parametrize("model", make_all(), ids=lambda m: m.name)
def test_scoring_is_batch_invariant(model: Baseline, data) -> None:
    sequences, histories = data
    model.fit(sequences, N_TRACKS)
    together = model.score(histories)
    one_by_one = np.concatenate([model.score([h]) for h in histories])
    np.testing.assert_array_equal(together, one_by_one)
    assert model.score([]).shape == (0, N_TRACKS + 1)


@pytest.mark.parametrize("model", make_all(), ids=lambda m: m.name)
def test_empty_history_falls_back_to_popularity(model: Baseline, data) -> None:
    sequences, _ = data
    scores = model.fit(sequences, N_TRACKS).score([np.array([], dtype=np.int64)])[0]
    counts = np.bincount(np.concatenate(sequences), minlength=N_TRACKS + 1)
    assert np.argmax(scores) == np.argmax(counts[1:]) + 1
    played, unplayed = counts[1:] > 0, counts[1:] == 0
    if unplayed.any():
        assert scores[1:][played].min() > scores[1:][unplayed].max()


@pytest.mark.parametrize("model", make_all(), ids=lambda m: m.name)
def test_bad_inputs_raise(model: Baseline) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        model.score([np.array([1])])
    with pytest.raises(ValueError, match="padding"):
        model.fit([np.array([1, 0, 2])], N_TRACKS)
    model.fit([np.array([1, 2])], N_TRACKS)
    with pytest.raises(ValueError, match="histories"):
        model.score([np.array([N_TRACKS + 1])])
    with pytest.raises(ValueError, match="histories"):
        model.score([np.array([0])])
    with pytest.raises(ValueError, match="integer"):
        model.score([np.array([1.5])])
