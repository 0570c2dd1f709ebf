import numpy as np
import pytest

from segue.baselines import EASE, PersonalPopularity
from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.sequences import PredictionSequences
from segue.data.synthetic import generate_listening_log
from segue.evaluation.ranking_metrics import ndcg
from segue.evaluation.scoring import rank_points
from segue.evaluation.selection import choose_on_validation


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=30, n_events=1500, seed=2)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="global_temporal",
        split_options={"test_days": 7, "validation_days": 7},  # ~50 validation points
        max_len=12,
    )


def test_keeps_the_best_validation_value_and_reports_every_candidate(data):
    sequences, n = data.training_sequences("user"), data.vocab.n_tracks
    values = [1.0, 50.0, 5000.0]
    choice = choose_on_validation(lambda l2: EASE(l2=l2), values, sequences, n, data.validation)
    expected = [
        ndcg(rank_points(EASE(l2=v).fit(sequences, n), data.validation), 10) for v in values
    ]
    assert [v for v, _ in choice.scores] == values
    np.testing.assert_allclose([s for _, s in choice.scores], expected)
    assert choice.value == values[int(np.argmax(expected))]
    assert choice.metric == "ndcg@10"


def test_ties_keep_the_first_candidate(data):
    sequences, n = data.training_sequences("user"), data.vocab.n_tracks
    # The decay of a play count does not change which tracks were played: equal rankings for
    # any decay this close to 1 on histories this short.
    choice = choose_on_validation(
        lambda d: PersonalPopularity(decay=d), [1.0, 1.0], sequences, n, data.validation
    )
    assert choice.scores[0][1] == choice.scores[1][1] and choice.value == 1.0


def test_nothing_to_choose_on_is_an_error(data):
    sequences, n = data.training_sequences("user"), data.vocab.n_tracks
    with pytest.raises(ValueError, match="at least one"):
        choose_on_validation(lambda l2: EASE(l2=l2), [], sequences, n, data.validation)
    v = data.validation
    empty = PredictionSequences(v.encoded, v.rows[:0], v.targets[:0], v.max_len, v.side)
    with pytest.raises(ValueError, match="no validation points"):
        choose_on_validation(lambda l2: EASE(l2=l2), [1.0], sequences, n, empty)
