"""Data module: readers, validation, sessions, vocabulary, splits and torch datasets.

Everything here is also importable from ``segue`` directly (``segue.read_log``...).
"""

from segue.data.batch import SequenceBatch
from segue.data.concat import concat_logs
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.pipeline import PreparedData, SessionOptions, prepare_data
from segue.data.readers import FORMATS, read_log
from segue.data.report import Report
from segue.data.sequences import PredictionSequences, SideInputs, TrainingSequences
from segue.data.sessions import SkipRule, build_sessions
from segue.data.splits import Split, global_temporal, held_out_sessions, leave_last_out
from segue.data.synthetic import SyntheticConfig, generate_listening_log
from segue.data.vocab import TrackVocab

__all__ = [
    "FORMATS",
    "DataError",
    "EventLog",
    "PredictionSequences",
    "PreparedData",
    "Report",
    "SequenceBatch",
    "SessionOptions",
    "SideInputs",
    "SkipRule",
    "Split",
    "SyntheticConfig",
    "TrackVocab",
    "TrainingSequences",
    "build_sessions",
    "concat_logs",
    "generate_listening_log",
    "global_temporal",
    "held_out_sessions",
    "leave_last_out",
    "prepare_data",
    "read_log",
]
