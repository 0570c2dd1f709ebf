"""Paths shared by the reader tests: hand-written fixtures and the optional shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("SEGUE_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def shared(relative: str) -> Path:
    """A file under the shared real-data folder; the test skips when it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} absent (set SEGUE_DATA_DIR to the shared data folder)")
    return path
