"""Fixtures shared by the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from segue.data.pipeline import PreparedData, SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy 2-core machine they lose a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def blend_data() -> PreparedData:
    """A small synthetic log with a validation window, for choosing a blend on it."""
    log = generate_listening_log(n_users=30, n_events=3000, seed=2)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="global_temporal",
        split_options={"test_days": 3, "validation_days": 3},
        max_len=16,
    )
