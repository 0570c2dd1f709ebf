"""Helpers for hostile files: payloads to edit and re-save, pickles that would leave a canary."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.export.conftest import tiny_checkpoint


class Canary:
    """Pickled, it runs ``touch <path>`` when unpickled: what a malicious file would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.path}",)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A path that must still not exist when the test ends."""
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a file from an untrusted source ran code"


@pytest.fixture
def checkpoint_path(tmp_path: Path) -> Path:
    """A valid tiny checkpoint (40 tracks, side inputs) to tamper with."""
    return tiny_checkpoint("side", tmp_path)


def payload(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def resave(values: dict[str, Any], path: Path) -> Path:
    """Save ``values`` as a torch file at ``path`` (no checksum recomputed)."""
    torch.save(values, path)
    return path


def flip_bytes(path: Path, member: str, n: int = 20) -> None:
    """XOR one bit in ``n`` bytes spread over zip member ``member``'s stored data."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        data = archive.read(member)
    start = bytes(raw).find(data)
    assert start >= 0 and len(data) >= n
    for k in range(n):
        raw[start + k * (len(data) // n)] ^= 0x01
    path.write_bytes(bytes(raw))


def largest_tensor_member(path: Path) -> str:
    """The zip member holding the largest tensor storage of a torch file."""
    with zipfile.ZipFile(path) as archive:
        storages = [i for i in archive.infolist() if "/data/" in i.filename]
    return max(storages, key=lambda i: i.file_size).filename


def pickle_member(path: Path) -> str:
    """The zip member holding a torch file's pickled structure (``<archive>/data.pkl``)."""
    with zipfile.ZipFile(path) as archive:
        return next(n for n in archive.namelist() if n.endswith("/data.pkl"))


def without_checksums(bundle: Path) -> Path:
    """Make ``bundle`` a version 1 bundle (as segue wrote before checksums); returns it.

    Tampering tests edit one file and expect the structural check for it: on a bundle with
    checksums the checksum would refuse every edit first, so they run on a version 1 bundle,
    where the structural checks alone must hold.
    """
    meta_path = bundle / "bundle.json"
    meta = json.loads(meta_path.read_text())
    del meta["sha256"]
    meta["version"] = 1
    meta_path.write_text(json.dumps(meta))
    return bundle


def shared_lists(levels: int) -> list:
    """``a = [a, a]`` ``levels`` times: 2**levels values to visit, ``levels`` lists in memory
    (and in a pickle, which stores a shared list once)."""
    value: object = "x"
    for _ in range(levels):
        value = [value, value]
    return value  # type: ignore[return-value]


def nested_lists(depth: int) -> list:
    """``depth`` lists, each inside the next."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value
