"""Tiny models with a history prior and a fitted transition table, for the serving parity tests.

Weights are spread out (N(0, 0.5)) so that scores and the prior's gate differ between queries as
in a trained model; the table is counted from a log where each track is usually followed by the
next one, so every track has a few strong successors.
"""

from __future__ import annotations

import numpy as np
import torch

from segue.data.vocab import TrackVocab
from segue.models import sasrec
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table
from segue.models.transformer import TrackTransformer

SIDE = {"n_artists": 5, "use_event_types": True, "use_gap_buckets": True}


def prior_vocab(n_tracks: int) -> TrackVocab:
    """Tracks t0..t{n-1} (t0 most played), artists a0..a4 by track number mod 5, each artist
    with two albums (b0, b1: track number // 5 even or odd)."""
    return TrackVocab(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        counts=list(range(n_tracks + 100, 100, -1)),
        artists=[f"a{i % 5}" for i in range(n_tracks)],
        albums=[f"b{i // 5 % 2}" for i in range(n_tracks)],
    )


def prior_model(
    n_tracks: int = 40,
    max_len: int = 8,
    side: bool = False,
    seed: int = 3,
    plays: bool = False,
    chain: bool = False,
    chain_rule: str = "known",
    plays_outside_chain: bool = False,
    combine: str = "sum",
    album: bool = False,
    album_fresh: int = 0,
    artist: bool = False,
    album_entry: bool = False,
    album_run: bool = False,
) -> TrackTransformer:
    """A causal model with a history prior (window 6, 4 successors, decay 0.8, the optional
    ``plays``, ``chain``, ``album``, ``artist``, ``album_entry`` and ``album_run`` features when
    asked,
    ``chain_rule`` for the second, met by ``combine``), eval mode; the album and artist tables
    are :func:`prior_vocab`'s, the album-entry counts the table's log's."""
    values: dict = {"d_model": 16, "n_layers": 1, "max_len": max_len, "seed": 1, "dropout": 0.0}
    if side:
        values.update(SIDE)
    model = sasrec(
        n_tracks,
        history_prior=True,
        prior_window=6,
        prior_successors=4,
        prior_decay=0.8,
        prior_plays=plays,
        prior_chain=chain,
        prior_chain_rule=chain_rule,
        prior_plays_outside_chain=plays_outside_chain,
        prior_combine=combine,
        prior_album=album,
        prior_album_tracks=3,
        prior_album_fresh=album_fresh,
        prior_artist=artist,
        prior_artist_tracks=3,
        prior_album_entry=album_entry,
        prior_album_run=album_run,
        **values,
    )
    spread_weights(model, seed)
    assert model.prior is not None
    rng = np.random.default_rng(seed)
    steps = np.where(rng.random(3000) < 0.7, 1, rng.integers(2, n_tracks, 3000))
    if album_entry or album_run:  # a fifth of the steps go ten tracks on, to the same album
        steps = np.where(rng.random(3000) < 0.2, 10, steps)
    tracks = (np.cumsum(steps) % n_tracks) + 1  # (M,): mostly "the next track"
    group_start = np.repeat(np.arange(0, 3000, 100), 100)
    model.prior.fit_table(tracks, group_start)
    if album:
        model.prior.fit_albums(album_mates_table(prior_vocab(n_tracks), n_mates=3))
    if artist:
        model.prior.fit_artists(*artist_mates_table(prior_vocab(n_tracks), n_mates=3))
    if album_entry:
        mates = model.prior.album_mates.numpy()
        model.prior.fit_album_entries(album_entry_counts(tracks, group_start, mates))
    return model.eval()


def random_histories(n: int, n_tracks: int, max_length: int, seed: int) -> list[list[str]]:
    """``n`` histories of 1..max_length ids drawn from a few tracks each (many repeats)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pool = rng.integers(0, n_tracks, 4)
        length = int(rng.integers(1, max_length + 1))
        out.append([f"t{i}" for i in rng.choice(pool, length)])
    return out


def spread_weights(model: TrackTransformer, seed: int, std: float = 0.5) -> None:
    """Every matrix drawn from N(0, std^2) (the padding row zero), so that scores spread out as
    a trained model's do, in place."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
        model.track_emb.weight[0].zero_()
