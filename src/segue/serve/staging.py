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
parent decodes in C, in tens of milliseconds: a JSON skeleton of the plain values (tuples
tagged, so they come back as tuples) and the tensors' raw bytes after it. The parent then
checks the payload exactly as a checkpoint read in process is checked (its content digest
covers the tensors and the plain values, so a value that did not come back intact is
refused), and builds the model from it.

Only plain values and dense tensors of the dtypes in :data:`DTYPES` travel; a payload holding
anything else makes the child fail, and the caller reads the file in process instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import torch

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

_TENSOR, _TUPLE = "__segue_tensor__", "__segue_tuple__"
_HEADER = struct.Struct("<Q")  # length of the JSON skeleton


class StagingError(RuntimeError):
    """The child could not read the model (its message says why)."""


async def read_in_child(path: str | Path, timeout_s: float = CHILD_TIMEOUT_S) -> bytes:
    """What the child wrote for the checkpoint at ``path`` (decode it with :func:`decode`).

    Raises:
        StagingError: If the child failed or ran past ``timeout_s``.
    """
    child = await asyncio.create_subprocess_exec(
        *command(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), timeout_s)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise StagingError(f"no model from the child after {timeout_s:.0f} s") from None
    if child.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise StagingError(message[-1] if message else f"child exited with {child.returncode}")
    return out


def encode(payload: Any, version: str) -> bytes:
    """``payload`` (plain values and tensors) and the model version as bytes for :func:`decode`.

    Raises:
        TypeError: If the payload holds a value that cannot travel (the caller then reads
            the file in process).
    """
    blobs: list[bytes] = []
    tensors: list[dict[str, Any]] = []

    def plain(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.Tensor):
            name = str(value.dtype).removeprefix("torch.")
            if name not in DTYPES or value.layout != torch.strided or value.is_quantized:
                raise TypeError(f"a {value.dtype} {value.layout} tensor cannot travel")
            data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            tensors.append({"dtype": name, "shape": list(value.shape), "bytes": data.numel()})
            blobs.append(data.numpy().tobytes())
            return {_TENSOR: len(tensors) - 1}
        if isinstance(value, tuple):
            return {_TUPLE: [plain(v) for v in value]}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value) or {_TENSOR, _TUPLE} & value.keys():
                raise TypeError("a dict whose keys are not plain strings cannot travel")
            return {k: plain(v) for k, v in value.items()}
        raise TypeError(f"a {type(value).__name__} cannot travel")

    skeleton = json.dumps({"version": version, "payload": plain(payload), "tensors": tensors})
    head = skeleton.encode()
    return b"".join([_HEADER.pack(len(head)), head, *blobs])


def decode(data: bytes) -> tuple[dict[str, Any], str]:
    """The payload and model version that :func:`encode` wrote.

    Raises:
        ValueError: If ``data`` is not what :func:`encode` writes (truncated, or not a dict).
    """
    if len(data) < _HEADER.size:
        raise ValueError("staged model truncated: no header")
    (length,) = _HEADER.unpack_from(data)
    try:
        skeleton = json.loads(data[_HEADER.size : _HEADER.size + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"staged model unreadable: {error}") from None
    buffer, offset, tensors = bytearray(data), _HEADER.size + length, []
    for spec in skeleton["tensors"]:
        end = offset + spec["bytes"]
        if end > len(buffer):
            raise ValueError("staged model truncated: a tensor's bytes are missing")
        if spec["dtype"] not in DTYPES:
            raise ValueError(f"staged model holds a tensor of unknown dtype {spec['dtype']!r}")
        dtype = DTYPES[spec["dtype"]]
        try:
            if spec["bytes"] == 0:  # frombuffer refuses an empty view
                tensor = torch.empty(spec["shape"], dtype=dtype)
            else:
                raw = torch.frombuffer(
                    buffer, dtype=torch.uint8, count=spec["bytes"], offset=offset
                )
                tensor = raw.view(dtype).reshape(spec["shape"]).clone()  # own memory
        except RuntimeError as error:  # the bytes do not fill the shape
            raise ValueError(f"staged model has a malformed tensor: {error}") from None
        tensors.append(tensor)
        offset = end

    def value(node: Any) -> Any:
        if isinstance(node, list):
            return [value(v) for v in node]
        if isinstance(node, dict):
            if _TENSOR in node:
                return tensors[node[_TENSOR]]
            if _TUPLE in node:
                return tuple(value(v) for v in node[_TUPLE])
            return {k: value(v) for k, v in node.items()}
        return node

    payload = value(skeleton["payload"])
    if not isinstance(payload, dict):
        raise ValueError(f"staged model holds a {type(payload).__name__}, not a dict")
    return payload, skeleton["version"]


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
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
