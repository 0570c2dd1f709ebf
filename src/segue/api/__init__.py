"""The inference API: ranked next tracks, playlists, similar tracks and live sessions.

Example::

    from segue.api import Recommender

    rec = Recommender.load("outputs/best.pt")
    rec.recommend(["track-1", "track-2"], k=10)
"""

from segue.api.history import ASSUMED_GAP_SECONDS, UnknownTracksError
from segue.api.recommender import Recommender
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS, ColdStartWarning
from segue.api.session_state import SessionState

__all__ = [
    "ASSUMED_GAP_SECONDS",
    "COLD_START",
    "EXHAUSTED",
    "UNKNOWN_IDS",
    "ColdStartWarning",
    "Recommender",
    "SessionState",
    "UnknownTracksError",
]
