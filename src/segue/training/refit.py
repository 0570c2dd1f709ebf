"""The refit protocol: choose on validation, retrain on train + validation, test once.

A temporal split holds out the most recent behaviour twice: the test window, and the
validation window just before it. Choosing the number of epochs (and every other setting) needs
the validation window; testing a model that never saw it throws away the listening closest to
the test period. The refit protocol, standard practice for temporal splits, runs in two steps:

1. train on train, validate every epoch, and keep the best epoch ``e`` (and the settings);
2. retrain from scratch on train + validation, with the same settings, for ``e`` epochs and no
   validation (:func:`segue.training.trainer.fit` with ``validate=None``), then test once.

Baselines follow the same two steps: their settings are chosen on validation
(:func:`segue.evaluation.selection.choose_on_validation`), then they are fitted on the refit
data's training sequences. Both protocols are reported side by side by
``benchmarks/quality.py``.
"""

from __future__ import annotations

import dataclasses

from segue.data.settings import DataSettings

REFIT_SPLITS: dict[str, dict[str, object]] = {
    # The gap (sessions dropped before the validation window) would otherwise move up to the
    # test cut and drop the most recent days, from training and from the test histories too.
    "global_temporal": {"validation_days": 0, "gap_days": 0},
    "leave_last_out": {"validation": False},
    "held_out_sessions": {"validation": False},
}
"""Splits whose validation fold can be trained on -> the split options that move it to train."""


def refit_settings(settings: DataSettings) -> DataSettings:
    """The same data settings with the validation fold trained on (no validation fold).

    The test points are unchanged, so the refit model is tested on the same points (targets
    first heard in the validation window become known, which is the point of refitting). For a
    temporal split the validation window joins train, and so does the gap before it (``gap_days``
    keeps what is learned apart from what is validated; a refit validates nothing, and trains on
    everything before the test cut); for leave-last-out each user's
    validation item becomes the last training item; for held-out sessions each user's
    validation session becomes the last training session.

    Args:
        settings: The data settings of the run whose epochs were chosen on validation.

    Returns:
        Settings whose split has no validation fold and whose name ends in ``+refit``.

    Raises:
        ValueError: For a split with no such option (named, with the splits that have one).
    """
    if settings.split not in REFIT_SPLITS:
        raise ValueError(
            f"the refit protocol needs a split whose validation window can join train; "
            f"{settings.split!r} has none (supported: {list(REFIT_SPLITS)})"
        )
    options = {**settings.split_options, **REFIT_SPLITS[settings.split]}
    return dataclasses.replace(settings, name=f"{settings.name}+refit", split_options=options)
