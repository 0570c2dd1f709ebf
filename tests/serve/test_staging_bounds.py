"""A reload's child refuses at once what a pickle shares or nests too deep (the reload then
reads the file in process, whose loader refuses or bounds it), instead of growing until its
timeout."""

from __future__ import annotations

import time

import pytest
import torch

from segue.serve import staging
from tests.adversarial.conftest import nested_lists, shared_lists


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        (shared_lists(60), "held in two places cannot travel"),
        (nested_lists(200_000), "nested more than 100 deep cannot travel"),
    ],
)
def test_shared_or_deep_values_are_refused_at_once(metrics, match):
    start = time.perf_counter()
    with pytest.raises(TypeError, match=match):
        staging.encode({"metrics": {"x": metrics}, "w": torch.ones(3)}, "v")
    assert time.perf_counter() - start < 5


def test_empty_and_equal_but_distinct_values_still_travel():
    payload = {"a": (), "b": (), "c": [], "d": [], "e": [1, 2], "f": [1, 2]}
    got, _ = staging.decode(staging.encode(payload, "v"))
    assert got == payload
