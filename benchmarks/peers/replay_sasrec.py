"""Train RePlay's SasRec (``replay.nn.sequential``) on a segue protocol export; write top-k lists.

Run with the peer environment's interpreter:

    .venv-peers/bin/python benchmarks/peers/replay_sasrec.py --data EXPORT --out OUT

Training goes through RePlay's own pipeline: item ids are encoded to 0..n-1, the sequences are
written to a parquet file, and ``ParquetModule`` with the default SasRec transforms feeds a
Lightning trainer. Prediction calls the trained model's inference forward on batches of the
test points' histories (left-padded like RePlay's loader does), then masks seen items.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import (
    Export,
    ExportError,
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

LIBRARY = "replay"
ITEM = "item_id"
PREDICT_BATCH = 256


def encode_items(export: Export) -> list[str]:
    """The model's vocabulary: training items sorted by id, so index = position in this list."""
    return sorted(export.train["item_id"].unique().tolist())


def write_train_sequences(export: Export, index: dict[str, int], path: Path) -> int:
    """Writes one row per training sequence with its encoded items as an int64 list.

    Sequences of a single event give no next-item target, so they are left out (as RecTools
    does with train_min_user_interactions=2).

    Args:
        export: The loaded export.
        index: Item id to encoded index.
        path: Parquet file to write.

    Returns:
        The number of sequences written.
    """
    codes = export.train["item_id"].map(index).to_numpy(dtype=np.int64)
    seq_ids = export.train["sequence_id"].to_numpy()
    # Rows are sorted by (sequence_id, position), so each sequence is one contiguous run.
    starts = np.flatnonzero(np.r_[True, seq_ids[1:] != seq_ids[:-1]])
    ends = np.r_[starts[1:], len(seq_ids)]
    sequences = [codes[s:e] for s, e in zip(starts, ends) if e - s >= 2]
    table = pa.table({ITEM: pa.array(sequences, type=pa.list_(pa.int64()))})
    pq.write_table(table, path)
    return len(sequences)


def tensor_schema(n_items: int, d_model: int) -> Any:
    """Schema with the item id as the only (sequential, categorical) feature.

    RePlay expects the padding index to equal the cardinality, so items are 0..n-1 and the
    padding token is n.
    """
    from replay.data import FeatureHint, FeatureSource, FeatureType
    from replay.data.nn import TensorFeatureInfo, TensorFeatureSource, TensorSchema

    return TensorSchema(
        [
            TensorFeatureInfo(
                ITEM,
                feature_type=FeatureType.CATEGORICAL,
                is_seq=True,
                feature_hint=FeatureHint.ITEM_ID,
                feature_sources=[TensorFeatureSource(FeatureSource.INTERACTIONS, ITEM)],
                cardinality=n_items,
                padding_value=n_items,
                embedding_dim=d_model,
            )
        ]
    )


def model_config(export: Export) -> dict[str, Any]:
    """The keyword arguments passed to ``SasRec.from_params`` (JSON-friendly, for fit.json)."""
    spec = export.spec
    return {
        "embedding_dim": spec.d_model,
        "num_heads": spec.n_heads,
        "num_blocks": spec.n_blocks,
        "max_sequence_length": spec.max_len,
        "dropout": spec.dropout,
        "hidden_dim": spec.d_model,
    }


def loss_description(n_negatives: int | None) -> str:
    """The ``loss`` line of fit.json."""
    if n_negatives is None:
        return "CE (full cross-entropy over all items, replay.nn.loss.CE)"
    return (
        f"CESampled with {n_negatives} negatives (replay.nn.loss.CESampled; "
        "UniformNegativeSamplingTransform: one uniform draw without replacement per batch, "
        "shared by every position; negatives equal to a position's positive are masked)"
    )


def build_module(export: Export, schema: Any, config: dict[str, Any]) -> Any:
    """SasRec inside RePlay's module, with full cross-entropy or a sampled softmax.

    Without ``n_negatives`` the model keeps ``from_params``' default loss (``CE``). With it the
    loss becomes ``CESampled``, which scores each position's positive against the batch's
    ``negative_labels`` (added by ``UniformNegativeSamplingTransform``, see ``data_module``).
    ``from_params`` has no loss argument, so the loss is swapped the way the ``SasRec``
    constructor wires it: the loss gets the model's ``get_logits`` as its logits callback.
    """
    from replay.nn.lightning import LightningModule
    from replay.nn.lightning.optimizer import OptimizerFactory
    from replay.nn.loss import CESampled
    from replay.nn.sequential import SasRec

    model = SasRec.from_params(schema, **config)
    if export.spec.n_negatives is not None:
        model.loss = CESampled(ignore_index=schema[ITEM].padding_value)
        model.loss.logits_callback = model.get_logits
    optimizer = OptimizerFactory(optimizer="adam", learning_rate=export.spec.lr)
    return LightningModule(model, optimizer_factory=optimizer)


def train_transforms(export: Export, schema: Any) -> list[Any]:
    """RePlay's default SasRec train transforms, plus uniform negative sampling when asked.

    Raises:
        ExportError: n_negatives is not below the number of training items (RePlay samples
            without replacement).
    """
    import torch
    from replay.nn.transform import UniformNegativeSamplingTransform
    from replay.nn.transform.template.sasrec import make_default_sasrec_transforms

    transforms = list(make_default_sasrec_transforms(schema)["train"])
    n_negatives = export.spec.n_negatives
    if n_negatives is None:
        return transforms
    n_items = schema[ITEM].cardinality
    if n_negatives >= n_items:
        raise ExportError(
            f"n_negatives {n_negatives} must be below the number of training items ({n_items})"
        )
    sampler = UniformNegativeSamplingTransform(
        cardinality=n_items,
        num_negative_samples=n_negatives,
        # Its own seeded generator keeps the draws reproducible and apart from dropout's.
        generator=torch.Generator().manual_seed(export.spec.seed + 1),
    )
    return [*transforms, sampler]


def data_module(export: Export, schema: Any, train_path: Path) -> Any:
    """RePlay's ParquetModule reading max_len + 1 events per sequence for next-item targets."""
    import torch
    from replay.data.nn import ParquetModule

    spec = export.spec
    padding = schema[ITEM].padding_value
    return ParquetModule(
        batch_size=spec.batch_size,
        metadata={"train": {ITEM: {"shape": spec.max_len + 1, "padding": padding}}},
        transforms={"train": train_transforms(export, schema)},
        # A private seeded generator makes the batch order reproducible.
        config={
            "train": {
                "generator": torch.Generator().manual_seed(spec.seed),
                "device": torch.device("cpu"),
            }
        },
        train_path=str(train_path),
    )


def build_trainer(epochs: int) -> Any:
    """Lightning trainer: exactly ``epochs`` epochs on CPU, no validation, logs or checkpoints."""
    import lightning

    return lightning.Trainer(
        max_epochs=epochs,
        min_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[make_epoch_logger(lightning.pytorch.Callback, LIBRARY, epochs)],
    )


def left_padded(histories: list[list[int]], max_len: int, padding: int) -> tuple[Any, Any]:
    """Batches encoded histories: the last ``max_len`` items, left-padded to the longest row.

    Positional embeddings are aligned to the sequence end and padded keys are masked, so
    padding to the batch's longest row instead of max_len changes nothing but the cost.

    Returns:
        (item ids (B, T), padding mask (B, T) with True on real items).
    """
    import torch

    width = min(max_len, max(len(h) for h in histories))
    items = torch.full((len(histories), width), padding, dtype=torch.long)
    for row, history in enumerate(histories):
        tail = history[-width:]
        items[row, width - len(tail) :] = torch.tensor(tail, dtype=torch.long)
    return items, items != padding


def rank_batch(
    module: Any, histories: list[list[int]], spec_k: int, max_len: int, exclude_seen: bool
) -> list[list[int]]:
    """Top-k encoded items for a batch of histories, seen items masked when asked.

    Returns:
        One list per history of at most k indices (fewer when the unseen catalogue is smaller).
    """
    import torch

    padding = module.model.body.embedder.feature_embedders[ITEM].emb.padding_idx
    items, mask = left_padded(histories, max_len, padding)
    logits = module.model(feature_tensors={ITEM: items}, padding_mask=mask)["logits"]
    if exclude_seen:
        for row, history in enumerate(histories):
            logits[row, torch.tensor(sorted(set(history)), dtype=torch.long)] = -torch.inf
    top = torch.topk(logits, k=min(spec_k, logits.size(1)), dim=1)
    return [idx[torch.isfinite(val)].tolist() for idx, val in zip(top.indices, top.values)]


def recommend(
    module: Any, histories: dict[int, list[str]], index: dict[str, int], export: Export
) -> dict[int, list[str]]:
    """Ranks items for every test point with a known history, in batches.

    Returns:
        Ranked item ids keyed by point_id.
    """
    import torch

    spec = export.spec
    vocab = list(index)
    point_ids = list(histories)
    encoded = [[index[i] for i in histories[pid]] for pid in point_ids]
    ranked: dict[int, list[str]] = {}
    module.eval()
    with torch.inference_mode():
        for start in range(0, len(point_ids), PREDICT_BATCH):
            batch = encoded[start : start + PREDICT_BATCH]
            tops = rank_batch(module, batch, spec.k, spec.max_len, spec.exclude_seen)
            for pid, top in zip(point_ids[start : start + PREDICT_BATCH], tops):
                ranked[pid] = [vocab[i] for i in top]
    return ranked


def main(args: argparse.Namespace) -> None:
    """Loads the export, trains, predicts and writes the outputs."""
    export = load_export(args.data, args.epochs, args.max_points)
    spec = export.spec
    configure_torch(spec.threads, spec.seed)
    import lightning
    import replay
    import torch
    from replay.nn.sequential import SasRec  # noqa: F401  (import before quieting its loggers)

    quiet_libraries()
    lightning.seed_everything(spec.seed, workers=True, verbose=False)

    vocab = encode_items(export)
    index = {item: i for i, item in enumerate(vocab)}
    schema = tensor_schema(len(vocab), spec.d_model)
    config = model_config(export)
    module = build_module(export, schema, config)
    trainer = build_trainer(spec.epochs)
    report = FitReport(
        library=LIBRARY,
        version=replay.__version__,
        torch=torch.__version__,
        loss=loss_description(spec.n_negatives),
        config={
            **config,
            "loss": "CE" if spec.n_negatives is None else "CESampled",
            "n_negatives": spec.n_negatives,
            "optimizer": "adam",
            "learning_rate": spec.lr,
            "batch_size": spec.batch_size,
        },
    )

    with tempfile.TemporaryDirectory(prefix="replay-peer-") as tmp:
        train_path = Path(tmp) / "train.parquet"
        report.n_train_sequences = write_train_sequences(export, index, train_path)
        data = data_module(export, schema, train_path)
        start = time.perf_counter()
        trainer.fit(module, datamodule=data)
        report.fit_seconds = finite(time.perf_counter() - start)
    logger = next(c for c in trainer.callbacks if hasattr(c, "epoch_seconds"))
    report.epoch_seconds = [finite(s) for s in logger.epoch_seconds]
    report.epochs = spec.epochs
    report.seconds_per_epoch = finite(report.fit_seconds / spec.epochs)
    report.n_items = len(vocab)

    histories, report.history_items_dropped, empty = split_known(export.points, set(index))
    report.empty_histories = len(empty)
    start = time.perf_counter()
    ranked = recommend(module, histories, index, export)
    report.predict_seconds = finite(time.perf_counter() - start)
    report.notes = (
        "Adam betas (0.9, 0.98) (RePlay default); sequences shorter than 2 events are not "
        "written to the training file; each sequence contributes its last max_len+1 events "
        "per epoch; n_train_sequences counts the sequences trained on; points without a known "
        "history item and lists short of k are filled from training popularity."
    )
    write_outputs(args.out, export.points, ranked, popular_items(export.train), spec, report)
    print(
        f"[{LIBRARY}] wrote {report.n_points} lists to {args.out} "
        f"(fit {report.fit_seconds:.1f}s, predict {report.predict_seconds:.1f}s)",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main, None, LIBRARY))
