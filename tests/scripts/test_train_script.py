"""The train script end to end on the shrunk real configs (slow tier)."""

import json

import pytest

from segue.cli import train_run
from segue.io.checkpoint import load_checkpoint
from tests.scripts.conftest import compose_config


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["model=bert4rec", "loss=sampled_softmax"],
        ["loss=gbce", "model=sasrec"],
        ["loss=bce", "model.history_prior=false", "optim=sgd"],  # bce cannot add the prior
    ],
)
def test_train_end_to_end_on_tiny_config(extra, tmp_path, tiny_overrides, capsys):
    cfg = compose_config([*tiny_overrides, *extra, "model.d_model=16"], tmp_path)
    summary = train_run.train(cfg)
    out = capsys.readouterr().out
    assert "test (full-catalogue ranking)" in out and "recommended next:" in out
    assert summary["test"]["points"] > 0
    saved = json.loads((tmp_path / "test_metrics.json").read_text())
    assert saved["test"] == summary["test"]
    checkpoint = load_checkpoint(tmp_path / "best.pt")
    assert "test_ndcg@10" in checkpoint.metrics
    assert "debug" not in checkpoint.config or "d_model: 16" in checkpoint.config
    assert any(r["stage"] == "sessions" for r in checkpoint.reports)


@pytest.mark.slow
def test_same_script_runs_under_torchrun_ddp(tmp_path):
    """Two CPU processes (gloo): process 0 validates, checkpoints and reports."""
    import subprocess
    import sys

    from tests.scripts.conftest import REPO

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        str(REPO / "scripts" / "train.py"),
        "debug=default",
        "trainer.device=cpu",
        "trainer.num_threads=1",
        f"paths.output_dir={tmp_path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test (full-catalogue ranking)") == 1  # rank 0 only
    summary = json.loads((tmp_path / "test_metrics.json").read_text())
    assert summary["test"]["points"] > 0
    assert load_checkpoint(tmp_path / "last.pt").training_state["epoch"] == 2


@pytest.mark.slow
def test_train_on_a_user_csv_without_artists(tmp_path, tiny_overrides):
    """``data=csv`` as the README shows it: three columns, epoch seconds, no artist column.

    The model then reads no artist input, and the stored data settings must say the same.
    """
    from segue.data.synthetic import generate_listening_log

    events = generate_listening_log(n_users=50, n_events=5000, seed=0).events
    plays = events[["user_id", "track_id", "timestamp"]].copy()
    plays["timestamp"] = plays["timestamp"].astype("int64") // 10**9
    csv = tmp_path / "plays.csv"
    plays.to_csv(csv, index=False)
    cfg = compose_config([*tiny_overrides, "data=csv", f"data.path={csv}"], tmp_path / "run")
    summary = train_run.train(cfg)
    assert summary["test"]["points"] > 0
    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint.model_config.n_artists == 0
    assert checkpoint.data_settings is not None
    assert not checkpoint.data_settings.side.artists


@pytest.mark.parametrize(
    ("script", "override", "named"),
    [
        ("train", "trainer.batch_size=0", "trainer.batch_size=0"),
        ("evaluate", "checkpoints=/no/such/best.pt", "checkpoints"),
        ("export", "ckpt=/no/such/best.pt", "ckpt"),
    ],
)
def test_a_script_reports_a_user_error_as_one_line(script, override, named, tmp_path):
    """A bad setting is one line on stderr and exit status 1, not a traceback."""
    import subprocess
    import sys

    from tests.scripts.conftest import REPO

    command = [sys.executable, str(REPO / "scripts" / f"{script}.py"), override]
    if script == "train":
        command.append("debug=default")
    if script == "export":
        command.append(f"out={tmp_path / 'x.int8.pt'}")
    command.append(f"hydra.run.dir={tmp_path}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if f"{script}.py: error:" in line]
    assert len(error_lines) == 1 and named in error_lines[0], done.stderr[-2000:]
