"""Optimizer parameter groups: weight decay on matrices only."""

from __future__ import annotations

from typing import Any

from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split parameters into a decayed group and a non-decayed one.

    Weight decay applies to the weight matrices of linear layers; norms, biases and embeddings
    (track, artist, side-input and position tables) are excluded, since decaying embeddings
    shrinks rarely seen tracks towards zero regardless of the data.

    Args:
        model: Any module.
        weight_decay: Decay of the first group.

    Returns:
        Two dicts ready for ``torch.optim.AdamW(param_groups(model, 0.01), lr=...)``.

    >>> groups = param_groups(nn.Sequential(nn.Embedding(3, 2), nn.Linear(2, 2)), 0.1)
    >>> [(g["weight_decay"], len(g["params"])) for g in groups]
    [(0.1, 1), (0.0, 2)]
    """
    decay, no_decay = [], []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            if isinstance(module, nn.Linear) and name == "weight":
                decay.append(param)
            else:
                no_decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
