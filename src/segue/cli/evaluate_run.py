"""Evaluate checkpoints and baselines on one protocol; write metrics, per-point table, markdown.

The body of ``segue evaluate`` and ``python scripts/evaluate.py`` (a thin ``@hydra.main``
shell). Writes to the run folder: ``metrics.json`` (summary rows), ``points.parquet`` (one row
per model and prediction point) and ``metrics.md`` (the table that is also logged); the console
and ``evaluate.log`` get the same lines.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from segue.checks import check_choice, check_cut_offs, check_flag, check_integer
from segue.cli.run_checks import check_known_keys, check_output_dir, naming_settings, plain
from segue.cli.run_folder import run_output
from segue.cli.train_run import data_group
from segue.columns import TEST, VALIDATION
from segue.data.pipeline import PreparedData
from segue.data.sequences import SideInputs
from segue.data.settings import DataSettings, prepare_from_settings, settings_from_group
from segue.evaluation.breakdown import breakdown
from segue.evaluation.comparison import DEFAULT_CLUSTER, compare, resampling_unit
from segue.evaluation.evaluate import Evaluation, evaluate
from segue.evaluation.tables import REPORTED_BREAKDOWNS, breakdown_sections
from segue.io.atomic_write import atomic_write, atomic_write_text
from segue.io.checkpoint import Checkpoint, load_checkpoint

logger = logging.getLogger(__name__)


SUMMARY_COLUMNS = ["model", "ndcg@10", "hr@10", "mrr@20", "coverage@10", "repeat_share@10"]


def checkpoint_paths(value: Any) -> list[str]:
    """The ``checkpoints`` setting as a list of paths: one string is one path, not its letters.

    >>> checkpoint_paths("runs/a/best.pt")
    ['runs/a/best.pt']
    >>> checkpoint_paths(["a.pt", "~/b.pt"])[0]
    'a.pt'
    >>> checkpoint_paths(None)
    []

    Raises:
        TypeError: Naming ``checkpoints`` when it is neither a path nor a list of paths.
    """
    if value is None:
        return []
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, str | Path):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(p, str | Path) for p in value):
        raise TypeError(
            f"checkpoints must be a path or a list of paths (checkpoints=[a/best.pt,b/best.pt]), "
            f"got {value!r}"
        )
    return [str(Path(p).expanduser()) for p in value]


def model_names(paths: list[str]) -> dict[str, str]:
    """A readable, unique model name for each checkpoint path (name -> path).

    A checkpoint under an ``outputs`` folder is named by its path below it, without the
    suffix (``2026-12-05/10-00-00/best``); any other by its shortest unique tail of at least
    the run folder and the file (``train/best``), so two runs' ``best.pt`` never share a name.

    >>> model_names(["outputs/2026-12-05/10-00-00/best.pt", "x/run/best.pt"])
    {'2026-12-05/10-00-00/best': 'outputs/2026-12-05/10-00-00/best.pt', 'run/best': 'x/run/best.pt'}
    >>> list(model_names(["a/run/best.pt", "b/run/best.pt"]))
    ['a/run/best', 'b/run/best']

    Raises:
        ValueError: Naming ``checkpoints`` when the same file is given twice.
    """
    parts, under_outputs = [], []
    for path in paths:
        whole = Path(path).with_suffix("").parts
        below = [i for i, part in enumerate(whole[:-1]) if part == "outputs"]
        parts.append(whole[below[-1] + 1 :] if below else whole)
        under_outputs.append(bool(below))
    if len(set(parts)) < len(parts):
        raise ValueError(f"checkpoints: the same checkpoint is given twice in {paths}")
    depth = 2
    while True:
        names = [
            "/".join(p if whole else p[-depth:])
            for p, whole in zip(parts, under_outputs, strict=True)
        ]
        if len(set(names)) == len(names) or depth >= max(len(p) for p in parts):
            return dict(zip(names, paths, strict=True))
        depth += 1


EVALUATE_KEYS = (
    *("paths", "data", "baselines", "checkpoints", "data_from_checkpoint", "fold", "ks"),
    *("exclude_seen", "batch_size", "compare_to"),
)
"""The top-level keys of the evaluate config; any other (``+k=[5]``) is refused."""


def check_evaluate_settings(cfg: DictConfig) -> dict[str, str]:
    """Check the settings (fold, ks, batch_size, exclude_seen, data_from_checkpoint), the
    checkpoints, the baselines' own settings (each is built once) and ``compare_to`` before any
    data is read.

    Normalises ``cfg.checkpoints`` to a list of paths (in place).

    Returns:
        The checkpoints' model names (name -> path).

    Raises:
        FileNotFoundError: Naming ``checkpoints`` and the missing file.
        NotADirectoryError: ``paths.output_dir`` is a file or below one.
        TypeError, ValueError: A setting of the wrong kind or value, named.
        ValueError: Nothing to evaluate, or ``compare_to`` names no model to be evaluated.
    """
    check_output_dir(cfg)
    check_known_keys(cfg, "", EVALUATE_KEYS)
    check_choice("fold", cfg.get("fold"), [VALIDATION, TEST])
    ks = cfg.get("ks")
    check_cut_offs("ks", OmegaConf.to_container(ks) if OmegaConf.is_list(ks) else ks)
    check_integer("batch_size", cfg.get("batch_size"), minimum=1)
    check_flag("exclude_seen", cfg.get("exclude_seen"), optional=True)
    check_flag("data_from_checkpoint", cfg.get("data_from_checkpoint"))
    paths = checkpoint_paths(cfg.get("checkpoints"))
    with open_dict(cfg):
        cfg.checkpoints = paths
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints: no checkpoint at {', '.join(missing)}")
    names = model_names(paths)
    baselines = [str(name) for name in (cfg.get("baselines") or {})]
    for name in baselines:  # built once here (cheap) so a bad setting fails before the data
        check_baseline_spec(name, cfg.baselines[name])
    clash = sorted(set(names) & set(baselines))
    if clash:
        raise ValueError(f"checkpoints: model name {clash[0]!r} is also a baseline's name")
    models = [*names, *baselines]
    if not models:
        raise ValueError("nothing to evaluate: give checkpoints=[...] or baselines")
    reference = cfg.get("compare_to")
    if reference and reference not in models:
        raise ValueError(f"compare_to={reference!r} is not among the models {models}")
    return names


def check_baseline_spec(name: str, spec: Any) -> None:
    """Build the baseline ``baselines.<name>`` once, so that a bad setting is named now.

    Raises:
        TypeError, ValueError: The spec is no group with a ``_target_``, what it builds cannot
            fit and score, or one of its settings is refused (named ``baselines.<name>.<key>``).
    """
    values = plain(spec) if OmegaConf.is_dict(spec) else None
    if values is None or "_target_" not in values:
        given = spec if values is None else values
        raise TypeError(
            f"baselines.{name} must be a group with a _target_ (a baseline class such as "
            f"segue.baselines.EASE) and its settings, got {given!r}"
        )
    settings = {key: value for key, value in values.items() if key != "_target_"}
    with naming_settings({f"baselines.{name}": settings}):
        built = instantiate(spec)
    if not (callable(getattr(built, "fit", None)) and callable(getattr(built, "score", None))):
        raise TypeError(f"baselines.{name}: {values['_target_']} builds no baseline (fit, score)")


def first_checkpoint(cfg: DictConfig) -> Checkpoint | None:
    """The first checkpoint given, which decides how the data is prepared; None if none."""
    return load_checkpoint(cfg.checkpoints[0]) if cfg.checkpoints else None


def group_settings(cfg: DictConfig) -> DataSettings:
    """The composed data group as data settings, with default sequence settings."""
    return settings_from_group(data_group(cfg), max_len=200, causal=True, side=SideInputs())


def data_settings(cfg: DictConfig, checkpoint: Checkpoint | None) -> DataSettings:
    """The data settings stored in ``checkpoint``, else those of the composed data group.

    A checkpoint's own settings win (unless ``data_from_checkpoint=false``) so that the
    vocabulary, the split and ``exclude_seen`` match its training run, whatever data group this
    script was composed with. They are plain data read through segue's fixed table of readers:
    nothing named in the checkpoint is imported or instantiated.
    """
    if checkpoint is None:
        return group_settings(cfg)
    if cfg.get("data_from_checkpoint", True):
        return checkpoint.require_data_settings(cfg.checkpoints[0])
    return group_settings(cfg).for_model(checkpoint.model_config)


def prepare_for(settings: DataSettings, checkpoint: Checkpoint | None) -> PreparedData:
    """The data ``settings`` describe; checked against ``checkpoint``'s vocabulary."""
    data = prepare_from_settings(settings)
    if checkpoint is not None and data.vocab.track_ids != checkpoint.vocab.track_ids:
        raise ValueError(
            f"the data prepared from data settings {settings.name!r} has a vocabulary of "
            f"{data.vocab.n_tracks} tracks that differs from the checkpoint's "
            f"({checkpoint.vocab.n_tracks}): these are not the data it was trained on"
        )
    return data


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


def significance(
    result: Evaluation, reference: str, cluster: str | None = DEFAULT_CLUSTER
) -> list[dict[str, Any]]:
    """Paired bootstrap of NDCG@10 differences between ``reference`` and every other model.

    Listeners are resampled, not points (``cluster``; None resamples points): a listener's
    points are correlated, and resampling them one by one gives intervals that are too narrow.
    """
    if reference not in set(result.points["model"]):
        models = list(result.points["model"].unique())
        raise ValueError(f"compare_to={reference!r} is not among the models {models}")
    return compare(result.points, reference, k=10, cluster=cluster, seed=0)


def breakdowns(result: Evaluation) -> dict[str, Any]:
    """NDCG@10 / HR@10 by repeat vs new target and by target popularity, per model (JSON)."""
    return {
        by: breakdown(result.points, by, 10).astype({"bucket": str}).to_dict(orient="records")
        for by in REPORTED_BREAKDOWNS
    }


def run(cfg: DictConfig) -> Evaluation:
    """Evaluate cfg.checkpoints and cfg.baselines on cfg.fold; write the reports.

    Logs to the console and the run folder's ``evaluate.log`` unless ``segue`` or Hydra already do.
    """
    names = check_evaluate_settings(cfg)  # before the log, the data or any checkpoint is read
    out_dir = Path(str(cfg.paths.output_dir))
    with run_output(out_dir / "evaluate.log"):
        logger.info("run folder: %s", out_dir)
        return _run(cfg, names)


def _run(cfg: DictConfig, names: dict[str, str]) -> Evaluation:
    checkpoint = first_checkpoint(cfg)
    settings = data_settings(cfg, checkpoint)
    data = prepare_for(settings, checkpoint)
    exclude_seen = settings.exclude_seen if cfg.exclude_seen is None else cfg.exclude_seen
    models: dict[str, Any] = dict(names)
    models.update(fitted_baselines(cfg, data))
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
        "data": settings.name,
        "fold": cfg.fold,
        "exclude_seen": bool(exclude_seen),
        "summary": summary,
    }
    unit = resampling_unit(result.points)  # listeners; sessions for a one-listener export
    if cfg.compare_to:
        report["bootstrap"] = significance(result, cfg.compare_to, unit)
    report["breakdowns"] = breakdowns(result)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
    atomic_write(out / "points.parquet", lambda f: result.points.to_parquet(f, index=False))
    columns = [c for c in SUMMARY_COLUMNS if c in result.summary.columns]
    table = result.to_markdown(columns)
    sections = breakdown_sections(result.points, reference=cfg.compare_to or None, cluster=unit)
    atomic_write_text(out / "metrics.md", "\n".join([table, *sections]) + "\n")
    logger.info(table)
    for row in report.get("bootstrap", []):
        logger.info(
            f"{row['reference']} - {row['other']}: NDCG@10 {row['ndcg@10 diff']:+.4f} "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] p={row['p_value']:.3f}"
        )
    return result
