"""Pick a loss by its config name; the callable samples its own negatives.

The training loop stays the same whatever the loss: every loss receives a
:class:`~segue.training.losses.inputs.LossInputs` (see :func:`segue.training.batch_loss`)::

    loss_fn = loss_for("gbce", n_tracks=vocab.n_tracks, n_negatives=256)
    loss = loss_fn(LossInputs.plain(hidden, model.catalogue_embeddings(), targets))

:data:`LOSSES` is the registry: a name, the function that computes the loss from the configured
:class:`TrackLoss` and the inputs, and whether it can carry a history prior's terms. A new loss
is its own file, one entry here, and its test; ``loss.name=<name>`` then selects it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from segue.checks import check_choice, check_field_types, check_integer, check_number
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

SAMPLERS = ("uniform", "popularity", "in_batch")

UNDRAWN_SAMPLERS = ("popularity", "in_batch")
"""Samplers that never draw a track without training plays (a ``catalogue="log"`` track, see
:func:`segue.data.prepare_data`): only negatives teach such a track's score to stay low."""


@dataclass
class TrackLoss:
    """A configured loss: ``loss(LossInputs) -> scalar``.

    Args:
        name: A key of :data:`LOSSES`: "softmax", "sampled_softmax", "gbce", "bce",
            "window_masked_softmax" (a full softmax in which the row's other window items are
            not negatives, for logs without repeats evaluated with seen items excluded; see
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
        label_smoothing: Share of the full softmax's target spread uniformly over the
            catalogue (``F.cross_entropy``'s ``label_smoothing``); "softmax" only, and not with
            a history prior, whose scores are not the softmax's alone. A regulariser for
            sparse logs (Amazon Beauty: validation NDCG@10 +2%, test level; README).
    """

    name: str
    n_tracks: int
    n_negatives: int = 256
    sampler: str = "uniform"
    counts: torch.Tensor | None = None
    shared_negatives: bool = True
    gbce_t: float = 0.75
    chunk_size: int | None = None
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        # Messages start with the field, so that scripts name the setting (loss.name=...).
        check_choice("name", self.name, LOSSES)
        check_choice("sampler", self.sampler, SAMPLERS)
        check_field_types(self)  # the plain fields; counts are checked by use
        check_integer("n_tracks", self.n_tracks, minimum=1)
        check_integer("n_negatives", self.n_negatives, minimum=1)
        if self.chunk_size is not None:
            check_integer("chunk_size", self.chunk_size, minimum=1)
        check_number("gbce_t", self.gbce_t, low=0.0, high=1.0)
        # 1 would spread the whole target uniformly: nothing left to learn.
        check_number("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)
        if self.label_smoothing and self.name != "softmax":
            raise ValueError(
                f"label_smoothing applies to the full softmax (loss=softmax), not to "
                f"{self.name!r}; set loss.label_smoothing=0 or use loss=softmax"
            )
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

    @property
    def skips_unplayed_tracks(self) -> bool:
        """Whether no negative of this loss is ever a track without training plays: sampled
        from a popularity or in-batch sampler. Such a track's score would stay untrained."""
        return self.name in ("sampled_softmax", "bce") and self.sampler in UNDRAWN_SAMPLERS

    def check_unplayed_tracks(self, unplayed: int) -> None:
        """Refuse a sampler that would leave ``unplayed`` tracks (no training plays) untrained.

        Their scores would stay at their initial values and land anywhere in every ranking.
        """
        if unplayed and self.skips_unplayed_tracks:
            raise ValueError(
                f"{unplayed:,} tracks of the catalogue have no training plays (data.catalogue="
                f"log), and the {self.sampler} sampler never draws them as negatives, so their "
                "scores would stay untrained; use a uniform sampler, the full softmax, or "
                "data.catalogue=train"
            )

    def check_prior(self) -> None:
        """Refuse a history prior with a loss that cannot add its terms, before training."""
        if not LOSSES[self.name].takes_prior:
            with_prior = tuple(name for name, entry in LOSSES.items() if entry.takes_prior)
            raise ValueError(
                f"loss {self.name!r} cannot train a model with a history prior; use one of "
                f"{with_prior} or set model.history_prior=false"
            )
        if self.name == "sampled_softmax" and not self.shared_negatives:
            raise ValueError("the history prior needs shared negatives (shared_negatives=true)")
        if self.label_smoothing:
            raise ValueError(
                "label_smoothing is not supported with a history prior (its uniform share "
                "would smooth only the dense scores); set label_smoothing=0"
            )

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.prior is not None:
            self.check_prior()
        return LOSSES[self.name].function(self, inputs)


def _softmax(loss: TrackLoss, inputs: LossInputs) -> torch.Tensor:
    if inputs.prior is not None:
        return adjusted_full_softmax_ce(
            inputs.hidden, inputs.item_emb, inputs.targets, inputs.prior, loss.chunk_size
        )
    return full_softmax_ce(
        inputs.hidden,
        inputs.item_emb,
        inputs.targets,
        loss.chunk_size,
        label_smoothing=loss.label_smoothing,
    )


def _window_masked_softmax(loss: TrackLoss, inputs: LossInputs) -> torch.Tensor:
    if inputs.batch is None or inputs.batch.targets is None:
        raise ValueError("window_masked_softmax needs the batch in its LossInputs")
    window = torch.cat([inputs.batch.tracks, inputs.batch.targets], dim=1)  # (B, 2T)
    return window_masked_softmax_ce(
        inputs.hidden, inputs.item_emb, inputs.targets, window, inputs.batch_rows(), inputs.prior
    )


def _bce(loss: TrackLoss, inputs: LossInputs) -> torch.Tensor:
    sample = loss.sample(inputs.targets, 1, per_row=True, generator=inputs.generator)
    return bce_one_negative(inputs.hidden, inputs.item_emb, inputs.targets, sample.items)


def _negatives(loss: TrackLoss, inputs: LossInputs) -> NegativeSample:
    per_row = not loss.shared_negatives
    return loss.sample(inputs.targets, loss.n_negatives, per_row, inputs.generator)


def _gbce(loss: TrackLoss, inputs: LossInputs) -> torch.Tensor:
    sample = _negatives(loss, inputs)
    return gbce(
        inputs.hidden, inputs.item_emb, inputs.targets, sample.items, loss.n_tracks, loss.gbce_t
    )


def _sampled_softmax(loss: TrackLoss, inputs: LossInputs) -> torch.Tensor:
    sample = _negatives(loss, inputs)
    if inputs.prior is not None:
        return adjusted_sampled_softmax(
            inputs.hidden,
            inputs.item_emb,
            inputs.targets,
            sample.items,
            sample.log_q,
            inputs.prior,
        )
    return sampled_softmax(
        inputs.hidden, inputs.item_emb, inputs.targets, sample.items, sample.log_q
    )


@dataclass(frozen=True)
class LossEntry:
    """A registered loss: ``function(configured_loss, inputs) -> scalar``, and whether it adds
    a history prior's terms to its logits (:class:`LossInputs` ``prior``)."""

    function: Callable[[TrackLoss, LossInputs], torch.Tensor]
    takes_prior: bool


LOSSES: dict[str, LossEntry] = {
    "softmax": LossEntry(_softmax, takes_prior=True),
    "sampled_softmax": LossEntry(_sampled_softmax, takes_prior=True),
    "window_masked_softmax": LossEntry(_window_masked_softmax, takes_prior=True),
    "gbce": LossEntry(_gbce, takes_prior=False),
    "bce": LossEntry(_bce, takes_prior=False),
}
"""The registry of losses by config name (``loss.name``)."""


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
