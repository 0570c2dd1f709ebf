"""Everything about the catalogue that inference reads, precomputed once when a model is loaded.

A :class:`Catalogue` is read-only after construction: requests and sessions share it across
threads without locks. Indices follow :class:`segue.data.vocab.TrackVocab`: 0 is padding,
1..n_tracks the tracks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from segue.api.cpu_product import catalogue_product
from segue.data.vocab import TrackVocab
from segue.models.transformer import TrackTransformer

if TYPE_CHECKING:  # segue.retrieval needs FAISS (extra "scale"); the catalogue does not
    from segue.api.int8_screen import Int8Screen
    from segue.retrieval.retriever import Retriever


@dataclass(frozen=True)
class Catalogue:
    """Read-only arrays for scoring, filtering and labelling tracks.

    Args:
        embeddings: Output embedding of every index, (V, D) with V = n_tracks + 1, contiguous,
            on the model's device; row 0 is padding. A view of the model's weights (no copy).
        norms: L2 norm of each row of ``embeddings``, (V,), for cosine similarity.
        popularity: Play counts as float32 scores for cold start, (V,); -inf at padding.
        artist_of_track: Artist index of each track (0 = unknown), (V,) int64 numpy.
        track_ids: External id of each index, (V,) object; entry 0 is None.
        artists: Artist name of each index, (V,) object, or None when the vocabulary has none.
        names: Track title of each index, (V,) object, or None.
        index: External id -> track index.
        tracks_by_artist: Track indices grouped by artist (CSR values), (n_tracks,) int64.
        artist_offsets: Where each artist's tracks start in ``tracks_by_artist``,
            (n_artists + 2,) int64.
        retriever: Approximate retrieval over ``embeddings`` (:mod:`segue.retrieval`), or None:
            when set and the catalogue is above its exhaustive-is-faster size, ranked lists
            come from its candidates re-ranked exactly (:func:`segue.api.ranking.rank`).
        screen: An int8 copy of ``embeddings`` that finds the exhaustive path's lists while
            reading a quarter of the bytes (:mod:`segue.api.int8_screen`), or None.
    """

    embeddings: torch.Tensor
    norms: torch.Tensor
    popularity: torch.Tensor
    artist_of_track: np.ndarray
    track_ids: np.ndarray
    artists: np.ndarray | None
    names: np.ndarray | None
    index: dict[str, int]
    tracks_by_artist: np.ndarray
    artist_offsets: np.ndarray
    retriever: Retriever | None = None
    screen: Int8Screen | None = None

    @classmethod
    def build(cls, model: TrackTransformer, vocab: TrackVocab) -> Catalogue:
        """Precompute the catalogue arrays of ``model`` (already on its device) and ``vocab``."""
        if model.config.n_tracks != vocab.n_tracks:
            raise ValueError(
                f"model has {model.config.n_tracks} tracks but the vocabulary {vocab.n_tracks}"
            )
        with torch.no_grad():
            embeddings = model.catalogue_embeddings().detach().contiguous()  # (V, D)
        device = embeddings.device
        popularity = torch.as_tensor(vocab.popularity(), dtype=torch.float32, device=device)
        popularity[0] = float("-inf")
        n = vocab.n_tracks
        artist_of_track = vocab.artist_index(np.arange(n + 1))  # (V,)
        # Counting sort by artist: the tracks of artist a are values[offsets[a]:offsets[a+1]].
        by_artist = np.argsort(artist_of_track[1:], kind="stable") + 1
        counts = np.bincount(artist_of_track[1:], minlength=vocab.n_artists + 1)
        return cls(
            embeddings=embeddings,
            norms=embeddings.norm(dim=1),
            popularity=popularity,
            artist_of_track=artist_of_track,
            track_ids=_with_padding(vocab.track_ids),
            artists=_with_padding(vocab.artists) if vocab.artists is not None else None,
            names=_with_padding(vocab.names) if vocab.names is not None else None,
            index=vocab.positions,
            tracks_by_artist=by_artist.astype(np.int64),
            artist_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )

    def with_retriever(self, retriever: Retriever | None) -> Catalogue:
        """This catalogue with ``retriever`` attached (None detaches); arrays are shared.

        Raises:
            ValueError: If the retriever's index was built for another catalogue size or width.
        """
        if retriever is not None:
            index = retriever.index
            if (index.n_tracks + 1, index.dim) != tuple(self.embeddings.shape):
                raise ValueError(
                    f"the index covers {index.n_tracks} tracks x {index.dim} dims, the "
                    f"catalogue {self.size - 1} x {self.embeddings.shape[1]}"
                )
        return replace(self, retriever=retriever)

    def with_screen(self, screen: Int8Screen | None) -> Catalogue:
        """This catalogue with ``screen`` (built from ``embeddings``) attached; None detaches."""
        return replace(self, screen=screen)

    @property
    def size(self) -> int:
        """V = n_tracks + 1, the number of score columns."""
        return int(self.embeddings.shape[0])

    @property
    def device(self) -> torch.device:
        return self.embeddings.device

    def lookup(self, track_ids: Iterable[object]) -> tuple[np.ndarray, list[str]]:
        """Indices of the known ids, in order, and the unknown ids (as strings).

        Ids are compared as strings, like :meth:`TrackVocab.encode`; a dict lookup per id is
        an order of magnitude cheaper than ``encode``'s pandas map on short histories.
        """
        found, unknown = [], []
        get = self.index.get
        for track in track_ids:
            key = track if isinstance(track, str) else str(track)
            i = get(key)
            if i is None:
                unknown.append(key)
            else:
                found.append(i)
        return np.asarray(found, dtype=np.int64), unknown

    def tracks_of_artist(self, artist: int) -> np.ndarray:
        """Track indices of artist index ``artist`` (>= 1), (n,) int64."""
        return self.tracks_by_artist[self.artist_offsets[artist] : self.artist_offsets[artist + 1]]

    def score(self, hidden: torch.Tensor) -> torch.Tensor:
        """Dot-product scores over the catalogue, (B, V); column 0 (padding) is -inf.

        Args:
            hidden: Last hidden states, (B, D).
        """
        scores = catalogue_product(hidden, self.embeddings)  # (B, V): one GEMV when B == 1
        scores[:, 0] = float("-inf")
        return scores

    def cosine(self, index: int) -> torch.Tensor:
        """Cosine similarity of every index to track ``index``, (V,); padding is -inf."""
        query = self.embeddings[index]  # (D,)
        denom = (self.norms * self.norms[index]).clamp_min(1e-12)  # (V,)
        sims = catalogue_product(query[None], self.embeddings)[0] / denom  # (V,)
        sims[0] = float("-inf")
        return sims


def _with_padding(values: list) -> np.ndarray:
    """``values`` as an object array indexed by track index: entry 0 (padding) is None."""
    out = np.empty(len(values) + 1, dtype=object)
    out[0] = None
    out[1:] = values
    return out
