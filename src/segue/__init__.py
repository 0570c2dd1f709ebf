"""segue: next-track music recommendation, from listening logs to ranked playlists."""

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.report import Report

__version__ = "0.1.0"

__all__ = ["Columns", "DataError", "EventLog", "EventTypes", "Report", "__version__"]
