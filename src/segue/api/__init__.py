"""The inference API: ranked next tracks, playlists, similar tracks and live sessions.

Example::

    from segue.api import Constraints, Recommender

    rec = Recommender.load("outputs/best.pt")
    rec.recommend(["track-1", "track-2"], k=10, block=["track-3"], max_per_artist=2)
    rules = Constraints(exclude_artists=["Artist A"], no_repeat_window=20)
    rec.continue_playlist(["track-1"], n=30, constraints=rules)
"""

from segue.api.history import ASSUMED_GAP_SECONDS, UnknownTracksError
from segue.api.recommender import Recommender
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS, ColdStartWarning
from segue.api.session_state import SessionState
from segue.constraints import Constraints

__all__ = [
    "ASSUMED_GAP_SECONDS",
    "COLD_START",
    "EXHAUSTED",
    "UNKNOWN_IDS",
    "ColdStartWarning",
    "Constraints",
    "Recommender",
    "SessionState",
    "UnknownTracksError",
]
