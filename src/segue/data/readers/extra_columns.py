"""Names of the extra columns readers keep beside the canonical ones (see ``segue.columns``)."""

from __future__ import annotations


class Extra:
    """Extra event-log columns written by the readers of personal exports.

    ``track_key`` is the normalised ``artist|track`` every music export can build (see
    :func:`segue.data.readers.track_key.track_key`); when a read merges sources whose own ids
    differ, ``track_id`` becomes the key and the source's own id is kept in
    ``source_track_id``. ``source`` names the format each row was read from.
    """

    TRACK_KEY = "track_key"
    SOURCE_TRACK_ID = "source_track_id"
    SOURCE = "source"
    TRACK_MBID = "track_mbid"
    ARTIST_MBID = "artist_mbid"
    ALBUM_MBID = "album_mbid"
    MBIDS: tuple[str, ...] = (TRACK_MBID, ARTIST_MBID, ALBUM_MBID)
