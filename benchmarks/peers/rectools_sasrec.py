"""Train RecTools' SASRecModel on a segue protocol export and write its top-k lists.

Run with the peer environment's interpreter:

    .venv-peers/bin/python benchmarks/peers/rectools_sasrec.py --data EXPORT --out OUT

Each training sequence is one RecTools user. Each test point becomes a pseudo-user whose
interactions are its history; RecTools' ``recommend`` accepts users that were not in the
training data as long as the dataset passed to it holds their interactions.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pandas as pd
from _common import (
    Export,
    FitReport,
    configure_torch,
    finite,
    load_export,
    make_epoch_logger,
    popular_items,
    quiet_libraries,
    run_cli,
    split_known,
    write_outputs,
)

LIBRARY = "rectools"
# Prefixes keep pseudo-user ids apart from training sequence ids whatever their values.
TRAIN_USER_PREFIX = "s"
POINT_USER_PREFIX = "p"


def interactions_frame(users: list[str], items: list[str], order: list[int]) -> pd.DataFrame:
    """Builds a RecTools interactions frame.

    The datetime column carries each event's position: RecTools orders a user's events by a
    stable sort on it, so positions keep the export's order even where timestamps tie.

    Args:
        users: User id per event.
        items: Item id per event.
        order: Position of the event within its user's sequence.

    Returns:
        Frame with RecTools' user_id, item_id, weight and datetime columns.
    """
    from rectools import Columns

    return pd.DataFrame(
        {
            Columns.User: users,
            Columns.Item: items,
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(order, unit="s"),
        }
    )


def train_dataset(export: Export) -> Any:
    """Turns train.parquet into a RecTools Dataset, one user per sequence."""
    from rectools.dataset import Dataset

    train = export.train
    users = [f"{TRAIN_USER_PREFIX}{s}" for s in train["sequence_id"]]
    frame = interactions_frame(users, train["item_id"].tolist(), train["position"].tolist())
    return Dataset.construct(frame)


def points_dataset(histories: dict[int, list[str]]) -> Any:
    """Turns the (known-item) histories of the test points into a RecTools Dataset."""
    from rectools.dataset import Dataset

    users: list[str] = []
    items: list[str] = []
    order: list[int] = []
    for point_id, history in histories.items():
        users.extend([f"{POINT_USER_PREFIX}{point_id}"] * len(history))
        items.extend(history)
        order.extend(range(len(history)))
    return Dataset.construct(interactions_frame(users, items, order))


def build_trainer(epochs: int, seed: int) -> Any:
    """Lightning trainer for RecTools: exactly ``epochs`` epochs on CPU, no logs or checkpoints.

    Args:
        epochs: Number of epochs.
        seed: Unused by the trainer; re-seeds right before it is built so that weight
            initialisation and shuffling start from the same state on every run.

    Returns:
        A ``pytorch_lightning.Trainer`` with the per-epoch logger attached.
    """
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)
    return pl.Trainer(
        max_epochs=epochs,
        min_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[make_epoch_logger(pl.Callback, LIBRARY, epochs)],
    )


def loss_config(n_negatives: int | None) -> dict[str, Any]:
    """``SASRecModel``'s loss kwargs: full softmax, or sampled softmax with N negatives.

    RecTools' ``CatalogUniformSampler`` (the default ``negative_sampler_type``) draws N item ids
    uniformly *with replacement* for every (sequence, position) of a batch, and the sampled
    softmax is a cross-entropy over [positive, N negatives]; a negative equal to the positive is
    not masked.
    """
    if n_negatives is None:
        return {"loss": "softmax"}
    return {"loss": "sampled_softmax", "n_negatives": n_negatives}


def loss_description(n_negatives: int | None) -> str:
    """The ``loss`` line of fit.json."""
    if n_negatives is None:
        return "softmax (full cross-entropy over all items)"
    return (
        f"sampled_softmax with n_negatives={n_negatives} (CatalogUniformSampler: uniform, with "
        "replacement, drawn independently for every sequence and position of a batch)"
    )


def negatives_gather_gb(export: Export) -> float:
    """Size in GB of the (batch, max_len, N + 1, d_model) float32 tensor of candidate embeddings
    that RecTools gathers per training batch for the sampled softmax (0 for full softmax)."""
    spec = export.spec
    if spec.n_negatives is None:
        return 0.0
    cells = spec.batch_size * spec.max_len * (spec.n_negatives + 1) * spec.d_model
    return cells * 4 / 1e9


def model_config(export: Export) -> dict[str, Any]:
    """The keyword arguments passed to ``SASRecModel`` (JSON-friendly, for fit.json)."""
    spec = export.spec
    return {
        "n_blocks": spec.n_blocks,
        "n_heads": spec.n_heads,
        "n_factors": spec.d_model,
        "dropout_rate": spec.dropout,
        "session_max_len": spec.max_len,
        "train_min_user_interactions": 2,
        **loss_config(spec.n_negatives),
        "lr": spec.lr,
        "batch_size": spec.batch_size,
        "epochs": spec.epochs,
        "use_pos_emb": True,
        "use_causal_attn": True,
        "dataloader_num_workers": 0,
        "recommend_batch_size": 256,
        "recommend_torch_device": "cpu",
        "recommend_use_torch_ranking": True,
        "recommend_n_threads": spec.threads,
        "verbose": 0,
    }


def padding_skipping_similarity() -> type:
    """RecTools' dot-product similarity, with the sampled-softmax logits computed lean.

    RecTools gathers a (batch, session_max_len, N + 1, n_factors) tensor of candidate embeddings
    for the sampled softmax, padded positions included (27 GB at batch 128, max_len 200,
    N 4096, 64 factors). This subclass computes the same dot products only at positions with a
    real target (``candidate_item_ids[..., 0] != 0``; RecTools' padding id is 0), in chunks of
    rows under activation checkpointing, and leaves 0 at padded positions. The loss ignores
    padded positions (their target is 0, its ``ignore_index``), so the loss, the gradients and
    the sampled negatives are those of the stock module; only memory and time differ.
    """
    import torch
    from rectools.models.nn.transformers.similarity import DistanceSimilarityModule
    from torch.utils.checkpoint import checkpoint

    def chunk_logits(
        item_embs: torch.Tensor, session_embs: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        # [rows, N + 1, n_factors] @ [rows, n_factors, 1] -> [rows, N + 1], as RecTools does.
        return (item_embs[candidates] @ session_embs.unsqueeze(-1)).squeeze(-1)

    class PaddingSkippingSimilarity(DistanceSimilarityModule):
        def _get_pos_neg_logits(
            self,
            session_embs: torch.Tensor,
            item_embs: torch.Tensor,
            candidate_item_ids: torch.Tensor,
        ) -> torch.Tensor:
            real = candidate_item_ids[..., 0] != 0
            rows = session_embs[real]  # [n_real, n_factors]
            candidates = candidate_item_ids[real]  # [n_real, N + 1]
            # About 256 MB of gathered embeddings per chunk.
            per_row = candidates.size(1) * item_embs.size(1) * item_embs.element_size()
            chunk = max(1, (256 << 20) // per_row)
            parts = [
                checkpoint(
                    chunk_logits,
                    item_embs,
                    rows[start : start + chunk],
                    candidates[start : start + chunk],
                    use_reentrant=False,
                )
                for start in range(0, rows.size(0), chunk)
            ]
            logits = session_embs.new_zeros(candidate_item_ids.shape)
            if parts:
                logits = logits.index_put((real,), torch.cat(parts))
            return logits

    return PaddingSkippingSimilarity


def build_model(export: Export, config: dict[str, Any]) -> Any:
    """Creates the SASRecModel with id embeddings only (the export has no item features).

    With a sampled softmax the similarity module is ``padding_skipping_similarity()``'s, which
    computes the stock module's logits without materialising them at padded positions.
    """
    from rectools.models import SASRecModel
    from rectools.models.nn.item_net import IdEmbeddingsItemNet

    extra: dict[str, Any] = {}
    if export.spec.n_negatives is not None:
        extra["similarity_module_type"] = padding_skipping_similarity()
    return SASRecModel(
        **config,
        **extra,
        item_net_block_types=(IdEmbeddingsItemNet,),
        get_trainer_func=build_trainer,
        get_trainer_func_kwargs={"epochs": export.spec.epochs, "seed": export.spec.seed},
    )


def epoch_times(model: Any) -> list[float]:
    """The per-epoch wall times recorded by the logger on the trainer RecTools fitted with."""
    trainer = getattr(model, "fit_trainer", None) or model._trainer
    for callback in trainer.callbacks:
        if hasattr(callback, "epoch_seconds"):
            return list(callback.epoch_seconds)
    return []


def recommend(model: Any, histories: dict[int, list[str]], k: int, exclude_seen: bool) -> Any:
    """Ranks items for every pseudo-user in one batched ``recommend`` call.

    Returns:
        Ranked item lists keyed by point_id.
    """
    if not histories:
        return {}
    dataset = points_dataset(histories)
    users = [f"{POINT_USER_PREFIX}{pid}" for pid in histories]
    recs = model.recommend(
        users=users, dataset=dataset, k=k, filter_viewed=exclude_seen, on_unsupported_targets="warn"
    )
    recs = recs.sort_values(["user_id", "rank"], kind="stable")
    ranked: dict[int, list[str]] = {}
    for user, items in recs.groupby("user_id", sort=False)["item_id"]:
        ranked[int(str(user)[len(POINT_USER_PREFIX) :])] = [str(i) for i in items]
    return ranked


def main(args: argparse.Namespace) -> None:
    """Loads the export, trains, predicts and writes the outputs."""
    export = load_export(args.data, args.epochs, args.max_points)
    spec = export.spec
    configure_torch(spec.threads, spec.seed)
    import rectools
    import torch
    from rectools.models import SASRecModel  # noqa: F401  (import before quieting its loggers)

    quiet_libraries()

    dataset = train_dataset(export)
    config = model_config(export)
    model = build_model(export, config)
    report = FitReport(
        library=LIBRARY,
        version=rectools.__version__,
        torch=torch.__version__,
        loss=loss_description(spec.n_negatives),
        config={
            **config,
            "n_negatives": spec.n_negatives,
            "item_net_block_types": ["IdEmbeddingsItemNet"],
        },
    )
    if spec.n_negatives is not None:
        report.config["similarity_module_type"] = "PaddingSkippingSimilarity (adapter)"

    start = time.perf_counter()
    model.fit(dataset)
    report.fit_seconds = finite(time.perf_counter() - start)
    report.epoch_seconds = [finite(s) for s in epoch_times(model)]
    report.epochs = spec.epochs
    report.seconds_per_epoch = finite(report.fit_seconds / spec.epochs)

    known = {str(i) for i in model.data_preparator.get_known_item_ids()}
    report.n_items = len(known)
    report.n_train_sequences = int(export.train["sequence_id"].nunique())
    histories, report.history_items_dropped, empty = split_known(export.points, known)
    report.empty_histories = len(empty)

    start = time.perf_counter()
    ranked = recommend(model, histories, spec.k, spec.exclude_seen)
    report.predict_seconds = finite(time.perf_counter() - start)
    report.notes = (
        "Adam betas (0.9, 0.98) (RecTools default); sequences shorter than 2 events are not "
        "trained on (train_min_user_interactions=2); each sequence contributes its last "
        "max_len+1 events per epoch, and RecTools builds its item vocabulary after that cut, "
        "so items seen only earlier in long sequences are unknown to the model (n_items may "
        "be below the export's item count); points without a known history item and lists "
        "short of k are filled from training popularity."
    )
    if spec.n_negatives is not None:
        report.notes += (
            f" Sampled softmax: {spec.n_negatives} negatives drawn uniformly with replacement "
            "per sequence and position (RecTools' CatalogUniformSampler); negatives equal to the "
            "positive are not masked. RecTools' stock similarity module would gather a "
            f"{negatives_gather_gb(export):.3g} GB (batch, max_len, N+1, d) tensor of candidate "
            "embeddings per batch, padded positions included; the adapter's "
            "PaddingSkippingSimilarity computes the same logits only at positions with a real "
            "target, in checkpointed chunks (same loss, gradients and negatives)."
        )
    write_outputs(args.out, export.points, ranked, popular_items(export.train), spec, report)
    print(
        f"[{LIBRARY}] wrote {report.n_points} lists to {args.out} "
        f"(fit {report.fit_seconds:.1f}s, predict {report.predict_seconds:.1f}s)",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main, None, LIBRARY))
