"""A reload's checkpoint read in a child process: the payload travels intact (tuples, dtypes,
shapes), what cannot travel is refused, and the backend built from it answers as one loaded in
process."""

from __future__ import annotations

import asyncio
import json

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
    [
        {1: "int key"},
        {"s": {1, 2}},
        [torch.zeros(2, 2).to_sparse()],
        {"__segue_tuple__": []},
        {"__segue_list__": []},
    ],
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
    sys.setswitchinterval(RELOAD_SWITCH_INTERVAL_S / 2)
    try:
        with short_gil_turns():  # never raised above what the process set
            assert sys.getswitchinterval() == pytest.approx(RELOAD_SWITCH_INTERVAL_S / 2, rel=0.05)
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize(
    "skeleton",
    [
        b'{"version": "v", "payload": {"w": {"__segue_tensor__": 1}}}',  # past the last
        b'{"version": "v", "payload": {"w": {"__segue_tensor__": "0"}}}',  # not an index
        b'{"version": "v", "payload": {"w": {"__segue_tensor__": 0, "x": 1}}}',  # extra key
        b'{"version": "v", "payload": {"w": {"__segue_tuple__": 3}}}',  # tuple of no list
        b'{"version": "v", "payload": {"w": {"__segue_list__": [0]}}}',  # no such part
    ],
)
def test_a_skeleton_with_malformed_tags_is_refused(skeleton):
    specs = b'{"tensors": [{"dtype": "float32", "shape": [2], "bytes": 8}], "lists": []}'
    data = staging._HEADER.pack(len(specs), len(skeleton)) + specs + skeleton + bytes(8)
    with pytest.raises(ValueError, match="staged model"):
        staging.decode(data)


def test_a_skeleton_that_is_not_a_payload_dict_is_refused():
    skeleton, specs = b'{"version": "v", "payload": [1]}', b'{"tensors": [], "lists": []}'
    data = staging._HEADER.pack(len(specs), len(skeleton)) + specs + skeleton
    with pytest.raises(ValueError, match="not a dict"):
        staging.decode(data)
    with pytest.raises(ValueError, match="unreadable"):
        staging.decode(staging._HEADER.pack(2, 3) + b"[]{x}")
    for specs in (b"[]", b'{"tensors": [], "lists": [-1]}', b'{"tensors": [], "lists": ["1"]}'):
        with pytest.raises(ValueError, match="unreadable"):
            staging.decode(staging._HEADER.pack(len(specs), 0) + specs)


def test_long_lists_travel_in_parts_and_come_back_whole():
    n = 3 * staging.LIST_ROWS + 5
    ids = [f"t{i}" for i in range(n)]
    mixed = [(i, "x") if i % 2 else torch.tensor([i]) for i in range(staging.LIST_ROWS + 1)]
    payload = {"vocab": {"track_ids": ids, "counts": list(range(n))}, "mixed": mixed}
    data = staging.encode(payload, "v")
    got, _ = staging.decode(data)
    assert got["vocab"] == payload["vocab"]
    assert got["mixed"][1::2] == mixed[1::2] and isinstance(got["mixed"][1], tuple)
    assert all(torch.equal(a, b) for a, b in zip(got["mixed"][::2], mixed[::2]))
    (n_specs, _), at = staging._HEADER.unpack_from(data), staging._HEADER.size
    sizes = json.loads(data[at : at + n_specs])["lists"]
    assert len(sizes) == 4 + 4 + 2  # the ids and the counts in 4 parts each, the mixed in 2


def _child_running(code: str):
    import sys

    return lambda path: [sys.executable, "-c", code]


def test_a_child_past_its_time_is_killed_and_says_so(monkeypatch, models):
    import time

    monkeypatch.setattr(staging, "command", _child_running("import time; time.sleep(60)"))
    start = time.perf_counter()
    with pytest.raises(staging.StagingError, match="no model from the child after"):
        asyncio.run(staging.read_in_child(models.checkpoint, timeout_s=1.0))
    assert time.perf_counter() - start < 10  # killed, not waited for


def test_a_child_that_writes_less_than_it_announced_is_refused(monkeypatch, models):
    code = "import struct, sys; sys.stdout.buffer.write(struct.pack('<Q', 100) + b'x' * 10)"
    monkeypatch.setattr(staging, "command", _child_running(code))
    with pytest.raises(staging.StagingError, match=r"cut short \(10 of 100 bytes\)"):
        asyncio.run(staging.read_in_child(models.checkpoint))


def test_a_child_announcing_more_than_the_file_could_hold_is_refused(monkeypatch, models):
    # and goes on writing: a megabyte fills the pipe, so the child is killed, not waited for
    code = (
        "import struct, sys; sys.stdout.buffer.write(struct.pack('<Q', 1 << 50) + bytes(1 << 20))"
    )
    monkeypatch.setattr(staging, "command", _child_running(code))
    with pytest.raises(staging.StagingError, match="more than the file could hold"):
        asyncio.run(staging.read_in_child(models.checkpoint))
