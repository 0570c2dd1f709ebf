"""The trainer's per-epoch logs go through the shared atomic-write rule (mode, whole rows)."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.io.atomic_write import FILE_MODE
from segue.models import sasrec
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit


def test_logs_are_whole_and_get_the_shared_mode_whatever_the_umask(tmp_path: Path) -> None:
    log = generate_listening_log(n_users=20, n_events=600, seed=2)
    data = prepare_data(log, sessions=SessionOptions(), split="leave_last_out", max_len=8)
    model = sasrec(data.vocab.n_tracks, d_model=8, n_layers=1, max_len=8, seed=0)
    config = TrainerConfig(
        epochs=2, batch_size=16, out_dir=str(tmp_path), progress=False, warmup_steps=1
    )
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    before = os.umask(0o077)  # a private umask must not make shared run files unreadable
    try:
        fit(model, data.train, loss, lambda m: {"ndcg@10": 0.0}, config, vocab=data.vocab)
    finally:
        os.umask(before)
    for name in ("metrics.jsonl", "metrics.csv", "trainer.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == FILE_MODE, name
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    with open(tmp_path / "metrics.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in table] == [1, 2]
    assert json.loads((tmp_path / "trainer.json").read_text())["epochs"] == 2
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary left behind
