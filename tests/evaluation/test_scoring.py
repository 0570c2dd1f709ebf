import numpy as np
import pandas as pd

from segue.baselines.most_popular import MostPopular
from segue.data.pipeline import SessionOptions, prepare_data
from segue.evaluation.evaluate import evaluate
from segue.evaluation.scoring import rank_and_list


def tiny_data():
    """Ten listeners over a catalogue of 8 tracks: smaller than the usual cut-offs."""
    rng = np.random.default_rng(0)
    log = pd.DataFrame(
        {
            "user_id": rng.integers(0, 10, 200).astype(str),
            "track_id": rng.integers(0, 8, 200).astype(str),
            "timestamp": pd.to_datetime(np.sort(rng.integers(0, 10**6, 200)), unit="s", utc=True),
        }
    )
    return prepare_data(log, sessions=SessionOptions(skip_min_ms=None))


def test_lists_longer_than_the_catalogue_trail_with_empty_slots() -> None:
    data = tiny_data()
    n_tracks = data.vocab.n_tracks
    assert n_tracks < 10
    pop = MostPopular().fit(data.training_sequences(), n_tracks)
    ranked = rank_and_list(pop, data.test, k=10)
    assert ranked.top_k.shape == (len(data.test), 10)
    assert (ranked.top_k[:, n_tracks:] == 0).all()  # no more items than the catalogue holds
    assert sorted(ranked.top_k[0, :n_tracks]) == list(range(1, n_tracks + 1))


def test_evaluate_takes_cut_offs_beyond_the_catalogue() -> None:
    data = tiny_data()
    pop = MostPopular().fit(data.training_sequences(), data.vocab.n_tracks)
    summary = evaluate(pop, data, ks=(5, 10)).summary
    known = data.test.targets > 0
    assert summary.loc[0, "hr@10"] == known.mean()  # every known target is in a 10-long list
    assert summary.loc[0, "coverage@10"] == 1.0
