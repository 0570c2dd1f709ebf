"""``Recommender``: ranked next tracks, playlists, similar tracks and live sessions from a model.

Needs only a checkpoint (weights, model config and vocabulary): no Hydra, no training data.
What can be computed once is computed at construction (:class:`Catalogue`); a request is then
one forward pass, one matrix product with the catalogue embeddings, the masks and one
``torch.topk``, and the output table is built once at the end.

Thread safety: a ``Recommender`` holds no mutable state after construction, every call runs
under ``torch.inference_mode()`` and builds its own tensors, so any number of threads may call
it at once. A :class:`SessionState` belongs to one listener (see its module).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import check_request, resolve
from segue.api.cpu_product import set_num_threads, to_huge_pages
from segue.api.history import (
    EncodedHistory,
    History,
    OnUnknown,
    UnknownTracksError,
    encode_history,
)
from segue.api.int8_screen import Int8Screen, can_screen
from segue.api.playlist import continue_playlist, generate_playlist
from segue.api.ranking import encode_queries, rank
from segue.api.results import COLD_START, UNKNOWN_IDS, recommendations_frame, warn_cold_start
from segue.api.session_state import SessionState
from segue.api.track_lists import TrackLists
from segue.checks import check_integer
from segue.constraints import BATCH_HINT, ConstraintFields, Constraints, constraints_from
from segue.data.vocab import TrackVocab
from segue.evaluation.ranking import top_k
from segue.export.screen import SCREEN_MIN_TRACKS
from segue.io.checkpoint import checkpoint_from_payload
from segue.io.safe_load import file_path, read_payload
from segue.models.transformer import TrackTransformer
from segue.training.trainer import resolve_device

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11; annotations are never evaluated at run time

INT8_FORMAT = "segue-int8"
"""The ``format`` key of the int8 artefact (:data:`segue.compress.artefact.FORMAT`)."""


def _int8_model(path: Path, payload: dict[str, Any]) -> tuple[TrackTransformer, TrackVocab]:
    """The int8 artefact's model with its track table dequantized (see :meth:`Recommender.load`).

    The table's rows are exactly what the artefact's own lookups and scores use
    (``values * scales``), so the encoder sees the same inputs as
    :func:`segue.compress.int8.int8_scores`' model, and the catalogue the same rows.
    """
    from torch import nn

    from segue.compress.artefact import int8_from_payload
    from segue.compress.int8 import Int8Embedding

    artefact = int8_from_payload(path, payload)
    model = artefact.model
    int8_table: nn.Module = model.track_emb  # an Int8Embedding, (n_tracks + 2, D)
    if not isinstance(int8_table, Int8Embedding):  # load_int8 always builds one
        raise TypeError(f"{path}: the int8 artefact's track table is not int8")
    table = nn.Embedding.from_pretrained(int8_table.rows.dequantize(), freeze=True, padding_idx=0)
    model.track_emb = table
    return model.eval(), artefact.vocab


def _wants_screen(int8_screen: bool | None, table: torch.Tensor) -> bool:
    """Whether to build the int8 screen: the caller's choice, else by catalogue size."""
    if int8_screen is not None and not isinstance(int8_screen, bool):
        raise TypeError(f"int8_screen must be True, False or None, got {int8_screen!r}")
    if int8_screen is False:
        return False
    if not can_screen(table):
        if int8_screen:
            raise ValueError(
                "int8_screen=True needs a float32 table on the CPU and an int8 kernel: numba "
                'or onnxruntime (pip install -e ".[onnx]")'
            )
        return False
    return bool(int8_screen) or table.shape[0] - 1 >= SCREEN_MIN_TRACKS


class Recommender:
    """Recommendations from a trained :class:`TrackTransformer` and its :class:`TrackVocab`.

    Args:
        model: The model; it is put in eval mode and used on its current device. On the CPU
            its track table is moved to memory numpy allocates (2 MB pages where Linux grants
            them; :func:`segue.api.cpu_product.to_huge_pages`): same values, same parameter.
        vocab: The vocabulary it was trained with.
        int8_screen: Rank through an int8 copy of the track table that finds the exhaustive
            lists and greedy playlist picks while reading a quarter of the bytes
            (:mod:`segue.api.int8_screen`; float rounding aside, the same lists; about half
            the table's bytes more memory). None (default): on for a float32 CPU table of
            at least :data:`~segue.export.screen.SCREEN_MIN_TRACKS` tracks when an int8
            kernel is installed (extra "onnx"); True insists (a ValueError when it cannot be built).
    """

    def __init__(
        self, model: TrackTransformer, vocab: TrackVocab, int8_screen: bool | None = None
    ) -> None:
        if not isinstance(model, TrackTransformer):
            raise TypeError(f"model must be a TrackTransformer, got {type(model).__name__}")
        if not isinstance(vocab, TrackVocab):
            raise TypeError(f"vocab must be a TrackVocab, got {type(vocab).__name__}")
        if len(vocab) != model.config.n_tracks:  # else a recommended index has no id
            raise ValueError(
                f"vocab has {len(vocab)} tracks but the model's catalogue "
                f"{model.config.n_tracks} (model.config.n_tracks)"
            )
        for name, weight in model.state_dict().items():  # NaN scores would empty every list
            if weight.is_floating_point() and not bool(torch.isfinite(weight).all()):
                raise ValueError(f"model weight {name!r} holds NaN or infinite values")
        self.model = model.eval()
        self.vocab = vocab
        # Every request streams the track table: in 2 MB pages a GEMV is 1.3x faster
        # (segue.api.cpu_product). The weight is rebound, so the catalogue (a view) follows.
        model.track_emb.weight.data = to_huge_pages(model.track_emb.weight.data)
        self.catalogue = Catalogue.build(model, vocab)
        if _wants_screen(int8_screen, self.catalogue.embeddings):
            self.catalogue = self.catalogue.with_screen(Int8Screen.build(self.catalogue.embeddings))

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        num_threads: int | None = None,
        index: str | Path | None = None,
        int8_screen: bool | None = None,
    ) -> Recommender:
        """Load a checkpoint written by training (``best.pt``) or an int8 artefact.

        The int8 artefact (``best.int8.pt``, from ``segue export``) is recognised by its
        ``format`` key. Its encoder stays int8; its track table is dequantized once into the
        float catalogue every request is scored against, so scores differ from the float
        checkpoint's by at most the int8 bound (``||h||_1 * scale / 2`` per track, see
        :meth:`segue.compress.int8.Int8Rows.score_error_bound`), and the table takes float
        memory while serving (4x its size in the file).

        Args:
            path: The checkpoint or int8 artefact file.
            device: Where the model runs: "cpu", "cuda", "cuda:1", "mps" or "auto" (CUDA when
                present).
            num_threads: If given, the threads of torch's intra-op pool and of numpy's BLAS
                (which computes the catalogue product), for the whole process
                (:func:`segue.api.cpu_product.set_num_threads`).
            index: A retrieval index saved by :meth:`build_index` (``best.faiss``), checked
                against the model's embeddings and then used for ranking; see :meth:`use_index`.
            int8_screen: See the class; None decides by catalogue size.
        """
        if num_threads is not None:
            set_num_threads(check_integer("num_threads", num_threads, minimum=1))
        if not isinstance(device, torch.device):
            device = resolve_device(device)  # "cuda" without CUDA: a ValueError saying so
        path = file_path(path, "segue checkpoint")
        payload = read_payload(path, "segue checkpoint")  # read once, then by its format
        recommender = cls.from_payload(path, payload, device, int8_screen)
        if index is not None:
            recommender.use_index(index)
        return recommender

    @classmethod
    def from_payload(
        cls,
        path: Path,
        payload: dict[str, Any],
        device: str | torch.device = "cpu",
        int8_screen: bool | None = None,
    ) -> Recommender:
        """The recommender of a checkpoint or int8 artefact already read by
        :func:`segue.io.safe_load.read_payload` (the server reads a new version in a child
        process), with the checks :meth:`load` makes.

        Args:
            path: The file it was read from (named in errors).
            payload: The plain data read from it.
            device: Where the model runs.
            int8_screen: See the class.
        """
        if not isinstance(device, torch.device):
            device = resolve_device(device)
        if payload.get("format") == INT8_FORMAT:
            model, vocab = _int8_model(path, payload)
            return cls(model.to(device), vocab, int8_screen)
        # the checkpoint's checks say what is wrong with anything else
        checkpoint = checkpoint_from_payload(path, payload, map_location=device)
        return cls(checkpoint.build_model(device), checkpoint.vocab, int8_screen)

    def build_index(
        self, kind: str = "ivf_pq", path: str | Path | None = None, **params: Any
    ) -> Any:
        """Build an approximate-retrieval index over the tracks and rank through it.

        Needs FAISS (extra ``scale``). See :mod:`segue.retrieval` for the kinds ("flat",
        "ivf_flat", "ivf_pq", "hnsw") and how every constraint stays exact.

        Args:
            kind: Index kind; "ivf_pq" (4-bit fast-scan codes, exact re-rank) is the measured
                default (lists cut by norm tier): recall@10 0.996 at 1M tracks, 0.984 at 10M
                (README, "Scale").
            path: Save it there (``best.faiss`` next to ``best.pt``) for :meth:`load`.
            **params: Overrides of the sized :class:`segue.retrieval.IndexParams`.

        Returns:
            The :class:`segue.retrieval.TrackIndex`.
        """
        from segue.retrieval.attach import build_catalogue_index
        from segue.retrieval.params import default_params

        n, dim = self.catalogue.size - 1, int(self.catalogue.embeddings.shape[1])
        sized = default_params(n, dim, kind, **params)
        index = build_catalogue_index(self.catalogue, params=sized, path=path)
        self.use_index(index)
        return index

    def use_index(self, index: Any, exhaustive_below: int | None = None) -> None:
        """Rank through ``index`` (a ``TrackIndex`` or the path of a saved one); None stops.

        Catalogues below ``exhaustive_below`` tracks (default: the measured crossover,
        :data:`segue.retrieval.EXHAUSTIVE_BELOW`) are still scored exhaustively. Sessions
        already opened keep the catalogue they started with.

        Raises:
            segue.retrieval.IndexMismatchError: If a saved index was built for other
                embeddings than this model's.
        """
        from segue.retrieval import EXHAUSTIVE_BELOW, attach

        below = EXHAUSTIVE_BELOW if exhaustive_below is None else exhaustive_below
        self.catalogue = attach.attach_index(self.catalogue, index, below)

    # ----------------------------------------------------------------------------------------
    # Ranked lists

    def recommend(
        self,
        history: History,
        k: int = 10,
        *,
        constraints: Constraints | None = None,
        on_unknown: OnUnknown = "ignore",
        **rules: Unpack[ConstraintFields],
    ) -> pd.DataFrame:
        """The k tracks most likely to come next after ``history``.

        The model reads the last ``max_len`` events (masked models: ``max_len - 1`` and a
        [MASK]); an empty or all-unknown history falls back to popularity (cold start).

        Args:
            history: Track ids oldest first, or an event table (see :mod:`segue.api.history`).
            k: List length; fewer rows when fewer tracks are eligible.
            constraints: What may be recommended, as one :class:`Constraints`; None: the
                defaults (played tracks excluded).
            on_unknown: "ignore" drops unknown history ids (listed in ``attrs``); "raise"
                raises :class:`UnknownTracksError`.
            **rules: Fields of :class:`Constraints` as keywords, on top of ``constraints``:
                ``exclude_played`` (default True: never a track of the history), ``allow``,
                ``block``, ``exclude_artists``, ``max_per_artist``.

        Returns:
            ``track_id, score, rank[, artist, track_name]``, best first; ``attrs`` holds
            ``unknown_ids`` (list) and ``cold_start`` (bool), see :mod:`segue.api.results`.

        Raises:
            TypeError, ValueError: For a bad argument (``k=1.5``, ``allow={...}``...), naming it.
            UnknownTracksError: With ``on_unknown="raise"`` and an id the model does not know.

        Warns:
            ColdStartWarning: When no history event is known and popularity ranks the list.
        """
        k = check_request(k)
        wanted = constraints_from(constraints, rules, "recommend")
        encoded = encode_history(history, self.catalogue, on_unknown)
        frame = recommendations_frame(self.catalogue, self._lists([encoded], k, wanted).ranked)
        if len(encoded) == 0:
            warn_cold_start(encoded.unknown_ids)
        frame.attrs = {UNKNOWN_IDS: encoded.unknown_ids, COLD_START: len(encoded) == 0}
        return frame

    def _encode_query(self, query: Any, history: History, on_unknown: OnUnknown) -> EncodedHistory:
        """One query's history of a batch; an error names the query, and drops the hint to use
        ``recommend_batch`` (this is it)."""
        try:
            return encode_history(history, self.catalogue, on_unknown)
        except TypeError as error:
            message = str(error).replace(BATCH_HINT, "")
            raise TypeError(f"histories[{query!r}]: {message}") from None

    def recommend_batch(
        self,
        histories: Sequence[History] | Mapping[Any, History],
        k: int = 10,
        *,
        constraints: Constraints | None = None,
        on_unknown: OnUnknown = "ignore",
        **rules: Unpack[ConstraintFields],
    ) -> pd.DataFrame:
        """:meth:`recommend` for many histories at once: one padded batch, one top-k.

        Args:
            histories: A list (queries 0..B-1) or a mapping query -> history.
            k, constraints, on_unknown, rules: As in :meth:`recommend`, shared by every query.

        Returns:
            ``query, track_id, score, rank[, artist, track_name]``; ``attrs`` holds
            ``unknown_ids`` (dict query -> list, queries with any) and ``cold_start`` (list of
            queries).
        """
        k = check_request(k)
        wanted = constraints_from(constraints, rules, "recommend_batch")
        if isinstance(histories, Mapping):
            queries, items = list(histories.keys()), list(histories.values())
        elif isinstance(histories, Sequence) and not isinstance(histories, str | bytes):
            queries, items = list(range(len(histories))), list(histories)
        else:
            raise TypeError(
                "histories must be a list of histories or a mapping query -> history, "
                f"got {type(histories).__name__}"
            )
        encoded = [self._encode_query(q, h, on_unknown) for q, h in zip(queries, items)]
        ranked = self._lists(encoded, k, wanted).ranked
        frame = recommendations_frame(self.catalogue, ranked, queries)
        cold = [q for q, e in zip(queries, encoded) if len(e) == 0]
        if cold:
            unknown = [u for e in encoded if len(e) == 0 for u in e.unknown_ids]
            warn_cold_start(unknown, cold)
        frame.attrs = {
            UNKNOWN_IDS: {q: e.unknown_ids for q, e in zip(queries, encoded) if e.unknown_ids},
            COLD_START: cold,
        }
        return frame

    def track_lists(
        self,
        histories: Sequence[History],
        k: int = 10,
        *,
        constraints: Constraints | None = None,
        on_unknown: OnUnknown = "ignore",
        **rules: Unpack[ConstraintFields],
    ) -> TrackLists:
        """:meth:`recommend_batch`'s lists as arrays (:class:`segue.api.track_lists.TrackLists`)
        for callers that format them themselves: no table and no cold-start warning (``cold``
        says it). Same arguments as :meth:`recommend_batch`, histories as a list."""
        k = check_request(k)
        wanted = constraints_from(constraints, rules, "track_lists")
        if isinstance(histories, str | bytes | Mapping) or not isinstance(histories, Sequence):
            raise TypeError(
                f"histories must be a list of histories, got {type(histories).__name__}"
            )
        encoded = [encode_history(h, self.catalogue, on_unknown) for h in histories]
        return self._lists(encoded, k, wanted)

    def _lists(self, encoded: list[EncodedHistory], k: int, constraints: Constraints) -> TrackLists:
        """The lists of encoded histories: what every ranking call formats."""
        resolved = resolve(constraints, self.catalogue)
        cold = np.array([len(e) == 0 for e in encoded], dtype=bool)
        excluded = [e.tracks for e in encoded] if constraints.exclude_played else None
        with torch.inference_mode():
            queries = encode_queries(self.model, self.catalogue, encoded)  # None: all cold
            ranked = rank(self.catalogue, queries, cold, excluded, resolved, k)
        return TrackLists(ranked, [list(e.unknown_ids) for e in encoded], cold)

    def similar_tracks(self, track_id: object, k: int = 10) -> pd.DataFrame:
        """The k tracks whose output embeddings are closest in cosine similarity.

        Returns:
            ``track_id, score, rank[, artist, track_name]``; the score is the cosine
            similarity; the track itself is never listed.

        Raises:
            UnknownTracksError: If ``track_id`` is not in the vocabulary.
        """
        k = check_request(k)
        if isinstance(track_id, bool) or not isinstance(track_id, str | numbers.Number):
            raise TypeError(f"track_id must be one id (a string or a number), got {track_id!r}")
        index = self.catalogue.index.get(str(track_id))
        if index is None:
            raise UnknownTracksError(f"unknown track id: {track_id}")
        with torch.inference_mode():
            sims = self.catalogue.cosine(index)  # (V,)
            sims[index] = float("-inf")
            ranked = top_k(sims[None], k)
        return recommendations_frame(self.catalogue, ranked)

    # ----------------------------------------------------------------------------------------
    # Sessions and playlists

    def session(
        self, history: History = None, on_unknown: OnUnknown = "ignore", keep: int | None = None
    ) -> SessionState:
        """A live session starting from ``history``: ``add`` events, ``recommend`` after each.

        Args:
            history: Earlier events, or None.
            on_unknown: As in :meth:`recommend`, for the history and every ``add``.
            keep: Events re-encoded when the KV cache is full (default ``max_len // 2``); see
                :mod:`segue.api.session_state` for the policy.
        """
        return SessionState(self.model, self.catalogue, history, on_unknown, keep)

    def continue_playlist(
        self,
        seed_tracks: History,
        n: int = 30,
        *,
        constraints: Constraints | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        on_unknown: OnUnknown = "ignore",
        **rules: Unpack[ConstraintFields],
    ) -> pd.DataFrame:
        """Extend a playlist by ``n`` tracks, each pick fed back as context for the next.

        Args:
            seed_tracks: The playlist so far (ids or an event table); may be empty.
            n: Tracks to add.
            constraints: What may be picked, as one :class:`Constraints`; its
                ``exclude_played`` is not read (repeats are ``no_repeat_window``'s).
            temperature: None picks the best track (greedy); a value > 0 samples from
                ``softmax(score / temperature)``.
            seed: Seed of the sampling, for reproducible playlists.
            on_unknown: As in :meth:`recommend`, for the seed tracks.
            **rules: Fields of :class:`Constraints` as keywords, on top of ``constraints``:
                ``no_repeat_window`` (a track may not reappear within this many positions,
                seeds included; None, the default, never repeats a track, 0 allows repeats),
                ``max_per_artist`` (of the generated tracks), ``allow``, ``block``,
                ``exclude_artists``.

        Returns:
            ``position, track_id, score[, artist, track_name]`` with positions 1..n; fewer rows
            (and ``attrs["exhausted"]``) when the constraints run out of tracks.
        """
        wanted = constraints_from(constraints, rules, "continue_playlist")
        state = self.session(seed_tracks, on_unknown=on_unknown)
        return continue_playlist(state, n, constraints=wanted, temperature=temperature, seed=seed)

    def playlist_tracks(
        self,
        seed_tracks: History,
        n: int = 30,
        *,
        constraints: Constraints | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        on_unknown: OnUnknown = "ignore",
        **rules: Unpack[ConstraintFields],
    ) -> TrackLists:
        """:meth:`continue_playlist` as arrays (one row: the picks in order, their scores,
        ``exhausted``), for callers that format it themselves; no cold-start warning."""
        wanted = constraints_from(constraints, rules, "playlist_tracks")
        state = self.session(seed_tracks, on_unknown=on_unknown)
        return generate_playlist(state, n, constraints=wanted, temperature=temperature, seed=seed)
