"""Train a next-track model, then print test metrics and a sample ranked playlist.

Run: python scripts/train.py                      (bundled synthetic log, a few minutes on CPU)
     python scripts/train.py data=movielens_100k  (any config group; see configs/)
     python scripts/train.py loss=sampled_softmax model=bert4rec trainer.epochs=5

Hydra stays in this file: ``train(cfg)`` turns the config into plain library calls, so tests can
call it with a composed config and no command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from segue.data.pipeline import PreparedData, prepare_data
from segue.data.sequences import SideInputs
from segue.data.vocab import TrackVocab
from segue.evaluation.ranking import top_k
from segue.evaluation.scoring import rank_points, score_points
from segue.evaluation.summary import metric_summary
from segue.models.transformer import TrackTransformer
from segue.training.checkpoint import load_checkpoint, save_checkpoint
from segue.training.distributed import is_main_process
from segue.training.losses import TrackLoss
from segue.training.trainer import TrainerConfig, fit

REPO = Path(__file__).resolve().parents[1]
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO), replace=True)


def side_inputs(model_cfg: DictConfig) -> SideInputs:
    return SideInputs(
        artists=bool(model_cfg.get("artist_input", False)),
        event_types=bool(model_cfg.get("use_event_types", False)),
        gap_buckets=bool(model_cfg.get("use_gap_buckets", False)),
    )


def load_data(cfg: DictConfig) -> PreparedData:
    """Read the configured log and prepare sessions, split, vocabulary and datasets."""
    log = instantiate(cfg.data.source)
    return prepare_data(
        log,
        sessions=instantiate(cfg.data.sessions),
        split=cfg.data.split,
        split_options=OmegaConf.to_container(cfg.data.split_options),  # type: ignore[arg-type]
        min_count=cfg.data.min_count,
        max_len=cfg.model.max_len,
        train_by=cfg.data.train_by,
        causal=cfg.model.objective == "causal",
        side=side_inputs(cfg.model),
    )


def build_model(cfg: DictConfig, vocab: TrackVocab) -> TrackTransformer:
    model_cfg = OmegaConf.to_container(cfg.model)
    assert isinstance(model_cfg, dict)
    artist_input = model_cfg.pop("artist_input", False)
    n_artists = vocab.n_artists if artist_input else 0
    return instantiate(model_cfg, n_tracks=vocab.n_tracks, n_artists=n_artists)


def build_loss(cfg: DictConfig, vocab: TrackVocab) -> TrackLoss:
    if cfg.trainer.get("mask_window_items") and cfg.loss.name != "softmax":
        raise ValueError(
            f"trainer.mask_window_items=true trains with a window-masked full softmax, so "
            f"loss={cfg.loss.name} would be ignored: set trainer.mask_window_items=false to "
            "train with it, or loss=softmax"
        )
    counts = torch.as_tensor(vocab.popularity(), dtype=torch.float32)
    return instantiate(cfg.loss, n_tracks=vocab.n_tracks, counts=counts)


def trainer_config(cfg: DictConfig) -> TrainerConfig:
    values = {**OmegaConf.to_container(cfg.trainer), **OmegaConf.to_container(cfg.optim)}  # type: ignore[dict-item]
    return TrainerConfig(**values, out_dir=str(cfg.paths.output_dir))


def sample_playlist(model: TrackTransformer, data: PreparedData, k: int = 10) -> str:
    """The top-k for the first test point, as text with artist and title where known."""
    if len(data.test) == 0:
        return "(no test points)"
    best = top_k(score_points(model, data.test, np.array([0])), k).indices[0]
    vocab, history = data.vocab, data.test.full_history(0)[-5:]

    def label(i: int) -> str:
        artist = vocab.artists[i - 1] if vocab.artists else None
        name = vocab.names[i - 1] if vocab.names else None
        return " - ".join(str(x) for x in (artist, name) if x) or vocab.track_ids[i - 1]

    lines = ["last played:"] + [f"    {label(int(i))}" for i in history]
    lines += ["recommended next:"] + [f"{r:>3}. {label(int(i))}" for r, i in enumerate(best, 1)]
    return "\n".join(lines)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Prepare data, train with early stopping, evaluate the best checkpoint on test."""
    data = load_data(cfg)
    print(data.summary())
    model = build_model(cfg, data.vocab)
    settings = trainer_config(cfg)
    exclude_seen = bool(cfg.data.exclude_seen)

    def validate(m: TrackTransformer) -> dict[str, float]:
        ranks = rank_points(m, data.validation, exclude_seen=exclude_seen)
        return metric_summary(ranks, ks=[10, 20])

    result = fit(
        model,
        data.train,
        build_loss(cfg, data.vocab),
        validate,
        settings,
        vocab=data.vocab,
        reports=[r.to_dict() for r in data.reports],
        run_config=OmegaConf.to_yaml(cfg, resolve=True),
    )
    assert result.best_path is not None
    if not is_main_process():  # under torchrun, process 0 alone evaluates and reports
        return {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run}
    best = load_checkpoint(result.best_path)
    best_model = best.build_model()
    ranks = rank_points(
        best_model, data.test, exclude_seen=exclude_seen, batch_size=cfg.eval.batch_size
    )
    test = metric_summary(ranks, ks=cfg.eval.ks)
    best.metrics = {**best.metrics, **{f"test_{k}": v for k, v in test.items()}}
    save_checkpoint(best, result.best_path)
    summary = {
        "data": cfg.data.name,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "validation": result.best_metrics,
        "test": test,
        "checkpoint": str(result.best_path),
    }
    (Path(settings.out_dir) / "test_metrics.json").write_text(json.dumps(summary, indent=2))
    print(
        f"\nbest epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.0f} s training"
    )
    print(
        "test (full-catalogue ranking): "
        + ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "points")
        + f" over {test['points']:,} points"
    )
    print(sample_playlist(best_model, data))
    print(f"checkpoint: {result.best_path}")
    return summary


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
