"""A writer killed mid-write leaves a temporary; the next write to that path removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segue.export.onnx_export import write_bundle
from segue.io.atomic_write import STALE_SECONDS, atomic_write, clean_stale_temporaries
from segue.io.checkpoint import load_checkpoint, save_checkpoint
from tests.export.conftest import tiny_checkpoint, tiny_model, tiny_vocab

REPO = Path(__file__).resolve().parents[2]

SLOW_WRITER = """
import sys, time
from segue.io.atomic_write import atomic_write

def write(f):
    f.write(b"x" * 1_000_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

atomic_write(sys.argv[1], write)
"""


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_writers_temporary_is_removed_by_the_next_save(tmp_path):
    path = tiny_checkpoint("sasrec", tmp_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"writing"
        left = temporaries(tmp_path)
        assert len(left) == 1 and left[0].startswith(f".{path.name}.{writer.pid}.")
        save_checkpoint(load_checkpoint(path), path)  # the writer is alive: its file is kept
        assert temporaries(tmp_path) == left
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert temporaries(tmp_path) == left  # kill -9: nothing cleaned up after it
    save_checkpoint(load_checkpoint(path), path)
    assert temporaries(tmp_path) == []
    load_checkpoint(path)


def test_only_our_stale_temporaries_are_removed(tmp_path):
    target = tmp_path / "best.pt"
    dead = _dead_pid()
    files = {
        f".best.pt.{dead}.abcd1234.tmp": True,  # a dead writer's
        ".best.pt.abcd1234.tmp": False,  # an older segue's, young: its writer may be alive
        f".best.pt.{os.getpid()}.zzzz9999.tmp": False,  # this process's own
        f".other.pt.{dead}.abcd1234.tmp": False,  # another file's
        ".best.pt.notes": False,  # not a temporary name
        "best.pt.bak": False,
    }
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    old = tmp_path / ".best.pt.efgh5678.tmp"  # an older segue's, untouched for hours
    old.write_bytes(b"x")
    hours_ago = time.time() - 2 * STALE_SECONDS
    os.utime(old, (hours_ago, hours_ago))
    removed = {p.name for p in clean_stale_temporaries(target)}
    assert removed == {name for name, stale in files.items() if stale} | {old.name}
    assert {p.name for p in tmp_path.iterdir()} == {n for n, s in files.items() if not s}


def test_atomic_write_replaces_the_file_and_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda f: f.write(b"one"))

    def failing(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_bytes() == b"one" and temporaries(tmp_path) == []


def test_a_killed_exports_folder_is_removed_by_the_next_export(tmp_path):
    dead = _dead_pid()
    left = tmp_path / f".bundle.{dead}.abcd1234"
    (left / "sub").mkdir(parents=True)
    (left / "encoder.onnx").write_bytes(b"half")
    write_bundle(tiny_model("sasrec"), tiny_vocab(), tmp_path / "bundle")
    assert not left.exists() and (tmp_path / "bundle" / "bundle.json").exists()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def strict_umask():
    """A umask that would make every new file 0600 and folder 0700 (``mkstemp``'s own modes)."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_files_segue_writes_are_0644_whatever_the_umask(tmp_path, strict_umask):
    """Checkpoints, int8 artefacts and run files are shared: 0644, never mkstemp's 0600."""
    import stat

    from segue.compress import compress_checkpoint
    from segue.io.atomic_write import atomic_write_text

    checkpoint = tiny_checkpoint("side", tmp_path)
    written = [
        checkpoint,
        compress_checkpoint(checkpoint, tmp_path / "side.int8.pt"),
        atomic_write_text(tmp_path / "run" / "metrics.json", "{}"),
        atomic_write(tmp_path / "plain.bin", lambda f: f.write(b"x")),
    ]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
    resaved = save_checkpoint(load_checkpoint(checkpoint), tmp_path / "again.pt")
    assert stat.S_IMODE(Path(resaved).stat().st_mode) == 0o644
