"""Compact models: post-training int8 weights and the int8 artefact file.

Example::

    from segue.compress import compress_checkpoint, load_int8

    compress_checkpoint("outputs/best.pt", "outputs/best.int8.pt")
    artefact = load_int8("outputs/best.int8.pt")
"""

from segue.compress.artefact import Int8Artefact, compress_checkpoint, load_int8, save_int8
from segue.compress.int8 import (
    Int8Embedding,
    Int8Linear,
    Int8Rows,
    catalogue_rows,
    int8_scores,
    quantize_model,
)

__all__ = [
    "Int8Artefact",
    "Int8Embedding",
    "Int8Linear",
    "Int8Rows",
    "catalogue_rows",
    "compress_checkpoint",
    "int8_scores",
    "load_int8",
    "quantize_model",
    "save_int8",
]
