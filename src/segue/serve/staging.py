"""Reading a new checkpoint for a hot reload in a child process, off the serving process's GIL.

``torch.load(..., weights_only=True)`` unpickles in Python: for a 100k-track checkpoint its
vocabulary (a few hundred thousand ids, artists and counts) takes about 2 s of pure Python in
the reader's thread. In the serving process that thread holds the GIL in turns with the event
loop and the model thread, and every time the model thread gives the GIL up (each torch call
does) it waits a whole switch interval (5 ms) to get it back: under load, calls grow several
times longer, their deadlines pass, and requests are shed while the new model is read.

So a reload reads the file in a child process (``python -m segue.serve.staging PATH``) at a
lower CPU priority (``nice`` +10: on a busy machine the serving process keeps the cores). The
child reads it with the same safe reader (:func:`segue.io.safe_load.read_payload`: tensors and
plain values only, nothing instantiated) and writes the payload to its stdout in a form the
parent decodes in C, in tens of milliseconds: the tensors' specs (dtype, shape, size) as
JSON, long lists (the vocabulary's) as JSON texts of a few thousand items each, a JSON
skeleton of the plain values (tensors, tuples and long lists tagged, so they come back as
they were), and the tensors' raw bytes after it. The parent then
checks the payload exactly as a checkpoint read in process is checked (its content digest
covers the tensors and the plain values, so a value that did not come back intact is
refused), and builds the model from it.

Only plain values and dense tensors of the dtypes in :data:`DTYPES` travel; a payload holding
anything else makes the child fail, and the caller reads the file in process instead.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segue.io.plain_data import MAX_PLAIN_DEPTH

DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
    )
}
"""The tensor dtypes that travel, by name."""

NICENESS = 10
"""How much lower the child's CPU priority is than the server's."""

CHILD_TIMEOUT_S = 300.0
"""A child that has not written the model by then is killed (the reload then fails over to
reading in process)."""

_TENSOR, _TUPLE, _LIST = "__segue_tensor__", "__segue_tuple__", "__segue_list__"
_TAGS = {_TENSOR, _TUPLE, _LIST}

LIST_ROWS = 4096
"""A list longer than this travels in parts of this many items, each its own JSON text: one
``json.loads`` of a 100k-track vocabulary held the GIL ~15 ms in the serving process."""
_HEADER = struct.Struct("<QQ")  # lengths of the tensor specs and of the JSON skeleton
_LENGTH = struct.Struct("<Q")  # what the child writes first: the length of what follows


class StagingError(RuntimeError):
    """The child could not read the model (its message says why)."""


async def read_in_child(path: str | Path, timeout_s: float = CHILD_TIMEOUT_S) -> bytearray:
    """What the child wrote for the checkpoint at ``path`` (decode it with :func:`decode`).

    The bytes are received by a thread of its own, straight into one buffer of the announced
    size (reading releases the GIL): read by the event loop, tens of megabytes in pipe-sized
    chunks and then joined held the GIL ~20 ms at a time in the serving process.

    Raises:
        StagingError: If the child failed or ran past ``timeout_s``.
    """
    # A bound against a garbled length, not a tight one: the payload is about the file's size,
    # but JSON may write a character the pickle stored in one byte as six ("\u0001").
    limit = 8 * Path(path).stat().st_size + (64 << 20)
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command(path), stdout=subprocess.PIPE, stderr=err, env=child_env())
        try:
            receive = partial(_receive, child, limit)
            data = await asyncio.wait_for(asyncio.to_thread(receive), timeout_s)
        except TimeoutError:
            raise StagingError(f"no model from the child after {timeout_s:.0f} s") from None
        finally:
            if child.poll() is None:  # timed out, or the reload was cancelled
                child.kill()
                child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        if child.returncode != 0 or data is None:
            err.seek(0)
            message = err.read().decode(errors="replace").strip().splitlines()
            raise StagingError(message[-1] if message else f"child exited with {child.returncode}")
    return data


def _receive(child: subprocess.Popen[bytes], limit: int) -> bytearray | None:
    """The child's announced bytes, read into one buffer, once the child has exited; None if
    it announced nothing (it failed: its error is on stderr).

    Raises:
        StagingError: If it announced more than ``limit`` bytes (it is killed: writing what is
            not read, it would block on a full pipe) or wrote fewer than it announced.
    """
    stream = child.stdout
    assert isinstance(stream, io.BufferedReader)  # stdout=PIPE, Popen's default buffering
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        child.wait()
        return None
    size = _LENGTH.unpack(head)[0]
    if size > limit:
        child.kill()
        child.wait()
        raise StagingError(f"the child announced {size} bytes, more than the file could hold")
    data, got = bytearray(size), 0
    with memoryview(data) as view:
        while got < size and (n := stream.readinto(view[got:])):
            got += n
    child.wait()
    if got < size:
        raise StagingError(f"the child's model was cut short ({got} of {size} bytes)")
    return data


def encode(payload: Any, version: str) -> bytes:
    """``payload`` (plain values and tensors) and the model version as bytes for :func:`decode`.

    Raises:
        TypeError: If the payload holds a value that cannot travel (the caller then reads
            the file in process).
    """
    blobs: list[bytes] = []
    tensors: list[dict[str, Any]] = []
    lists: list[str] = []  # the parts of long lists, each a JSON text of its own
    entered: set[int] = set()  # ids of the containers written so far
    depth = 0

    def enter(value: Any) -> None:
        """Refuse a container met twice, or nested too deep, before writing it: a pickle
        stores a shared list once, so ``a = [a, a]`` sixty times over is a small file but
        2**60 values written out, and 200,000 nested lists overflow this recursion."""
        if value and id(value) in entered:
            raise TypeError("a list, tuple or dict held in two places cannot travel")
        if depth >= MAX_PLAIN_DEPTH:
            raise TypeError(f"values nested more than {MAX_PLAIN_DEPTH} deep cannot travel")
        entered.add(id(value))

    def plain(value: Any) -> Any:
        nonlocal depth
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (tuple, list, dict)):
            enter(value)
            depth += 1
            try:
                return container(value)
            finally:
                depth -= 1
        if isinstance(value, torch.Tensor):
            name = str(value.dtype).removeprefix("torch.")
            if name not in DTYPES or value.layout != torch.strided or value.is_quantized:
                raise TypeError(f"a {value.dtype} {value.layout} tensor cannot travel")
            data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            tensors.append({"dtype": name, "shape": list(value.shape), "bytes": data.numel()})
            blobs.append(data.numpy().tobytes())
            return {_TENSOR: len(tensors) - 1}
        raise TypeError(f"a {type(value).__name__} cannot travel")

    def container(value: tuple | list | dict) -> Any:
        if isinstance(value, tuple):
            return {_TUPLE: [plain(v) for v in value]}
        if isinstance(value, list) and len(value) > LIST_ROWS:  # in parts (see decode)
            first = len(lists)
            for start in range(0, len(value), LIST_ROWS):
                lists.append(json.dumps([plain(v) for v in value[start : start + LIST_ROWS]]))
            return {_LIST: list(range(first, len(lists)))}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if not all(isinstance(k, str) for k in value) or _TAGS & value.keys():
            raise TypeError("a dict whose keys are not plain strings cannot travel")
        return {k: plain(v) for k, v in value.items()}

    skeleton = json.dumps({"version": version, "payload": plain(payload)}).encode()
    parts = [text.encode() for text in lists]
    specs = json.dumps({"tensors": tensors, "lists": [len(part) for part in parts]}).encode()
    head = _HEADER.pack(len(specs), len(skeleton))
    return b"".join([head, specs, *parts, skeleton, *blobs])


def decode(data: bytes | bytearray) -> tuple[dict[str, Any], str]:
    """The payload and model version that :func:`encode` wrote.

    The tensors' specs are read first, then the parts of long lists, so the skeleton's tagged
    nodes become tensors, tuples and lists as the JSON parser meets them (``object_hook``,
    called once per JSON object): a walk over the decoded skeleton would visit every id of
    the vocabulary's lists, ~140 ms of Python at 100k tracks, holding the GIL in turns with
    the requests being served.

    Raises:
        ValueError: If ``data`` is not what :func:`encode` writes (truncated, or not a dict).
    """
    if len(data) < _HEADER.size:
        raise ValueError("staged model truncated: no header")
    n_specs, n_skeleton = _HEADER.unpack_from(data)
    view, at = memoryview(data), _HEADER.size  # slices without copies
    if at + n_specs > len(data):
        raise ValueError("staged model truncated: its specs are cut short")
    specs = _json(bytes(view[at : at + n_specs]))
    sizes = specs.get("lists") if isinstance(specs, dict) else None
    if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes):
        raise ValueError("staged model unreadable: its specs are not what encode writes")
    at += n_specs
    n_lists = sum(sizes)
    if at + n_lists + n_skeleton > len(data):
        raise ValueError("staged model truncated: its skeleton is cut short")
    tensors = _tensors(specs.get("tensors"), view[at + n_lists + n_skeleton :])
    parts: list[list[Any]] = []

    def tagged(node: dict[str, Any]) -> Any:
        if _TENSOR in node:
            index = node[_TENSOR]
            if len(node) != 1 or type(index) is not int or not 0 <= index < len(tensors):
                raise ValueError("staged model refers to a tensor it does not hold")
            return tensors[index]
        if _TUPLE in node:
            if len(node) != 1 or not isinstance(node[_TUPLE], list):
                raise ValueError("staged model holds a malformed tuple")
            return tuple(node[_TUPLE])
        if _LIST in node:
            indices = node[_LIST]
            if len(node) != 1 or not all(type(i) is int and 0 <= i < len(parts) for i in indices):
                raise ValueError("staged model refers to a list part it does not hold")
            joined: list[Any] = []
            for i in indices:
                joined.extend(parts[i])
            return joined
        return node

    for size in sizes:  # one short parse each: the GIL is free between them
        part = _json(bytes(view[at : at + size]), tagged)
        if not isinstance(part, list):
            raise ValueError("staged model holds a list part that is not a list")
        parts.append(part)
        at += size
    skeleton = _json(bytes(view[at : at + n_skeleton]), tagged)
    payload = skeleton.get("payload") if isinstance(skeleton, dict) else None
    if not isinstance(payload, dict):
        raise ValueError(f"staged model holds a {type(payload).__name__}, not a dict")
    return payload, skeleton["version"]


def _json(raw: bytes, hook: Any = None) -> Any:
    try:
        return json.loads(raw, object_hook=hook)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"staged model unreadable: {error}") from None


def _tensors(specs: Any, buffer: memoryview) -> list[torch.Tensor]:
    """The tensors ``specs`` (dtype, shape, byte count of each) describe, read in order from
    ``buffer``, each in memory of its own (copied by numpy, which releases the GIL while it
    copies: a copy of the whole buffer as one ``bytearray`` held it ~20-30 ms at 100k
    tracks)."""
    if not isinstance(specs, list):
        raise ValueError("staged model unreadable: its tensor list is not a list")
    tensors, offset = [], 0
    for spec in specs:
        end = offset + spec["bytes"]
        if end > len(buffer):
            raise ValueError("staged model truncated: a tensor's bytes are missing")
        if spec["dtype"] not in DTYPES:
            raise ValueError(f"staged model holds a tensor of unknown dtype {spec['dtype']!r}")
        dtype = DTYPES[spec["dtype"]]
        try:
            if spec["bytes"] == 0:  # no bytes to view as another dtype
                tensor = torch.empty(spec["shape"], dtype=dtype)
            else:
                raw = np.frombuffer(buffer, np.uint8, spec["bytes"], offset).copy()
                tensor = torch.from_numpy(raw).view(dtype).reshape(spec["shape"])
        except RuntimeError as error:  # the bytes do not fill the shape
            raise ValueError(f"staged model has a malformed tensor: {error}") from None
        tensors.append(tensor)
        offset = end
    return tensors


def command(path: str | Path) -> list[str]:
    """The child's command line (the same Python, this module)."""
    return [sys.executable, "-m", __name__, str(path)]


def child_env() -> dict[str, str]:
    """The server's environment, with this copy of segue first on the child's path."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[2])  # the folder holding the segue package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def main(argv: list[str]) -> int:
    """Child: read the checkpoint at ``argv[0]``, write it to stdout; errors to stderr."""
    os.nice(NICENESS)
    from segue.io.safe_load import read_payload
    from segue.serve.backends import model_version

    path = Path(argv[0])
    try:
        version = model_version(path)
        data = encode(read_payload(path, "segue checkpoint"), version)
    except (OSError, ValueError, TypeError) as error:  # CheckpointError is a ValueError
        print(str(error), file=sys.stderr)
        return 1
    sys.stdout.buffer.write(_LENGTH.pack(len(data)))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
