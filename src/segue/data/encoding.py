"""Events turned into aligned integer arrays the model reads: track, artist, event type, gap.

Rows whose track is not in the vocabulary are left out of these arrays (they cannot be model
inputs); ``rank_of_row`` maps every row of the event table to its place among the kept rows, so
a prediction point at any row still finds its history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.features import gap_buckets
from segue.data.vocab import TrackVocab


@dataclass
class EncodedEvents:
    """Integer features of the known-track rows of an event table (sorted by user, time).

    Args:
        tracks: Vocabulary index per kept row, (M,).
        artists: Artist index per kept row (0 = unknown), (M,).
        event_types: :class:`EventTypes` index per kept row, (M,).
        gap_buckets: Time-gap bucket per kept row, (M,).
        is_skip: Whether the kept row is a skipped play, (M,).
        group_start: Index (into kept rows) of the first kept row of the row's group: the user,
            or the session when encoded per session, (M,).
        rank_of_row: For each of the N original rows, how many kept rows come before it, (N,).
        group_start_of_row: For each original row, ``group_start`` in kept-row units, (N,).
        tie_group: Id of the run of same-user, same-timestamp kept rows a row belongs to,
            non-decreasing, (M,). Rows of one run have no true order among them.
    """

    tracks: np.ndarray
    artists: np.ndarray
    event_types: np.ndarray
    gap_buckets: np.ndarray
    is_skip: np.ndarray
    group_start: np.ndarray
    rank_of_row: np.ndarray
    group_start_of_row: np.ndarray
    tie_group: np.ndarray

    def __len__(self) -> int:
        return len(self.tracks)


def event_type_indices(events: pd.DataFrame) -> np.ndarray:
    """Model event-type index per row: skip where ``is_skip``, else the source event type."""
    n = len(events)
    if Columns.EVENT_TYPE in events:
        kinds = (
            events[Columns.EVENT_TYPE]
            .astype(object)
            .where(events[Columns.EVENT_TYPE].notna(), EventTypes.PLAY)
        )
        codes, uniques = pd.factorize(kinds)
        lookup = np.array([EventTypes.index(str(u)) for u in uniques], dtype=np.int64)
        types = lookup[codes] if len(uniques) else np.full(n, EventTypes.index(EventTypes.PLAY))
    else:
        types = np.full(n, EventTypes.index(EventTypes.PLAY), dtype=np.int64)
    if Columns.IS_SKIP in events:
        types = np.where(events[Columns.IS_SKIP].to_numpy(dtype=bool), 2, types)
    return types.astype(np.int64)


def _group_codes(events: pd.DataFrame, by: str) -> np.ndarray:
    column = Columns.USER if by == "user" else Columns.SESSION
    if by not in ("user", "session"):
        raise ValueError(f"by must be 'user' or 'session', got {by!r}")
    values = events[column].to_numpy()
    new_group = np.r_[True, values[1:] != values[:-1]]
    return np.cumsum(new_group) - 1


def encode_events(events: pd.DataFrame, vocab: TrackVocab, by: str = "user") -> EncodedEvents:
    """Encode an event table sorted by user then time (as splits and sessions leave it)."""
    tracks_all = vocab.encode(events[Columns.TRACK].to_numpy())
    known = tracks_all > 0
    groups = _group_codes(events, by)
    times = events[Columns.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    gaps = np.r_[np.nan, np.diff(times) / 1e9]
    user_values = events[Columns.USER].to_numpy()
    new_user = np.r_[True, user_values[1:] != user_values[:-1]]
    gaps[new_user] = np.nan  # a user's first event has no earlier event

    rank_of_row: np.ndarray = np.cumsum(known) - known
    first_row_of_group = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    group_start_of_row: np.ndarray = np.repeat(
        rank_of_row[first_row_of_group], np.diff(np.r_[first_row_of_group, len(groups)])
    )
    is_skip = (
        events[Columns.IS_SKIP].to_numpy(dtype=bool)
        if Columns.IS_SKIP in events
        else np.zeros(len(events), dtype=bool)
    )
    kept_times, kept_users = times[known], np.cumsum(new_user)[known]
    new_tie = np.r_[True, (kept_times[1:] != kept_times[:-1]) | (np.diff(kept_users) != 0)]
    return EncodedEvents(
        tracks=tracks_all[known],
        artists=vocab.artist_index(tracks_all[known]),
        event_types=event_type_indices(events)[known],
        gap_buckets=gap_buckets(gaps[known]),
        is_skip=is_skip[known],
        group_start=group_start_of_row[known],
        rank_of_row=rank_of_row.astype(np.int64),
        group_start_of_row=group_start_of_row.astype(np.int64),
        tie_group=np.cumsum(new_tie) - 1,
    )
