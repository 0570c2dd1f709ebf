"""segue: next-track music recommendation, from listening logs to ranked playlists."""

from segue.api import Recommender, SessionState, UnknownTracksError
from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.pipeline import PreparedData, SessionOptions, prepare_data
from segue.data.readers import read_log
from segue.data.report import Report
from segue.data.sessions import SkipRule, build_sessions
from segue.data.splits import Split, global_temporal, held_out_sessions, leave_last_out
from segue.data.synthetic import generate_listening_log
from segue.data.vocab import TrackVocab

__version__ = "0.1.0"

__all__ = [
    "Columns",
    "DataError",
    "EventLog",
    "EventTypes",
    "PreparedData",
    "Recommender",
    "Report",
    "SessionOptions",
    "SessionState",
    "SkipRule",
    "Split",
    "TrackVocab",
    "UnknownTracksError",
    "__version__",
    "build_sessions",
    "generate_listening_log",
    "global_temporal",
    "held_out_sessions",
    "leave_last_out",
    "prepare_data",
    "read_log",
]
