"""Builder functions, the ``_target_`` of model configs: ``segue.models.builders.sasrec``.

The catalogue size is known only once the data is loaded, so it is the one positional argument;
Hydra passes it at instantiation (``instantiate(cfg.model, n_tracks=vocab.n_tracks)``).
"""

from __future__ import annotations

from typing import Any

from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer


def sasrec(n_tracks: int, **overrides: Any) -> TrackTransformer:
    """SASRec (Kang & McAuley 2018): causal, learned positions, feed-forward width = d_model.

    Args:
        n_tracks: Catalogue size.
        **overrides: Any :class:`ModelConfig` field.

    Returns:
        A freshly initialised model.
    """
    values: dict[str, Any] = {"objective": "causal", "positions": "learned", "dropout": 0.2}
    values.update(overrides)
    return TrackTransformer(ModelConfig(n_tracks=n_tracks, **values))


def bert4rec(n_tracks: int, **overrides: Any) -> TrackTransformer:
    """BERT4Rec (Sun et al. 2019): masked objective, feed-forward width 4 * d_model, dropout 0.1.

    Args:
        n_tracks: Catalogue size.
        **overrides: Any :class:`ModelConfig` field.

    Returns:
        A freshly initialised model.
    """
    d_model = overrides.get("d_model", 64)
    values: dict[str, Any] = {
        "objective": "masked",
        "positions": "learned",
        "dropout": 0.1,
        "d_ff": 4 * d_model,
    }
    values.update(overrides)
    return TrackTransformer(ModelConfig(n_tracks=n_tracks, **values))
