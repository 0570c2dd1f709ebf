"""Logging for runs: one console stream and the run folder's log file, with the same lines.

segue's modules log through ``logging.getLogger(__name__)`` and never configure logging on
import. What a command shows is decided once, at its edge: :func:`run_logging` (the ``segue``
command, and ``train`` / ``evaluate`` when called with no logging set up, as from a test or a
notebook) or Hydra's own job logging (``python scripts/train.py``, which writes ``train.log`` in
the run folder the same way).

Progress bars: tqdm redraws a line with ``\\r``, which only a terminal understands; in a log file
or a CI log every redraw becomes a new piece of one very long line. So bars are drawn only when
the stream they go to is a terminal (:func:`show_progress`), and while one is drawn, log lines
are written through tqdm (``logging_redirect_tqdm``) so that they do not cut a bar in half.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from segue.io.atomic_write import FILE_MODE, FOLDER_MODE  # one rule for every file segue writes

CONSOLE_FORMAT = "%(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _ConsoleFormatter(logging.Formatter):
    """The message alone for INFO and below; ``WARNING: message`` above, so it stands out."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno <= logging.INFO else f"{record.levelname}: {text}"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is *now*.

    A plain ``StreamHandler(sys.stdout)`` keeps the stream it was created with, so output
    captured or redirected later (pytest's ``capsys``, ``contextlib.redirect_stdout``) would
    miss it.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> IO[str]:
        return sys.stdout

    @stream.setter
    def stream(self, value: IO[str]) -> None:  # StreamHandler.__init__ assigns it
        pass


def show_progress(requested: bool, stream: IO[str] | None = None) -> bool:
    """Whether to draw progress bars: when asked for and ``stream`` is a terminal.

    Args:
        requested: The run's setting (``trainer.progress``); False always wins.
        stream: Where the bars are drawn; tqdm's default, ``sys.stderr``, when None.

    >>> import io
    >>> show_progress(True, io.StringIO())  # a file, a pipe, a CI log: no bars
    False
    >>> show_progress(False, io.StringIO())
    False
    """
    if not requested:
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def make_run_dir(path: str | Path) -> Path:
    """Create the run folder (and its parents) readable by others, 0755; returns it.

    ``mkdir``'s mode is filtered by the umask, and an existing folder keeps its mode, so the
    mode is set explicitly on the run folder itself.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def _file_handler(log_file: Path) -> logging.FileHandler:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    os.chmod(log_file, FILE_MODE)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    return handler


def _console_handler() -> logging.Handler:
    handler = _StdoutHandler()
    handler.setFormatter(_ConsoleFormatter(CONSOLE_FORMAT))
    return handler


_active = 0
"""How many :func:`run_logging` blocks are open (nested runs must not double every line)."""


def logging_active() -> bool:
    """Whether a :func:`run_logging` block is open, i.e. a run's output is already routed."""
    return _active > 0


@contextmanager
def run_logging(log_file: str | Path | None, level: int = logging.INFO) -> Iterator[None]:
    """Send log records to the console (stdout) and ``log_file`` for the duration of a run.

    The two handlers sit on the root logger, so every module's records reach both, and are
    removed on exit (a test or a notebook that runs twice does not print everything twice).

    Args:
        log_file: The run folder's log file (appended to); None for the console only.
        level: The lowest level shown.
    """
    global _active
    from tqdm.contrib.logging import logging_redirect_tqdm

    root = logging.getLogger()

    handlers = [_console_handler()]
    if log_file is not None:
        handlers.append(_file_handler(Path(log_file)))
    old_level, old_showwarning = root.level, warnings.showwarning
    root.setLevel(level)
    for handler in handlers:
        root.addHandler(handler)
    warnings.showwarning = _log_warning  # the library's warnings reach the log file too
    _active += 1
    try:
        # Routes the console handler's lines through tqdm.write while a bar is drawn.
        with logging_redirect_tqdm(loggers=[root]):
            yield
    finally:
        _active -= 1
        warnings.showwarning = old_showwarning
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` as one log record: ``WARNING: ColdStartWarning: ...``."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


@contextmanager
def log_to_file(log_file: str | Path, level: int = logging.INFO) -> Iterator[Path]:
    """Also write every log record to ``log_file`` (0644) while the block runs.

    For a command whose console logging is already set up (:func:`run_logging`) and that then
    learns its run folder.
    """
    root = logging.getLogger()
    handler = _file_handler(Path(log_file))
    handler.setLevel(level)
    root.addHandler(handler)
    try:
        yield Path(log_file)
    finally:
        root.removeHandler(handler)
        handler.close()
