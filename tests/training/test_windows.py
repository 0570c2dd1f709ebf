"""Both sources of training windows offer every call of the loop's protocol, same signatures."""

from __future__ import annotations

import inspect

import pytest

from segue.data.sequences import TrainingSequences
from segue.scale.dataset import ShardedWindows
from segue.training.windows import TrainingWindows

CALLS = ("__len__", "lengths", "batch", "shuffle_ties")


@pytest.mark.parametrize("source", [TrainingSequences, ShardedWindows])
def test_source_has_the_protocol_calls(source: type) -> None:
    for name in CALLS:
        want = inspect.signature(getattr(TrainingWindows, name))
        got = inspect.signature(getattr(source, name))
        assert list(got.parameters) == list(want.parameters), (source.__name__, name)


def test_the_protocol_lists_exactly_what_the_loop_calls() -> None:
    members = {n for n in vars(TrainingWindows) if not n.startswith("_") or n == "__len__"}
    assert members >= set(CALLS)
    assert not {n for n in members - set(CALLS) if callable(getattr(TrainingWindows, n))}
