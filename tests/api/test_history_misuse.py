"""Histories that once gave a silent wrong answer: flag and number columns of the wrong kind,
bytes ids inside a list, and an unordered set of ids."""

from __future__ import annotations

import pandas as pd
import pytest

from segue.api.history import PLAY, SKIP, encode_history
from tests.api.conftest import tiny_recommender


@pytest.fixture(scope="module")
def catalogue():
    return tiny_recommender().catalogue


@pytest.mark.parametrize("column", ["is_skip", "skipped"])
def test_a_flag_column_of_words_is_refused(column, catalogue) -> None:
    """``"no"`` was read as true: every event of the history became a skip."""
    events = pd.DataFrame({"track_id": ["t1", "t2"], column: ["yes", "no"]})
    with pytest.raises(ValueError, match=f"column '{column}', row 0: 'yes' is not true or false"):
        encode_history(events, catalogue)


@pytest.mark.parametrize("column", ["is_skip", "skipped"])
def test_flag_columns_take_booleans_zero_one_and_missing(column, catalogue) -> None:
    events = pd.DataFrame({"track_id": ["t1", "t2", "t3"], column: [0, 1, None]})
    assert encode_history(events, catalogue).event_types.tolist() == [PLAY, SKIP, PLAY]
    with pytest.raises(ValueError, match=f"column '{column}', row 0: 2 is not true or false"):
        encode_history(pd.DataFrame({"track_id": ["t1"], column: [2]}), catalogue)


def test_ms_played_that_is_not_a_number_names_the_column(catalogue) -> None:
    events = pd.DataFrame({"track_id": ["t1", "t2"], "ms_played": [40_000, "a"]})
    with pytest.raises(ValueError, match="column 'ms_played', row 1: 'a' is not a number"):
        encode_history(events, catalogue)


def test_bytes_ids_inside_a_list_are_ids_as_one_bytes_id_is(catalogue) -> None:
    """``[b"t1"]`` was the unknown id ``"b't1'"``: a cold start, or an empty ``allow``."""
    assert encode_history([b"t1", "t2"], catalogue).tracks.tolist() == [2, 3]
    rec = tiny_recommender()
    listed = rec.recommend(["t1"], k=3, allow=[b"t5", b"t6"])
    assert sorted(listed.track_id) == ["t5", "t6"]


@pytest.mark.parametrize("unordered", [{"t1", "t2"}, frozenset({"t1", "t2"})])
def test_a_set_is_no_history(unordered, catalogue) -> None:
    """A set has no listening order: the model read it in hash order, which changes between
    processes."""
    with pytest.raises(TypeError, match="history must be in listening order"):
        encode_history(unordered, catalogue)
