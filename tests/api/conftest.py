"""Tiny vocabularies and models for the API tests: 40 tracks, 5 artists, max_len 8."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from segue.api import Recommender
from segue.data.vocab import TrackVocab
from segue.models import bert4rec, sasrec

N_TRACKS = 40
MAX_LEN = 8
SIDE = {"n_artists": 5, "use_event_types": True, "use_gap_buckets": True}


def tiny_vocab() -> TrackVocab:
    """Tracks t0..t39 (t0 most played); artists a0..a4 by track number mod 5, t39 unknown."""
    artists: list[str | None] = [f"a{i % 5}" for i in range(N_TRACKS)]
    artists[-1] = None
    return TrackVocab(
        track_ids=[f"t{i}" for i in range(N_TRACKS)],
        counts=list(range(100, 100 - N_TRACKS, -1)),
        artists=artists,
        names=[f"song {i}" for i in range(N_TRACKS)],
    )


def tiny_recommender(kind: str = "sasrec", **overrides: object) -> Recommender:
    """``kind``: sasrec, side (sasrec with artist / event / gap inputs, rotary), hstu (HSTU
    blocks with the side inputs) or bert4rec."""
    values: dict = {"d_model": 16, "n_layers": 1, "max_len": MAX_LEN, "seed": 1, **overrides}
    if kind == "side":
        values.update(SIDE, positions="rotary")
    if kind == "hstu":
        values.update(SIDE, block="hstu")
    build = bert4rec if kind == "bert4rec" else sasrec
    return Recommender(build(N_TRACKS, **values), tiny_vocab())


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a busy machine, OpenMP barriers on (8, 16) tensors cost ms."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def rec() -> Recommender:
    return tiny_recommender()


def ids(*numbers: int) -> list[str]:
    return [f"t{i}" for i in numbers]
