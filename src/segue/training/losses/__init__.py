"""Losses over the track catalogue: pure functions, and a dispatcher by config name."""

from segue.training.losses.binary import bce_one_negative, gbce, gbce_beta
from segue.training.losses.dispatch import TrackLoss, loss_for
from segue.training.losses.full_softmax import full_softmax_ce
from segue.training.losses.inputs import LossInputs
from segue.training.losses.sampled_softmax import sampled_softmax
from segue.training.losses.samplers import (
    NegativeSample,
    in_batch_negatives,
    popularity_negatives,
    uniform_negatives,
)

__all__ = [
    "LossInputs",
    "NegativeSample",
    "TrackLoss",
    "bce_one_negative",
    "full_softmax_ce",
    "gbce",
    "gbce_beta",
    "in_batch_negatives",
    "loss_for",
    "popularity_negatives",
    "sampled_softmax",
    "uniform_negatives",
]
