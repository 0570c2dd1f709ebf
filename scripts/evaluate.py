"""Evaluate checkpoints and baselines on one protocol; write metrics, per-point table, markdown.

Run: python scripts/evaluate.py checkpoints=[outputs/<run>/best.pt]
     python scripts/evaluate.py data=movielens_100k        (baselines only)

Writes to the run folder: ``metrics.json`` (summary rows), ``points.parquet`` (one row per model
and prediction point) and ``metrics.md`` (the table printed at the end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from segue.data.pipeline import PreparedData, prepare_data
from segue.data.sequences import SideInputs
from segue.evaluation.bootstrap import paired_bootstrap
from segue.evaluation.evaluate import Evaluation, evaluate
from segue.evaluation.ranking_metrics import point_ndcg
from segue.training.checkpoint import Checkpoint, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO), replace=True)

SUMMARY_COLUMNS = ["model", "ndcg@10", "hr@10", "mrr@20", "coverage@10", "repeat_share@10"]


def first_checkpoint(cfg: DictConfig) -> Checkpoint | None:
    """The first checkpoint given, which decides how the data is prepared; None if none."""
    return load_checkpoint(cfg.checkpoints[0]) if cfg.checkpoints else None


def data_settings(cfg: DictConfig, checkpoint: Checkpoint | None) -> DictConfig:
    """The data group ``checkpoint`` was trained with, else the composed one.

    A checkpoint's own settings win so that the vocabulary, the split and ``exclude_seen``
    match its training run, whatever data group this script was composed with.
    """
    if checkpoint is not None and checkpoint.config:
        return OmegaConf.create(checkpoint.config).data
    return cfg.data


def prepare_for(data_cfg: DictConfig, checkpoint: Checkpoint | None) -> PreparedData:
    """Data as ``data_cfg`` says, with the sequence settings of ``checkpoint``'s model."""
    max_len, side, causal = 200, SideInputs(), True
    if checkpoint is not None:
        model = checkpoint.model_config
        max_len, causal = model.max_len, model.objective == "causal"
        side = SideInputs(model.n_artists > 0, model.use_event_types, model.use_gap_buckets)
    return prepare_data(
        instantiate(data_cfg.source),
        sessions=instantiate(data_cfg.sessions),
        split=data_cfg.split,
        split_options=OmegaConf.to_container(data_cfg.split_options),  # type: ignore[arg-type]
        min_count=data_cfg.min_count,
        max_len=max_len,
        train_by=data_cfg.train_by,
        causal=causal,
        side=side,
    )


def fitted_baselines(cfg: DictConfig, data: PreparedData) -> dict[str, Any]:
    by_user = data.training_sequences("user")
    by_session = data.training_sequences("session")
    fitted = {}
    for name, spec in cfg.baselines.items():
        baseline = instantiate(spec)
        # Session-based methods learn from sessions; the others from whole listening histories.
        sequences = (
            by_session if name in ("session_knn", "item_cooccurrence", "transitions") else by_user
        )
        fitted[str(name)] = baseline.fit(sequences, data.vocab.n_tracks)
    return fitted


def significance(result: Evaluation, reference: str) -> list[dict[str, Any]]:
    """Paired bootstrap of NDCG@10 differences between ``reference`` and every other model."""
    per_model = {
        name: point_ndcg(group["rank"].to_numpy(), 10)
        for name, group in result.points.groupby("model", sort=False)
    }
    if reference not in per_model:
        raise ValueError(f"compare_to={reference!r} is not among the models {list(per_model)}")
    rows = []
    for name, values in per_model.items():
        if name == reference:
            continue
        test = paired_bootstrap(per_model[reference], values, seed=0)
        rows.append(
            {
                "reference": reference,
                "other": name,
                "ndcg@10 diff": test.mean_diff,
                "ci_low": test.low,
                "ci_high": test.high,
                "p_value": test.p_value,
            }
        )
    return rows


def run(cfg: DictConfig) -> Evaluation:
    checkpoint = first_checkpoint(cfg)
    data_cfg = data_settings(cfg, checkpoint)
    data = prepare_for(data_cfg, checkpoint)
    exclude_seen = data_cfg.exclude_seen if cfg.exclude_seen is None else cfg.exclude_seen
    models: dict[str, Any] = {Path(p).parent.name + "/" + Path(p).stem: p for p in cfg.checkpoints}
    models.update(fitted_baselines(cfg, data))
    if not models:
        raise ValueError("nothing to evaluate: give checkpoints=[...] or baselines")
    result = evaluate(
        models,
        data,
        fold=cfg.fold,
        ks=list(cfg.ks),
        exclude_seen=bool(exclude_seen),
        batch_size=cfg.batch_size,
    )
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary.replace({np.nan: None}).to_dict(orient="records")
    report: dict[str, Any] = {
        "data": data_cfg.name,
        "fold": cfg.fold,
        "exclude_seen": bool(exclude_seen),
        "summary": summary,
    }
    if cfg.compare_to:
        report["bootstrap"] = significance(result, cfg.compare_to)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    result.points.to_parquet(out / "points.parquet", index=False)
    columns = [c for c in SUMMARY_COLUMNS if c in result.summary.columns]
    table = result.to_markdown(columns)
    (out / "metrics.md").write_text(table + "\n")
    print(table)
    for row in report.get("bootstrap", []):
        print(
            f"{row['reference']} - {row['other']}: NDCG@10 {row['ndcg@10 diff']:+.4f} "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] p={row['p_value']:.3f}"
        )
    return result


@hydra.main(config_path="../configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with open_dict(cfg):
        cfg.checkpoints = [str(Path(p).expanduser()) for p in cfg.checkpoints]
    run(cfg)


if __name__ == "__main__":
    main()
