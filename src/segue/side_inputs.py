"""The per-position side inputs a model may read, declared once.

Each row names one input everywhere it appears: the :class:`segue.data.batch.SequenceBatch`
attribute (also the ONNX input name and the :class:`segue.data.sequences.SideInputs` field),
the :class:`segue.models.config.ModelConfig` field that turns it on, the field that holds its
vocabulary size, and the model's embedding table (a state-dict key, so it never changes).
Batching, masking, the model, serving and export loop over :data:`SIDE_INPUTS` instead of
spelling the three inputs out.

Torch-free and dependency-free: the ONNX runtime reads it too.

Adding a side input: a row here, the batch attribute and the ``SideInputs`` field of the same
name, the two ``ModelConfig`` fields, and the column that derives it from the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SideInput:
    """One per-position input summed into the token embedding.

    Args:
        name: Batch attribute, ONNX input name and ``SideInputs`` field.
        flag: ``ModelConfig`` field that turns the input on (a bool, or a count where 0 is off).
        size: ``ModelConfig`` field holding the vocabulary size.
        extra_rows: Embedding rows beyond ``size``: 1 where ``size`` counts the ids 1..size
            without the padding row 0.
        embedding: Attribute of the model's embedding table (a state-dict key).
        per_track: A property of the track (looked up from the catalogue), not of the event:
            callers never pass it, and an exported graph looks it up itself.
    """

    name: str
    flag: str
    size: str
    extra_rows: int
    embedding: str
    per_track: bool = False

    def enabled(self, config: Any) -> bool:
        """Whether a model config (a ``ModelConfig`` or its dict) reads this input.

        >>> artists, event_types, _ = SIDE_INPUTS
        >>> artists.enabled({"n_artists": 0}), event_types.enabled({"use_event_types": True})
        (False, True)
        """
        return bool(_field(config, self.flag))

    def n_rows(self, config: Any) -> int:
        """Rows of the embedding table, padding row 0 included.

        >>> SIDE_INPUTS[0].n_rows({"n_artists": 5})
        6
        """
        return int(_field(config, self.size)) + self.extra_rows


SIDE_INPUTS = (
    SideInput("artists", "n_artists", "n_artists", 1, "artist_emb", per_track=True),
    SideInput("event_types", "use_event_types", "n_event_types", 0, "event_emb"),
    SideInput("gap_buckets", "use_gap_buckets", "n_gap_buckets", 0, "gap_emb"),
)
"""Every side input, in the order they are summed into the token and passed to ONNX."""

SIDE_INPUT_NAMES = tuple(s.name for s in SIDE_INPUTS)


def enabled_side_inputs(config: Any) -> tuple[SideInput, ...]:
    """The side inputs a model config reads, in :data:`SIDE_INPUTS` order.

    >>> [s.name for s in enabled_side_inputs({"n_artists": 3, "use_event_types": False,
    ...                                        "use_gap_buckets": True})]
    ['artists', 'gap_buckets']
    """
    return tuple(s for s in SIDE_INPUTS if s.enabled(config))


def _field(config: Any, name: str) -> Any:
    return config[name] if isinstance(config, Mapping) else getattr(config, name)
