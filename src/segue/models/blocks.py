"""The transformer blocks a model config may name (``ModelConfig.block``), and the one factory.

Adding a block: its own file with a class that takes a :class:`ModelConfig`, is called as
``block(x, inputs, past) -> (x, (keys, values))`` (see :class:`SASRecBlock`), and has
``n_weights(config)`` and ``reads_elapsed_time``; one entry in :data:`BLOCKS`; a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from torch import nn

from segue.models.hstu import HSTUBlock
from segue.models.sasrec_block import SASRecBlock

if TYPE_CHECKING:
    from segue.models.config import ModelConfig


class BlockClass(Protocol):
    """What the model needs of a block class besides building it from a config."""

    reads_elapsed_time: bool
    """Whether the block reads :attr:`BlockInputs.elapsed` (the model computes it only then)."""

    def __call__(self, config: ModelConfig) -> nn.Module: ...

    def n_weights(self, config: ModelConfig) -> int:
        """A lower bound on the weights of one block, checked against a file before loading."""
        ...


BLOCKS: dict[str, BlockClass] = {
    "sasrec": SASRecBlock,  # softmax attention + feed-forward (SASRec, BERT4Rec)
    "hstu": HSTUBlock,  # pointwise attention with relative position and time bias (HSTU)
}


def block_class(name: str) -> BlockClass:
    """The block class of a name, or a ValueError naming the setting and the choices."""
    if name not in BLOCKS:
        raise ValueError(f"unknown model.block {name!r}; choose from {sorted(BLOCKS)}")
    return BLOCKS[name]


def build_blocks(config: ModelConfig) -> nn.ModuleList:
    """``config.n_layers`` freshly built blocks of ``config.block``."""
    cls = block_class(config.block)
    return nn.ModuleList(cls(config) for _ in range(config.n_layers))
