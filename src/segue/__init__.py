"""segue: next-track music recommendation, from listening logs to ranked playlists."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from segue.columns import Columns, EventTypes

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from segue.api import Recommender, SessionState, UnknownTracksError
    from segue.constraints import Constraints
    from segue.data.concat import concat_logs
    from segue.data.errors import DataError
    from segue.data.event_log import EventLog
    from segue.data.pipeline import PreparedData, SessionOptions, prepare_data
    from segue.data.readers import read_log
    from segue.data.report import Report
    from segue.data.sessions import SkipRule, build_sessions
    from segue.data.splits import Split, global_temporal, held_out_sessions, leave_last_out
    from segue.data.synthetic import generate_listening_log
    from segue.data.vocab import TrackVocab
    from segue.evaluation.evaluate import evaluate
    from segue.export.onnx_export import export_onnx
    from segue.export.runtime import BundleError as BundleError  # not in __all__: see _LAZY
    from segue.io.safe_load import CheckpointError

# The one place the version is written: pyproject.toml reads it at build time (`dynamic`).
__version__ = "0.1.0"

# Imported on first use (PEP 562): `import segue.export.runtime` (the torch-free ONNX runtime)
# and `segue.columns` must not pull in torch and pandas through this file.
_LAZY = {
    "concat_logs": "segue.data.concat",
    "DataError": "segue.data.errors",
    "EventLog": "segue.data.event_log",
    "PreparedData": "segue.data.pipeline",
    "SessionOptions": "segue.data.pipeline",
    "prepare_data": "segue.data.pipeline",
    "read_log": "segue.data.readers",
    "Report": "segue.data.report",
    "SkipRule": "segue.data.sessions",
    "build_sessions": "segue.data.sessions",
    "Split": "segue.data.splits",
    "global_temporal": "segue.data.splits",
    "held_out_sessions": "segue.data.splits",
    "leave_last_out": "segue.data.splits",
    "generate_listening_log": "segue.data.synthetic",
    "TrackVocab": "segue.data.vocab",
    "Constraints": "segue.constraints",
    "Recommender": "segue.api",
    "SessionState": "segue.api",
    "UnknownTracksError": "segue.api",
    "evaluate": "segue.evaluation.evaluate",
    "export_onnx": "segue.export.onnx_export",
    "CheckpointError": "segue.io.safe_load",
    # Needs onnxruntime (extra `onnx`), so it is not in __all__: `from segue import *` must
    # work without the extra. `segue.BundleError` works where onnxruntime is installed.
    "BundleError": "segue.export.runtime",
}

__all__ = [
    "CheckpointError",
    "Columns",
    "Constraints",
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
    "concat_logs",
    "evaluate",
    "export_onnx",
    "generate_listening_log",
    "global_temporal",
    "held_out_sessions",
    "leave_last_out",
    "prepare_data",
    "read_log",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
