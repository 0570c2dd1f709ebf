"""Tiny checkpoints and their ONNX bundles: 40 tracks, 5 artists, max_len 12, fixed seeds."""

from __future__ import annotations

from pathlib import Path

import torch

from segue.data.vocab import TrackVocab
from segue.io.checkpoint import Checkpoint, save_checkpoint
from segue.models import TrackTransformer, bert4rec, sasrec

N_TRACKS = 40
MAX_LEN = 12
SIDE = {"n_artists": 5, "use_event_types": True, "use_gap_buckets": True}
KINDS = ("sasrec", "side", "rotary_side", "bert4rec", "hstu")


def tiny_vocab() -> TrackVocab:
    """Tracks t0..t39, artists a0..a4 by track number mod 5, t39 of unknown artist."""
    artists: list[str | None] = [f"a{i % 5}" for i in range(N_TRACKS)]
    artists[-1] = None
    return TrackVocab(
        track_ids=[f"t{i}" for i in range(N_TRACKS)],
        counts=list(range(100, 100 - N_TRACKS, -1)),
        artists=artists,
        names=[f"song {i}" for i in range(N_TRACKS)],
    )


def tiny_model(kind: str) -> TrackTransformer:
    """sasrec; side (artist / event / gap inputs); rotary_side (and RoPE); bert4rec (with side);
    hstu (HSTU blocks, with side).

    Weights are spread out (N(0, 0.5)) so that scores differ as in a trained model."""
    values: dict = {"d_model": 16, "n_layers": 1, "max_len": MAX_LEN, "seed": 1}
    if kind != "sasrec":
        values.update(SIDE)
    if kind == "rotary_side":
        values["positions"] = "rotary"
    if kind == "hstu":
        values["block"] = "hstu"
    model = (bert4rec if kind == "bert4rec" else sasrec)(N_TRACKS, **values)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(7)
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        model.track_emb.weight[0].zero_()
    return model.eval()


def tiny_checkpoint(kind: str, folder: Path) -> Path:
    model = tiny_model(kind)
    checkpoint = Checkpoint(model.config, model.state_dict(), tiny_vocab())
    return save_checkpoint(checkpoint, folder / f"{kind}.pt")
