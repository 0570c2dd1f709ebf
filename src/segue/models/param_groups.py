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


def with_own_lr(
    groups: list[dict[str, Any]], params: list[nn.Parameter], lr: float
) -> list[dict[str, Any]]:
    """Move ``params`` out of ``groups`` into groups of their own at learning rate ``lr``.

    Each moved parameter keeps its group's other settings (its weight decay); groups left
    empty are dropped. The schedule (warmup + cosine, a ``LambdaLR``) scales every group's
    rate by the same factor, so the ratio to the shared rate holds throughout.

    Args:
        groups: Parameter groups, e.g. from :func:`param_groups`.
        params: The parameters to move.
        lr: Their learning rate.

    >>> lin = nn.Linear(2, 2)
    >>> split = with_own_lr(param_groups(lin, 0.1), [lin.bias], lr=0.5)
    >>> [(len(g["params"]), g["weight_decay"], g.get("lr")) for g in split]
    [(1, 0.1, None), (1, 0.0, 0.5)]
    """
    moved = {id(p) for p in params}
    shared, own = [], []
    for group in groups:
        stay = [p for p in group["params"] if id(p) not in moved]
        go = [p for p in group["params"] if id(p) in moved]
        if stay:
            shared.append({**group, "params": stay})
        if go:
            own.append({**group, "params": go, "lr": lr})
    return shared + own


def optimizer_groups(
    model: nn.Module, weight_decay: float, decay_all: bool, lr: float, prior_lr_scale: float
) -> list[dict[str, Any]]:
    """The parameter groups every optimizer is built on: weight decay on the block matrices
    only (unless ``decay_all``), and the history prior's parameters at ``prior_lr_scale``
    times ``lr`` when the model has a prior and the scale is not 1."""
    groups = (
        [{"params": list(model.parameters()), "weight_decay": weight_decay}]
        if decay_all
        else param_groups(model, weight_decay)
    )
    prior = getattr(model, "prior", None)
    if prior is None or prior_lr_scale == 1.0:
        return groups
    return with_own_lr(groups, list(prior.parameters()), lr * prior_lr_scale)
