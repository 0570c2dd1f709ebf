"""Softmax losses whose logits carry sparse additive terms (the history prior).

A model with a history prior scores ``h . e_j + a_j`` where ``a`` is non-zero for a few hundred
tracks per query (:class:`segue.models.history_prior.PriorEntries`). Neither loss ever builds the
(N, V) logits:

* **full softmax**: the chunked kernel gives ``lse_n = logsumexp_j h . e_j``; the entries then
  replace their own terms, ``LSE'_n = log(exp(lse_n) - sum_e exp(s_e) + sum_e exp(s_e + a_e))``,
  computed stably as a logsumexp of ``lse_n + log(rest_n)`` (the mass outside the entries) and
  the entries' adjusted logits.
* **sampled softmax**: the target and the entries are enumerated exactly; the rest of the
  partition function is estimated from the shared negatives that are not entries, by importance
  sampling (``s_k - log(K q_k)``, Bengio & Senecal 2008). With no entries and a uniform sampler
  this is the sampled softmax with the ``log K`` constant made explicit.
"""

from __future__ import annotations

import math

import torch

from segue.models.history_prior import PriorEntries, values_at
from segue.training.losses._checks import check_negatives, check_scoring_inputs, reduce
from segue.training.losses.full_softmax import full_softmax_ce


def _entry_logits(
    hidden: torch.Tensor, item_emb: torch.Tensor, entries: PriorEntries
) -> torch.Tensor:
    """Unadjusted logits of the entries, (E,): the ones the prior computed when it did
    (``batch_loss`` gives both the same hidden states and table), else gathered here."""
    if entries.logits is not None:
        return entries.logits
    return (hidden[entries.rows] * item_emb[entries.items]).sum(dim=1)


def target_adjustment(entries: PriorEntries, targets: torch.Tensor) -> torch.Tensor:
    """The prior's value at each row's target, 0 where the target has no entry, (N,).

    >>> e = PriorEntries(torch.tensor([0, 1]), torch.tensor([2, 1]), torch.tensor([0.5, 1.0]))
    >>> target_adjustment(e, torch.tensor([2, 2])).tolist()
    [0.5, 0.0]
    """
    return values_at(entries, torch.arange(len(targets), device=targets.device), targets)


def _ragged_logsumexp(
    dense_term: torch.Tensor, rows: torch.Tensor, sparse_terms: torch.Tensor
) -> torch.Tensor:
    """Per row ``n``: logsumexp of ``dense_term[n]`` and every ``sparse_terms[e]`` with
    ``rows[e] == n``, (N,). float64 inside: the adjusted terms may be far apart."""
    dense_term, sparse_terms = dense_term.double(), sparse_terms.double()
    peak = dense_term.detach().clone()
    peak.scatter_reduce_(0, rows, sparse_terms.detach(), reduce="amax")  # (N,)
    peak = peak.nan_to_num(neginf=0.0)
    total = (dense_term - peak).exp()
    total = total.index_add(0, rows, (sparse_terms - peak[rows]).exp())
    return peak + total.log()


def adjusted_full_softmax_ce(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    entries: PriorEntries,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """``F.cross_entropy`` of the logits ``h . e_j`` plus the entries, over rows 1..V-1.

    Args:
        hidden: Hidden states at the positions that have a target, (N, D).
        item_emb: Track embeddings with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        entries: Additive logit terms, coalesced, rows in 0..N-1 and items in 1..V-1.
        chunk_size: Catalogue chunk of the full softmax.
        reduction: "mean", "sum" or "none".
    """
    check_scoring_inputs(hidden, item_emb, targets)
    target_logit = (hidden * item_emb[targets]).sum(dim=1)  # (N,)
    lse = full_softmax_ce(hidden, item_emb, targets, chunk_size, reduction="none") + target_logit
    logits = _entry_logits(hidden, item_emb, entries)  # (E,)
    inside = torch.zeros_like(lse).index_add(0, entries.rows, (logits - lse[entries.rows]).exp())
    # Mass outside the entries; clamped because it is negligible exactly when it cancels.
    outside = lse + (1.0 - inside).clamp(min=1e-30).log()  # (N,)
    new_lse = _ragged_logsumexp(outside, entries.rows, logits + entries.values)
    loss = new_lse - (target_logit + target_adjustment(entries, targets))
    return reduce(loss.to(hidden.dtype), reduction)


def adjusted_sampled_softmax(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor | None,
    entries: PriorEntries,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sampled softmax with the entries and the target enumerated exactly (module docstring).

    Args:
        hidden: (N, D). item_emb: (V, D). targets: (N,) in 1..V-1.
        negatives: Shared negatives, (K,); a negative that is the row's target, one of its
            entries, or padding is left out of that row's estimate.
        log_q: Log sampling probability of every track, (V,); None: uniform over 1..V-1.
        entries: Additive logit terms, coalesced.
        reduction: "mean", "sum" or "none".
    """
    check_scoring_inputs(hidden, item_emb, targets)
    check_negatives(negatives, hidden.shape[0])
    if negatives.dim() != 1:
        raise ValueError("the history prior needs shared negatives (shared_negatives=true)")
    V, K = item_emb.shape[0], len(negatives)
    target_logit = (hidden * item_emb[targets]).sum(dim=1)  # (N,)
    target_logit = target_logit + target_adjustment(entries, targets)
    log_weight = (
        log_q[negatives] + math.log(K)
        if log_q is not None
        else torch.full_like(negatives, math.log(K / (V - 1)), dtype=hidden.dtype)
    )  # (K,)
    neg = hidden @ item_emb[negatives].T - log_weight  # (N, K)
    # Leave out negatives that are enumerated exactly for that row (its entries, its target).
    unique, column = torch.unique(negatives, return_inverse=True)  # (U,), (K,)
    slot = torch.full((V,), -1, dtype=torch.long, device=negatives.device)
    slot[unique] = torch.arange(len(unique), device=negatives.device)
    enumerated = torch.zeros(len(targets), len(unique), dtype=torch.bool, device=hidden.device)
    entry_slot = slot[entries.items]
    sampled = entry_slot >= 0
    enumerated[entries.rows[sampled], entry_slot[sampled]] = True
    target_slot = slot[targets]
    has = target_slot >= 0
    enumerated[has.nonzero()[:, 0], target_slot[has]] = True
    left_out = enumerated[:, column] | (negatives == 0)[None, :]  # (N, K)
    neg = neg.masked_fill(left_out, float("-inf"))
    # The target is among the entries' rows only if it has an entry; add it on its own.
    not_target = entries.items != targets[entries.rows]
    entry_logits = _entry_logits(hidden, item_emb, entries) + entries.values
    rows = entries.rows[not_target]
    dense = torch.logsumexp(torch.cat((target_logit[:, None], neg), dim=1), dim=1)  # (N,)
    lse = _ragged_logsumexp(dense, rows, entry_logits[not_target])
    return reduce((lse - target_logit.double()).to(hidden.dtype), reduction)
