"""A tiny vocabulary and models for the int8 tests: 60 tracks, 4 artists, max_len 12."""

from __future__ import annotations

import torch

from segue.data.vocab import TrackVocab
from segue.models import TrackTransformer, sasrec

N_TRACKS = 60
MAX_LEN = 12


def tiny_vocab(n_tracks: int = N_TRACKS) -> TrackVocab:
    return TrackVocab(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        counts=list(range(2 * n_tracks, n_tracks, -1)),
        artists=[f"a{i % 4}" for i in range(n_tracks)],
    )


def tiny_model(seed: int = 0, **overrides: object) -> TrackTransformer:
    """A random model whose embeddings are spread out like trained ones (N(0, 1), not 0.02)."""
    model = sasrec(N_TRACKS, d_model=16, n_layers=1, max_len=MAX_LEN, seed=seed, **overrides)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        model.track_emb.weight[1:].copy_(
            torch.randn(model.track_emb.weight[1:].shape, generator=gen)
        )
    return model.eval()
