"""The model behind the service: a float checkpoint (torch) or an ONNX bundle (no torch).

Both backends answer the same calls with :class:`Listing` rows; the service never sees torch
or pandas objects, so the ONNX path imports neither (:func:`load_backend` imports the torch
backend only for a checkpoint file). Backends are immutable apart from the torch backend's KV
caches, which are keyed by listener and guarded by locks, so calls may run on several threads.

A model is identified by ``version``: the SHA-256 of its file (or of every file of a bundle),
which ``/metrics`` and every response report, so a client can tell which model answered
during a reload.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from segue.serve.events import Event, ListenerEvents
from segue.serve.listing import Listing

BUNDLE_META = "bundle.json"


class UnknownTrackError(LookupError):
    """A track id the model does not know, where one is required (similar tracks)."""


class Backend(Protocol):
    """What the service needs from a model; every call may run on a worker thread."""

    kind: str
    version: str
    n_tracks: int

    def recommend(
        self,
        history: list[Event],
        k: int,
        exclude_played: bool,
        allow: list[str] | None,
        block: list[str] | None,
        max_per_artist: int | None,
    ) -> Listing: ...

    def recommend_many(
        self, histories: list[list[Event]], ks: list[int], exclude_played: list[bool]
    ) -> list[Listing]: ...

    def continue_playlist(
        self,
        seeds: list[Event],
        n: int,
        no_repeat_window: int | None,
        max_per_artist: int | None,
        allow: list[str] | None,
        block: list[str] | None,
        temperature: float | None,
        seed: int | None,
    ) -> Listing: ...

    def continue_many(self, seeds: list[list[Event]], ns: list[int]) -> list[Listing]:
        """:meth:`continue_playlist` without constraints of many plain playlists at once."""
        ...

    def plain_playlist(self, seeds: list[Event], n: int) -> bool:
        """Whether ``continue_playlist(seeds, n)`` without constraints (greedy, no repeats)
        equals ``n`` steps of ``recommend(seeds + picks, k=1, exclude_played=True)``, so that
        it may be generated in a batch (:meth:`continue_many`)."""
        ...

    def similar(self, track_id: str, k: int) -> Listing: ...

    def listener(
        self,
        listener_id: str,
        held: ListenerEvents,
        k: int,
        exclude_played: bool,
        allow: list[str] | None,
        block: list[str] | None,
        max_per_artist: int | None,
    ) -> Listing: ...

    def forget(self, listener_id: str) -> None: ...

    def warm(self) -> None:
        """Run the common calls once (a new model is warmed before it is swapped in)."""
        ...


def model_version(path: str | Path) -> str:
    """``sha256:`` and the first 16 hex digits of the model's bytes (file, or bundle files)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def load_backend(
    path: str | Path, max_sessions: int, max_events: int, int8_screen: bool | None = None
) -> Backend:
    """Open the model at ``path``: an ONNX bundle folder, else a checkpoint file.

    Args:
        path: A bundle folder (holding ``bundle.json``) or a checkpoint written by training.
        max_sessions: KV caches a checkpoint backend keeps (least recently used evicted).
        max_events: Events the listener store keeps per listener.
        int8_screen: A checkpoint's int8 screen (``Recommender``'s argument); not read for a
            bundle.

    Raises:
        FileNotFoundError: If nothing is at ``path``.
        ValueError: If the file is not a model segue can serve.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    version = model_version(path)
    if path.is_dir():
        if not (path / BUNDLE_META).is_file():
            raise ValueError(f"{path} is a folder without {BUNDLE_META}: not an ONNX bundle")
        from segue.serve.onnx_backend import OnnxBackend

        return OnnxBackend.load(path, version)
    from segue.serve.torch_backend import TorchBackend  # torch only for a checkpoint

    return TorchBackend.load(path, version, max_sessions, max_events, int8_screen)
