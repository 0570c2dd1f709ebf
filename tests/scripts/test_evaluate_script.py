"""The evaluate script on a checkpoint of the train script (slow tier)."""

import json

import pandas as pd
import pytest

from segue.cli import evaluate_run, train_run
from tests.scripts.conftest import compose_config


@pytest.mark.slow
@pytest.mark.parametrize("exclude_seen", [False, True])
def test_evaluate_reproduces_the_train_scripts_test_metrics(exclude_seen, tmp_path, tiny_overrides):
    """Composed with the default data group, the script still evaluates the checkpoint on the
    data settings it was trained with (exclude_seen included), so its figures are the ones the
    training run printed; every baseline is scored on the same points."""
    train_dir, eval_dir = tmp_path / "train", tmp_path / "eval"
    train_cfg = compose_config(
        [*tiny_overrides, f"data.exclude_seen={str(exclude_seen).lower()}"], train_dir
    )
    trained = train_run.train(train_cfg)
    checkpoint = train_dir / "best.pt"
    eval_cfg = compose_config(
        [f"checkpoints=[{checkpoint}]", "compare_to=train/best"], eval_dir, name="evaluate"
    )
    result = evaluate_run.run(eval_cfg)

    summary = result.summary.set_index("model")
    assert summary.loc["train/best", "ndcg@10"] == pytest.approx(trained["test"]["ndcg@10"])
    assert summary.loc["train/best", "points"] == trained["test"]["points"]
    if exclude_seen:  # nothing already played is recommended, by any model
        assert (summary["repeat_share@10"] == 0).all()
    assert {"most_popular", "transitions", "session_knn"} <= set(summary.index)
    report = json.loads((eval_dir / "metrics.json").read_text())
    assert report["exclude_seen"] is exclude_seen
    assert {row["other"] for row in report["bootstrap"]} == set(summary.index) - {"train/best"}
    points = pd.read_parquet(eval_dir / "points.parquet")
    assert len(points) == len(summary) * trained["test"]["points"]
    assert (eval_dir / "metrics.md").read_text().startswith("| model |")


@pytest.mark.slow
def test_an_old_checkpoint_is_evaluated_on_data_given_explicitly(tmp_path, tiny_overrides):
    """A checkpoint without data settings (as segue wrote before them) cannot say how its data
    was made: the script says so, and evaluates it on the composed data group when told to."""
    import torch

    from segue.io.checkpoint import CheckpointError

    trained = train_run.train(compose_config(tiny_overrides, tmp_path / "train"))
    values = torch.load(trained["checkpoint"], weights_only=True)
    values["version"] = 1
    del values["sha256"], values["data_settings"]
    old = tmp_path / "old" / "best.pt"
    old.parent.mkdir()
    torch.save(values, old)
    # the data group as the debug overlay shrank it for training
    overrides = [f"checkpoints=[{old}]", "baselines=none", "++data.max_events=10000"]
    with pytest.raises(CheckpointError, match="data_from_checkpoint=false"):
        evaluate_run.run(compose_config(overrides, tmp_path / "e1", name="evaluate"))
    cfg = compose_config([*overrides, "data_from_checkpoint=false"], tmp_path / "e2", "evaluate")
    summary = evaluate_run.run(cfg).summary.set_index("model")
    assert summary.loc["old/best", "ndcg@10"] == pytest.approx(trained["test"]["ndcg@10"])
