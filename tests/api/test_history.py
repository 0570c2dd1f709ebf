"""Histories (id lists and event tables) into model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api.history import (
    ASSUMED_GAP_SECONDS,
    PLAY,
    SKIP,
    UnknownTracksError,
    encode_history,
    history_batch,
)
from segue.data.batch import SequenceBatch
from segue.data.features import gap_buckets
from tests.api.conftest import MAX_LEN, ids, tiny_recommender


@pytest.fixture(scope="module")
def catalogue():
    return tiny_recommender().catalogue


def test_id_list_drops_and_reports_unknown_ids(catalogue) -> None:
    encoded = encode_history(["t3", "nope", "t5", 7], catalogue)
    assert encoded.tracks.tolist() == [4, 6]
    assert encoded.unknown_ids == ["nope", "7"]
    assert encoded.event_types.tolist() == [PLAY, PLAY]
    assert encoded.gap_buckets[0] == 1  # no earlier event


def test_unknown_ids_raise_on_request(catalogue) -> None:
    with pytest.raises(UnknownTracksError, match="nope"):
        encode_history(["t3", "nope"], catalogue, on_unknown="raise")
    with pytest.raises(ValueError, match="on_unknown"):
        encode_history(["t3"], catalogue, on_unknown="skip")  # type: ignore[arg-type]
    # One string is one id, never its letters.
    assert (
        encode_history("t3", catalogue).tracks.tolist()
        == encode_history(["t3"], catalogue).tracks.tolist()
    )
    with pytest.raises(TypeError, match="history must be a collection"):
        encode_history({"t3": 1}, catalogue)  # type: ignore[arg-type]


def test_event_table_gives_skips_event_types_and_gaps(catalogue) -> None:
    events = pd.DataFrame(
        {
            "track_id": ["t2", "t1", "zz", "t3", "t4"],
            "timestamp": pd.to_datetime([100, 0, 130, 400, 4000], unit="s", utc=True),
            "skipped": [True, False, False, None, False],
            "event_type": ["play", "play", "play", "like", None],
        }
    )
    encoded = encode_history(events, catalogue)
    # Sorted by time; the unknown track is dropped but still counts for the gaps.
    assert encoded.tracks.tolist() == [2, 3, 4, 5]
    assert encoded.unknown_ids == ["zz"]
    assert encoded.event_types.tolist() == [PLAY, SKIP, 3, PLAY]
    expected = gap_buckets(np.array([np.nan, 100, 270, 3600]))
    assert encoded.gap_buckets.tolist() == expected.tolist()
    assert encoded.last_timestamp == 4000.0


def test_is_skip_column_wins_and_ms_played_applies_the_default_rule(catalogue) -> None:
    flagged = pd.DataFrame({"track_id": ["t1", "t2"], "is_skip": [False, True]})
    assert encode_history(flagged, catalogue).event_types.tolist() == [PLAY, SKIP]
    short = pd.DataFrame({"track_id": ["t1", "t2"], "ms_played": [5_000, 200_000]})
    assert encode_history(short, catalogue).event_types.tolist() == [SKIP, PLAY]


def test_batch_is_left_padded_and_keeps_the_last_max_len_events() -> None:
    rec = tiny_recommender("side")
    long = encode_history(ids(*range(12)), rec.catalogue)
    short = encode_history(ids(5), rec.catalogue)
    batch = history_batch([long, short], rec.catalogue, rec.model.config)
    assert batch.tracks.tolist() == [list(range(5, 13)), [0] * 7 + [6]]
    assert batch.artists is not None and batch.artists[1].tolist() == [0] * 7 + [1]
    assert batch.event_types is not None and batch.gap_buckets is not None


def test_masked_model_reads_the_same_batch_and_predicts_at_a_mask_token() -> None:
    rec = tiny_recommender("bert4rec")
    encoded = encode_history(ids(*range(12)), rec.catalogue)
    batch = history_batch([encoded], rec.catalogue, rec.model.config)
    assert batch.tracks[0].tolist() == list(range(5, 13))  # as for a causal model
    masked = SequenceBatch(torch.tensor([[*range(6, 13), rec.model.config.mask_token]]))
    assert masked.tracks.shape == (1, MAX_LEN)
    with torch.no_grad():
        expected = rec.model.eval()(masked)[:, -1]  # the [MASK] after the last MAX_LEN - 1
        torch.testing.assert_close(rec.model.next_hidden(batch), expected)


def test_leading_unknown_ids_count_as_earlier_events_in_every_form(catalogue) -> None:
    """An id list, the same ids as an event table and the same ids added to a session give the
    same gaps: an unknown id before the first known one is an earlier event (bucket of the
    assumed gap, not 1, "no earlier event"), as the module docstring and training say."""
    history = ["nope", "t3", "t5"]
    listed = encode_history(history, catalogue)
    table = encode_history(pd.DataFrame({"track_id": history}), catalogue)
    assumed = gap_buckets(np.array([ASSUMED_GAP_SECONDS]))[0]
    assert listed.gap_buckets.tolist() == table.gap_buckets.tolist() == [assumed, assumed]
    assert encode_history(["t3", "nope", "t5"], catalogue).gap_buckets.tolist() == [1, assumed]


def test_a_session_fed_one_event_at_a_time_equals_its_whole_history_after_an_unknown_id() -> None:
    rec = tiny_recommender("side")  # reads gap buckets
    history = ["nope", "t3", "t5"]
    state = rec.session()
    for track in history:
        state.add(track)
    at_once = rec.session(history)
    torch.testing.assert_close(state.scores(), at_once.scores())
    table = rec.session(pd.DataFrame({"track_id": history}))
    torch.testing.assert_close(state.scores(), table.scores())
