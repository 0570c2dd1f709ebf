"""A listener's history, as given to the API, turned into the model's per-position inputs.

A history is either a list of external track ids (oldest first), or an event DataFrame with a
``track_id`` column and optionally ``timestamp``, ``is_skip`` / ``skipped`` / ``ms_played`` and
``event_type``. Side inputs are derived as in training (:mod:`segue.data.encoding`):

* event type: the source ``event_type`` (missing = play), and ``skip`` for a play that is a
  skip: ``is_skip`` when given, else the default :class:`segue.data.sessions.SkipRule`
  (``skipped`` flag, or under 30 s of ``ms_played``);
* gap bucket: seconds since the previous event (unknown tracks included, as in training); the
  first event gets bucket 1 ("no earlier event"). Without timestamps, events are assumed to
  follow each other back to back, :data:`ASSUMED_GAP_SECONDS` apart;
* artist: looked up from the track when the batch is built.

Events whose track is not in the vocabulary cannot be model inputs: they are dropped and their
ids reported, or raise, as ``on_unknown`` says.
"""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.columns import Columns, EventTypes
from segue.constraints import id_list
from segue.data.batch import SequenceBatch
from segue.data.features import gap_buckets
from segue.data.sequences import SideInputs
from segue.data.sessions import SkipRule, skip_mask
from segue.export.request_bounds import MAX_EPOCH_SECONDS
from segue.models.config import ModelConfig
from segue.side_inputs import enabled_side_inputs

History = Sequence[object] | pd.DataFrame | None
"""Track ids oldest first, or an event table; None or empty means no history (cold start)."""

OnUnknown = Literal["ignore", "raise"]

ASSUMED_GAP_SECONDS = 180.0
"""Gap assumed between events without timestamps: one typical track, back-to-back listening."""

EVENT_TYPES = EventTypes.VOCAB[1:]
"""Event types the API accepts (padding excluded)."""

PLAY = EventTypes.index(EventTypes.PLAY)
SKIP = EventTypes.index(EventTypes.SKIP)


class UnknownTracksError(KeyError):
    """Raised with ``on_unknown="raise"`` when a history holds ids not in the vocabulary."""


@dataclass
class EncodedHistory:
    """The known events of one history, oldest first.

    Args:
        tracks: Track indices, (n,) int64.
        event_types: :class:`EventTypes` indices, (n,) int64.
        gap_buckets: Time-gap buckets, (n,) int64.
        unknown_ids: Ids dropped because the vocabulary does not know them.
        last_timestamp: Seconds since the epoch of the last event (known or not), or None.
    """

    tracks: np.ndarray
    event_types: np.ndarray
    gap_buckets: np.ndarray
    unknown_ids: list[str] = field(default_factory=list)
    last_timestamp: float | None = None

    def __len__(self) -> int:
        return len(self.tracks)

    def tail(self, n: int) -> EncodedHistory:
        """The last ``n`` events (all of them when there are fewer)."""
        start = max(0, len(self) - n)
        return EncodedHistory(
            self.tracks[start:],
            self.event_types[start:],
            self.gap_buckets[start:],
            self.unknown_ids,
            self.last_timestamp,
        )


def empty_history() -> EncodedHistory:
    """A history with no event."""
    none = np.zeros(0, dtype=np.int64)
    return EncodedHistory(none, none, none)


def encode_history(
    history: History, catalogue: Catalogue, on_unknown: OnUnknown = "ignore"
) -> EncodedHistory:
    """The model inputs of ``history``; see the module docstring for the rules.

    Raises:
        UnknownTracksError: If ``on_unknown="raise"`` and an id is not in the vocabulary.
        ValueError: If ``on_unknown`` is neither value, an event table has no ``track_id``, a
            timestamp cannot be read, an event type is not one of :data:`EVENT_TYPES`, a
            ``skipped`` / ``is_skip`` value is not true / false / 0 / 1 / missing, or an
            ``ms_played`` value is not a number (naming the column and row).
        TypeError: If ``history`` is neither a collection of ids nor an event table, or is a
            set (it has no listening order).

    A single string (or number) is a history of one id, never a sequence of its characters.
    """
    if on_unknown not in ("ignore", "raise"):
        raise ValueError(f"on_unknown must be 'ignore' or 'raise', got {on_unknown!r}")
    if history is None:
        return empty_history()
    if isinstance(history, set | frozenset):  # hash order, which changes between processes
        raise TypeError(
            "history must be in listening order (a list, tuple or array, oldest first), "
            f"got a {type(history).__name__}"
        )
    if isinstance(history, pd.DataFrame):
        encoded = _encode_events(history, catalogue)
    else:
        ids = id_list("history", history)
        tracks, unknown = catalogue.lookup(ids)
        n = len(tracks)
        # An unknown id before the first known one is still an earlier event (as in an event
        # table and a session's add): then no event is "the first".
        first_known = bool(ids) and str(ids[0]) in catalogue.index
        encoded = EncodedHistory(
            tracks=tracks,
            event_types=np.full(n, PLAY, dtype=np.int64),
            gap_buckets=_assumed_gaps(n, starts=first_known),
            unknown_ids=unknown,
        )
    if encoded.unknown_ids and on_unknown == "raise":
        shown = ", ".join(encoded.unknown_ids[:5])
        raise UnknownTracksError(f"{len(encoded.unknown_ids)} unknown track ids: {shown}")
    return encoded


def _assumed_gaps(n: int, starts: bool = True) -> np.ndarray:
    """Gap buckets of ``n`` back-to-back events; ``starts``: the first of them is the
    history's first event (bucket 1, no earlier one), not one after dropped unknown ids."""
    gaps = np.full(n, ASSUMED_GAP_SECONDS)
    if starts:
        gaps[:1] = np.nan  # the first event has no earlier one
    return gap_buckets(gaps)


def _encode_events(events: pd.DataFrame, catalogue: Catalogue) -> EncodedHistory:
    if Columns.TRACK not in events:
        raise ValueError(f"an event table needs a {Columns.TRACK!r} column")
    for column in (Columns.IS_SKIP, Columns.SKIPPED):  # "no" was read as true: a skip
        if column in events:
            _check_flags(events[column], column)
    if Columns.MS_PLAYED in events:
        _check_numbers(events[Columns.MS_PLAYED], Columns.MS_PLAYED)
    times = _seconds(events[Columns.TIMESTAMP]) if Columns.TIMESTAMP in events else None
    if times is not None:
        order = np.argsort(times, kind="stable")  # keep the given order among equal times
        events, times = events.iloc[order], times[order]
    ids = events[Columns.TRACK].to_numpy(dtype=object)
    tracks_all = np.fromiter(
        (catalogue.index.get(t if isinstance(t, str) else str(t), 0) for t in ids),
        dtype=np.int64,
        count=len(ids),
    )
    known = tracks_all > 0
    if times is None:
        gaps = _assumed_gaps(len(events))
    else:
        gaps = gap_buckets(np.r_[np.nan, np.diff(times)])  # gaps over every event, as in training
    return EncodedHistory(
        tracks=tracks_all[known],
        event_types=_event_types(events)[known],
        gap_buckets=gaps[known],
        unknown_ids=[str(t) for t in ids[~known]],
        last_timestamp=float(times[-1]) if times is not None and len(times) else None,
    )


def event_type_index(event_type: object, where: str = "event_type") -> int:
    """Model index of an event type given to the API; a name outside the vocabulary is an error.

    Training maps unknown source types to ``other``; a caller of the API names the type
    itself, so a typo ("plya") is refused rather than silently read as ``other``.

    >>> event_type_index("like")
    3
    >>> event_type_index("plya")
    Traceback (most recent call last):
    ValueError: event_type must be one of ['play', 'skip', 'like', 'dislike', 'other'], got 'plya'
    """
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise ValueError(f"{where} must be one of {list(EVENT_TYPES)}, got {event_type!r}")
    return EventTypes.index(event_type)


def _event_types(events: pd.DataFrame) -> np.ndarray:
    """Event-type index per row: the source type, or skip for a play that is a skip."""
    n = len(events)
    if Columns.EVENT_TYPE in events:
        kinds = events[Columns.EVENT_TYPE].to_numpy(dtype=object)
        column = f"column {Columns.EVENT_TYPE!r}"
        types = np.array(
            [PLAY if _missing(k) else event_type_index(k, column) for k in kinds], dtype=np.int64
        )
    else:
        types = np.full(n, PLAY)
    if Columns.IS_SKIP in events:
        is_skip = events[Columns.IS_SKIP].astype(object).fillna(False).to_numpy(dtype=bool)
    else:
        is_skip = skip_mask(events, SkipRule())
    return np.where(is_skip, SKIP, types).astype(np.int64)


def _check_flags(values: pd.Series, column: str) -> None:
    """A true / false column: booleans, 0 / 1 or missing (false); anything else names its row."""
    if pd.api.types.is_bool_dtype(values):
        return
    for row, value in enumerate(values.to_numpy(dtype=object)):
        if not (_missing(value) or isinstance(value, bool | np.bool_) or _zero_or_one(value)):
            raise ValueError(f"column {column!r}, row {row}: {value!r} is not true or false")


def _zero_or_one(value: object) -> bool:
    return isinstance(value, numbers.Real) and value in (0, 1)


def _check_numbers(values: pd.Series, column: str) -> None:
    """A column of numbers (or missing values); anything else names its row."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return
    for row, value in enumerate(values.to_numpy(dtype=object)):
        if not _missing(value) and (
            isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)
        ):
            raise ValueError(f"column {column!r}, row {row}: {value!r} is not a number")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _seconds(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch, float64: numbers are taken as seconds, anything else parsed.

    Raises:
        ValueError: Naming the ``timestamp`` column and the first value that cannot be read.
    """
    where = f"column {Columns.TIMESTAMP!r}"
    if pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{where} holds true / false values, not times")
    if pd.api.types.is_numeric_dtype(values):
        seconds = values.to_numpy(dtype=np.float64)
        huge = np.flatnonzero(np.abs(seconds) > MAX_EPOCH_SECONDS)
        if len(huge):
            raise ValueError(
                f"{where}, row {huge[0]}: {values.iloc[huge[0]]!r} is not seconds since the "
                "epoch (after the year 2286): milliseconds? divide by 1000, or pass datetimes"
            )
    else:
        try:
            stamps = pd.to_datetime(values, utc=True)
        except (ValueError, TypeError, OverflowError) as error:
            raise ValueError(f"{where}: cannot read the times ({error})") from None
        seconds = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
        seconds[stamps.isna().to_numpy()] = np.nan
    bad = np.flatnonzero(~np.isfinite(seconds))
    if len(bad):
        raise ValueError(
            f"{where}, row {bad[0]}: missing or unreadable time {values.iloc[bad[0]]!r} "
            "(give every event a time, or leave the column out)"
        )
    return seconds


def timestamp_seconds(timestamp: object) -> float | None:
    """One timestamp (datetime, string, or seconds since the epoch) in seconds, or None.

    >>> timestamp_seconds("1970-01-01T00:01:00Z"), timestamp_seconds(60)
    (60.0, 60.0)
    >>> timestamp_seconds("garbage")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: timestamp must be a datetime, a date string or seconds since the epoch, ...
    """
    if timestamp is None:
        return None
    wanted = "timestamp must be a datetime, a date string or seconds since the epoch"
    if isinstance(timestamp, bool | np.bool_):
        raise TypeError(f"{wanted}, got {timestamp!r}")
    if isinstance(timestamp, numbers.Real):
        seconds = float(timestamp)
    elif isinstance(timestamp, str | datetime.datetime | datetime.date | np.datetime64):
        try:
            stamp = pd.Timestamp(timestamp)
        except (ValueError, TypeError, OverflowError) as error:
            raise ValueError(f"{wanted}, got {timestamp!r} ({error})") from None
        if pd.isna(stamp):
            raise ValueError(f"{wanted}, got {timestamp!r}")
        seconds = stamp.timestamp()
    else:
        raise TypeError(f"{wanted}, got {type(timestamp).__name__} {timestamp!r}")
    if not np.isfinite(seconds):
        raise ValueError(f"{wanted}, got {timestamp!r}")
    if abs(seconds) > MAX_EPOCH_SECONDS:
        raise ValueError(
            f"{wanted}, got {timestamp!r}: after the year 2286 as seconds (milliseconds? "
            "divide by 1000)"
        )
    return seconds


def side_inputs(config: ModelConfig) -> SideInputs:
    """The side inputs the model reads, from its config."""
    return SideInputs.of_model(config)


def history_batch(
    histories: Sequence[EncodedHistory], catalogue: Catalogue, config: ModelConfig
) -> SequenceBatch:
    """The histories as one left-padded batch of their last ``max_len`` events, with the side
    inputs the model reads. :meth:`TrackTransformer.next_hidden` reads it whatever the
    objective (a masked model appends its [MASK] there). The batch is as wide as the longest
    (cut) history, so a single short request pays for its own length only.

    Returns:
        A batch of (B, T) tensors on the CPU, T <= max_len.
    """
    cut = [h.tail(config.max_len) for h in histories]
    width = max((len(h) for h in cut), default=0)

    def left_padded(rows: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(rows), width), dtype=np.int64)  # (B, T)
        for row, values in enumerate(rows):
            out[row, width - len(values) :] = values
        return out

    tracks = left_padded([h.tracks for h in cut])  # (B, T)
    tensors = {"tracks": torch.from_numpy(tracks)}
    for side in enabled_side_inputs(config):
        # A per-track input is the catalogue's (the artist); the others are the events' own.
        values = (
            catalogue.artist_of_track[tracks]
            if side.per_track
            else left_padded([getattr(h, side.name) for h in cut])
        )
        tensors[side.name] = torch.from_numpy(values)
    return SequenceBatch(**tensors)
