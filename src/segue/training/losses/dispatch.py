"""Pick a loss by its config name; the callable samples its own negatives.

The training loop stays the same whatever the loss: every loss receives a
:class:`~segue.training.losses.inputs.LossInputs` (see :func:`segue.training.batch_loss`)::

    loss_fn = loss_for("gbce", n_tracks=vocab.n_tracks, n_negatives=256)
    loss = loss_fn(LossInputs.plain(hidden, model.catalogue_embeddings(), targets))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from segue.checks import check_field_types, check_integer, check_number
from segue.training.losses.adjusted import adjusted_full_softmax_ce, adjusted_sampled_softmax
from segue.training.losses.binary import bce_one_negative, gbce
from segue.training.losses.full_softmax import full_softmax_ce
from segue.training.losses.inputs import LossInputs
from segue.training.losses.sampled_softmax import sampled_softmax
from segue.training.losses.samplers import (
    NegativeSample,
    in_batch_negatives,
    popularity_negatives,
    uniform_negatives,
)
from segue.training.losses.window_masked import window_masked_softmax_ce

LOSSES = ("softmax", "sampled_softmax", "gbce", "bce", "window_masked_softmax")
WITH_PRIOR = ("softmax", "sampled_softmax", "window_masked_softmax")
"""Losses that can add a history prior's sparse terms to their logits."""
SAMPLERS = ("uniform", "popularity", "in_batch")


@dataclass
class TrackLoss:
    """A configured loss: ``loss(LossInputs) -> scalar``.

    Args:
        name: One of "softmax", "sampled_softmax", "gbce", "bce", "window_masked_softmax" (a
            full softmax in which the row's other window items are not negatives, for logs
            without repeats evaluated with seen items excluded; see
            :mod:`segue.training.losses.window_masked`).
        n_tracks: Catalogue size.
        n_negatives: K for the sampled losses ("bce" always uses one per row).
        sampler: "uniform", "popularity" or "in_batch" (the batch's distinct targets, so
            ``n_negatives`` is ignored; sampled_softmax only). gbce's calibration assumes
            uniform negatives.
        counts: Per-track training counts, (V,), for the popularity sampler.
        shared_negatives: One set of K negatives for the whole batch, scored with one matrix
            product, instead of K per row, which gathers an (N, K, D) tensor.
        gbce_t: gBCE calibration strength.
        chunk_size: Catalogue chunk of the full softmax; None picks one automatically.
    """

    name: str
    n_tracks: int
    n_negatives: int = 256
    sampler: str = "uniform"
    counts: torch.Tensor | None = None
    shared_negatives: bool = True
    gbce_t: float = 0.75
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"unknown loss {self.name!r}; choose from {LOSSES}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose from {SAMPLERS}")
        check_field_types(self)  # the plain fields; counts are checked by use
        check_integer("n_tracks", self.n_tracks, minimum=1)
        check_integer("n_negatives", self.n_negatives, minimum=1)
        if self.chunk_size is not None:
            check_integer("chunk_size", self.chunk_size, minimum=1)
        check_number("gbce_t", self.gbce_t, low=0.0, high=1.0)
        if self.sampler == "popularity" and self.counts is None:
            raise ValueError("the popularity sampler needs counts")
        if self.name == "gbce" and self.sampler != "uniform":
            raise ValueError("gbce's calibration assumes uniform negatives")
        if self.name == "bce" and self.sampler == "in_batch":
            raise ValueError("bce draws one negative per row; use uniform or popularity")

    def sample(
        self,
        targets: torch.Tensor,
        n_negatives: int,
        per_row: bool,
        generator: torch.Generator | None = None,
    ) -> NegativeSample:
        """Draw negatives for a batch of targets (N,)."""
        n_rows = len(targets) if per_row else None
        if self.sampler == "in_batch":
            return in_batch_negatives(targets, self.n_tracks)
        if self.sampler == "popularity":
            assert self.counts is not None
            return popularity_negatives(
                self.counts.to(targets.device), n_negatives, n_rows, generator=generator
            )
        return uniform_negatives(
            self.n_tracks, n_negatives, n_rows, generator=generator, device=targets.device
        )

    def check_prior(self) -> None:
        """Refuse a history prior with a loss that cannot add its terms, before training."""
        if self.name not in WITH_PRIOR:
            raise ValueError(
                f"loss {self.name!r} cannot train a model with a history prior; use one of "
                f"{WITH_PRIOR} or set model.history_prior=false"
            )
        if self.name == "sampled_softmax" and not self.shared_negatives:
            raise ValueError("the history prior needs shared negatives (shared_negatives=true)")

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        hidden, item_emb, targets = inputs.hidden, inputs.item_emb, inputs.targets
        if inputs.prior is not None:
            self.check_prior()
        if self.name == "softmax":
            if inputs.prior is not None:
                return adjusted_full_softmax_ce(
                    hidden, item_emb, targets, inputs.prior, self.chunk_size
                )
            return full_softmax_ce(hidden, item_emb, targets, self.chunk_size)
        if self.name == "window_masked_softmax":
            if inputs.batch is None or inputs.batch.targets is None:
                raise ValueError("window_masked_softmax needs the batch in its LossInputs")
            window = torch.cat([inputs.batch.tracks, inputs.batch.targets], dim=1)  # (B, 2T)
            return window_masked_softmax_ce(
                hidden, item_emb, targets, window, inputs.batch_rows(), inputs.prior
            )
        if self.name == "bce":
            sample = self.sample(targets, 1, per_row=True, generator=inputs.generator)
            return bce_one_negative(hidden, item_emb, targets, sample.items)
        per_row = not self.shared_negatives
        sample = self.sample(targets, self.n_negatives, per_row, inputs.generator)
        if self.name == "gbce":
            return gbce(hidden, item_emb, targets, sample.items, self.n_tracks, self.gbce_t)
        if inputs.prior is not None:
            return adjusted_sampled_softmax(
                hidden, item_emb, targets, sample.items, sample.log_q, inputs.prior
            )
        return sampled_softmax(hidden, item_emb, targets, sample.items, sample.log_q)


def loss_for(name: str, n_tracks: int, **params: Any) -> TrackLoss:
    """Build the loss a config names, e.g. ``loss_for("gbce", n_tracks, n_negatives=256)``.

    Args:
        name: One of :data:`LOSSES`.
        n_tracks: Catalogue size.
        **params: Other :class:`TrackLoss` fields.

    >>> loss_for("gbce", 100, n_negatives=16).n_negatives
    16
    """
    return TrackLoss(name, n_tracks, **params)
