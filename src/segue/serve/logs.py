"""Structured logs: one JSON object per line, carrying the request id of the request served.

The request id comes from the client's ``X-Request-ID`` (when it is a short plain token) or is
generated, is echoed in the response header and error bodies, and is attached to every log
line written while the request is served (a context variable, so it follows the request
across awaits and into the model thread).
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import time

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "segue_request_id", default=None
)
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
# Request ids need to be unique, not secret: a generator seeded once from the OS, because
# ``uuid4`` reads ``os.urandom`` per request, a system call that releases the GIL, and under
# load the event loop then waits for the model thread to hand the GIL back (up to the switch
# interval) on every request.
_IDS = random.Random()


def new_request_id(given: str | None) -> str:
    """The client's id when it is a plain token of at most 64 characters, else a fresh one.

    >>> new_request_id("abc-1"), len(new_request_id("bad id\\n"))
    ('abc-1', 32)
    """
    if given is not None and _TOKEN.match(given):
        return given
    return f"{_IDS.getrandbits(128):032x}"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(level: str = "info") -> dict:
    """A ``logging.config.dictConfig`` for uvicorn and segue: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},  # segue logs each request
            "segue": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            # Python warnings (e.g. a cold-start warning, once per process) as JSON lines too.
            "py.warnings": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
    }
