"""One id per song across sources: the normalised ``artist|track`` key as ``track_id``.

Spotify extended history keys tracks by URI, Last.fm-1K and ListenBrainz by MusicBrainz id,
account data and scrobble tables by name. Read together, one song would get several ids; with
name keys it gets one, and the source's own id stays in ``source_track_id``. Rows without a
name (a ListenBrainz listen with only an MBID) keep their source id.
"""

from __future__ import annotations

import pandas as pd

from segue.columns import Columns
from segue.data.readers.extra_columns import Extra

TRACK_IDS = ("auto", "source", "name")


def use_name_keys(events: pd.DataFrame) -> pd.DataFrame:
    """``track_id`` as the name key where there is one; the source's id in ``source_track_id``.

    >>> ev = pd.DataFrame({"track_id": ["spotify:track:1", "x|y"], "track_key": ["a|b", None]})
    >>> use_name_keys(ev)[["track_id", "source_track_id"]].values.tolist()
    [['a|b', 'spotify:track:1'], ['x|y', 'x|y']]
    """
    events = events.copy()
    source = events[Columns.TRACK].astype("string")
    if Extra.TRACK_KEY in events:
        key = events[Extra.TRACK_KEY].astype("string")
    else:
        key = pd.Series(pd.NA, index=events.index, dtype="string")
    events[Columns.TRACK] = key.fillna(source)
    if Extra.SOURCE_TRACK_ID in events:  # already name-keyed: its source ids stay
        source = events[Extra.SOURCE_TRACK_ID].astype("string").fillna(source)
    events[Extra.SOURCE_TRACK_ID] = source
    events[Extra.TRACK_KEY] = events[Columns.TRACK]
    return events
