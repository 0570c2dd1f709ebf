"""The one vocabulary of column names and event types used across segue.

Every reader produces these canonical columns; every later stage reads them by these constants,
so a rename happens in exactly one place.
"""

from __future__ import annotations


class Columns:
    """Canonical column names of an event log and of the tables derived from it."""

    USER = "user_id"
    TRACK = "track_id"
    TIMESTAMP = "timestamp"
    ARTIST = "artist"
    ALBUM = "album"
    TRACK_NAME = "track_name"
    MS_PLAYED = "ms_played"
    DURATION_MS = "duration_ms"
    SKIPPED = "skipped"
    EVENT_TYPE = "event_type"
    IS_ORGANIC = "is_organic"

    # Added by sessionisation and splits.
    SESSION = "session_id"
    POSITION = "position"
    IS_SKIP = "is_skip"
    FOLD = "fold"

    # Recommendation tables: [query, track_id, score, rank].
    QUERY = "query"
    SCORE = "score"
    RANK = "rank"

    REQUIRED: tuple[str, ...] = (USER, TRACK, TIMESTAMP)
    OPTIONAL: tuple[str, ...] = (
        ARTIST,
        ALBUM,
        TRACK_NAME,
        MS_PLAYED,
        DURATION_MS,
        SKIPPED,
        EVENT_TYPE,
        IS_ORGANIC,
    )
    CANONICAL: tuple[str, ...] = REQUIRED + OPTIONAL


class EventTypes:
    """Values of the ``event_type`` column and their indices as model side inputs.

    Index 0 is padding. ``skip`` is not a source event type: sessionisation turns a ``play`` that
    meets the skip rule into ``skip`` for the model's per-position input.
    """

    PLAY = "play"
    SKIP = "skip"
    LIKE = "like"
    DISLIKE = "dislike"
    OTHER = "other"

    VOCAB: tuple[str, ...] = ("<pad>", PLAY, SKIP, LIKE, DISLIKE, OTHER)

    @classmethod
    def index(cls, name: str) -> int:
        """Index of an event type for the model; unknown names map to ``other``.

        >>> EventTypes.index("skip"), EventTypes.index("share")
        (2, 5)
        """
        try:
            return cls.VOCAB.index(name)
        except ValueError:
            return cls.VOCAB.index(cls.OTHER)


# Folds written by the splits.
TRAIN, VALIDATION, TEST = "train", "validation", "test"
