"""A damaged or hostile ``last.pt`` training state fails the resume naming the field, before
the run's logs or checkpoints change (segue.training.resume_state)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from segue.io.checkpoint import load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from tests.training.test_trainer import _run, data  # noqa: F401 (the fixture)


def _set(key, value):
    def change(state):
        state[key] = value

    return change


def _drop(key):
    return lambda state: state.pop(key)


def _inner(key, inner, value):
    def change(state):
        state[key][inner] = value

    return change


CASES = {
    "optimizer not a dict": (_set("optimizer", "adam"), "training_state.optimizer must be a dict"),
    "a class name that is not text": (
        _set("optimizer_class", 3),
        "training_state.optimizer_class must be a str",
    ),
    "no param groups": (
        lambda s: s["optimizer"].pop("param_groups"),
        "optimizer['param_groups'] must be a list",
    ),
    "a key the schedule lacks": (
        _inner("scheduler", "optimizer", 1),
        "scheduler['optimizer'] is not a key of this run's schedule",
    ),
    "a base rate per group missing": (
        lambda s: s["scheduler"]["base_lrs"].pop(),
        "scheduler['base_lrs'] has 1 entries, this run has 2",
    ),
    "a step count as text": (
        _inner("scheduler", "last_epoch", "3"),
        "scheduler['last_epoch'] must be an integer >= -1, got '3' (str)",
    ),
    "a rate that is not a number": (
        _inner("scheduler", "base_lrs", [1e-3, "fast"]),
        "scheduler['base_lrs'] must be a number, got 'fast' (str)",
    ),
    "a float generator state": (
        _set("generator", torch.zeros(8)),
        "training_state.generator must be a 1-d uint8 tensor",
    ),
    "a generator state of the wrong size": (
        _set("torch_rng", torch.zeros(8, dtype=torch.uint8)),
        "training_state does not fit this run",
    ),
    "no patience count": (_drop("stale"), "training_state has no 'stale'"),
    "a negative epoch": (_set("epoch", -1), "training_state.epoch must be an integer >= 0, got -1"),
    "an epoch that is a bool": (
        _set("epoch", True),
        "training_state.epoch must be an integer >= 0, got True (bool)",
    ),
    "a NaN best score": (_set("best", math.nan), "training_state.best must be a finite number"),
    "best metrics as text": (
        _set("best_metrics", {"ndcg@10": "high"}),
        "best_metrics['ndcg@10'] must be a number under a name",
    ),
    "history not a list": (_set("history", "rows"), "training_state.history must be a list"),
    "a history cell that is a list": (
        lambda s: s["history"][0].update(epoch=[1]),
        "training_state.history[0]['epoch'] must be a number or text",
    ),
    "infinite training time": (
        _set("train_seconds", math.inf),
        "training_state.train_seconds must be a finite number",
    ),
    "a weight average that is not a dict": (
        _set("weight_average", "ema"),
        "training_state.weight_average must be a dict",
    ),
}


@pytest.fixture(scope="module")
def trained_once(data, tmp_path_factory):  # noqa: F811 (the fixture)
    out = tmp_path_factory.mktemp("resume_state")
    _run(data, out, epochs=1)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_training_state_is_refused_naming_the_field(data, trained_once, tmp_path, case):  # noqa: F811
    change, expected = CASES[case]
    out = tmp_path / "run"
    shutil.copytree(trained_once, out)
    checkpoint = load_checkpoint(out / "last.pt")
    change(checkpoint.training_state)
    save_checkpoint(checkpoint, out / "last.pt")
    kept = ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv")  # trainer.json: this run's
    before = {name: (out / name).read_bytes() for name in kept}
    with pytest.raises(CheckpointError) as caught:
        _run(data, out, epochs=2, resume=True)
    assert expected in str(caught.value) and str(out / "last.pt") in str(caught.value)
    assert {name: (out / name).read_bytes() for name in kept} == before


def test_an_untouched_training_state_resumes(data, trained_once, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    shutil.copytree(trained_once, out)
    _, result = _run(data, out, epochs=2, resume=True)
    assert result.epochs_run == 2
