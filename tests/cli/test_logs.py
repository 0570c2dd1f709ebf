"""Run logging: the same lines on the console and in the log file, bars only on a terminal,
readable run outputs. (Tests mirror ``src/``: this is ``segue.logs``, used by the command.)"""

from __future__ import annotations

import io
import logging
import stat
import warnings
from datetime import datetime

from segue.cli.run_folder import default_run_dir
from segue.logs import log_to_file, logging_active, make_run_dir, run_logging, show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_only_on_a_terminal_and_only_when_asked():
    assert show_progress(True, _Terminal())
    assert not show_progress(False, _Terminal())
    assert not show_progress(True, io.StringIO())


def test_console_and_file_get_the_same_lines_and_warnings(tmp_path, capsys):
    log = logging.getLogger("segue.test")
    with run_logging(tmp_path / "run.log"):
        assert logging_active()
        log.info("epoch %d: ndcg@10 %.4f", 1, 0.25)
        log.debug("not shown at INFO")
        warnings.warn("ids unknown", UserWarning, stacklevel=1)
    assert not logging_active()
    log.info("after the run: nowhere")
    console = capsys.readouterr().out.splitlines()
    assert console == ["epoch 1: ndcg@10 0.2500", "WARNING: UserWarning: ids unknown"]
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO segue.test: epoch 1: ndcg@10 0.2500")
    assert lines[1].endswith("WARNING py.warnings: UserWarning: ids unknown")
    assert stat.S_IMODE((tmp_path / "run.log").stat().st_mode) == 0o644


def test_log_to_file_adds_a_file_to_the_console_logging(tmp_path, capsys):
    with run_logging(None):
        with log_to_file(tmp_path / "train.log"):
            logging.getLogger("segue").info("inside")
        logging.getLogger("segue").info("outside")
    assert capsys.readouterr().out.splitlines() == ["inside", "outside"]
    assert (tmp_path / "train.log").read_text().rstrip().endswith("inside")


def test_run_folders_are_readable_and_never_shared(tmp_path):
    first = make_run_dir(default_run_dir(datetime(2026, 12, 5, 9, 0, 0), tmp_path))
    second = make_run_dir(default_run_dir(datetime(2026, 12, 5, 9, 0, 0), tmp_path))
    assert first.name == "09-00-00" and second.name == "09-00-00-2"
    assert stat.S_IMODE(first.stat().st_mode) == 0o755
