"""A reload's checkpoint read in a child process: the payload travels intact (tuples, dtypes,
shapes), what cannot travel is refused, and the backend built from it answers as one loaded in
process."""

from __future__ import annotations

import asyncio

import pytest
import torch

from segue.serve import staging
from segue.serve.backends import load_backend
from segue.serve.events import Event
from segue.serve.torch_backend import TorchBackend

HISTORY = [Event("t1"), Event("t7"), Event("t3")]


def test_a_payload_travels_intact():
    payload = {
        "format": "x",
        "numbers": [1, 2.5, float("inf"), True, None],
        "pair": (3, ("a", [4])),
        "nested": {"empty": {}, "text": 'é\n"', "tensor": torch.arange(6).reshape(2, 3)},
        "tensors": [
            torch.randn(3, 4),
            torch.randn(5).to(torch.bfloat16),
            torch.tensor(True),
            torch.zeros(0, 2, dtype=torch.int8),
            torch.randn(4, 4).t(),  # not contiguous
        ],
    }
    got, version = staging.decode(staging.encode(payload, "sha256:abc"))
    assert version == "sha256:abc"
    assert got["numbers"] == payload["numbers"]
    assert got["pair"] == (3, ("a", [4])) and isinstance(got["pair"][1], tuple)
    assert got["nested"]["text"] == payload["nested"]["text"] and got["nested"]["empty"] == {}
    assert torch.equal(got["nested"]["tensor"], payload["nested"]["tensor"])
    for want, have in zip(payload["tensors"], got["tensors"]):
        assert have.dtype == want.dtype and have.shape == want.shape
        assert torch.equal(have, want)


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, {"s": {1, 2}}, [torch.zeros(2, 2).to_sparse()], {"__segue_tuple__": []}],
)
def test_what_cannot_travel_is_refused(value):
    with pytest.raises(TypeError, match="cannot travel"):
        staging.encode(value, "v")


def test_damaged_staged_bytes_are_refused():
    data = staging.encode({"w": torch.ones(100)}, "v")
    with pytest.raises(ValueError, match="truncated"):
        staging.decode(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        staging.decode(data[:3])


def test_a_checkpoint_read_in_a_child_answers_as_one_read_in_process(models):
    data = asyncio.run(staging.read_in_child(models.checkpoint))
    payload, version = staging.decode(data)
    staged = TorchBackend.from_payload(models.checkpoint, payload, version, 10, 50)
    direct = load_backend(models.checkpoint, 10, 50)
    assert staged.version == direct.version
    got = staged.recommend(HISTORY, 5, True, None, None, None).items
    want = direct.recommend(HISTORY, 5, True, None, None, None).items
    assert [i["track_id"] for i in got] == [i["track_id"] for i in want]
    assert [i["score"] for i in got] == pytest.approx([i["score"] for i in want])
    staged.warm()


def test_a_child_that_cannot_read_the_file_says_why(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(staging.StagingError, match=r"broken\.pt"):
        asyncio.run(staging.read_in_child(broken))


def test_short_gil_turns_lowers_the_switch_interval_and_restores_it():
    import sys

    from segue.serve.service import RELOAD_SWITCH_INTERVAL_S, short_gil_turns

    before = sys.getswitchinterval()
    with short_gil_turns():
        assert sys.getswitchinterval() == pytest.approx(RELOAD_SWITCH_INTERVAL_S, rel=0.05)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), short_gil_turns():
        raise RuntimeError("a failed build")
    assert sys.getswitchinterval() == before  # restored whatever the block raised
    sys.setswitchinterval(1e-4)
    try:
        with short_gil_turns():  # never raised above what the process set
            assert sys.getswitchinterval() == pytest.approx(1e-4, rel=0.05)
    finally:
        sys.setswitchinterval(before)
