"""``segue evaluate`` / ``scripts/evaluate.py`` settings, checked before any data is read."""

from __future__ import annotations

from typing import Any

import pytest

import segue.cli.evaluate_run as evaluate_run
import segue.data.settings as settings_module
from segue.cli.evaluate_run import checkpoint_paths, model_names
from tests.scripts.conftest import compose_config


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Fail the test if a checkpoint is loaded or any data is read."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("work started before the settings were checked")

    for name in list(settings_module.READERS):
        monkeypatch.setitem(settings_module.READERS, name, forbidden)
    monkeypatch.setattr(evaluate_run, "load_checkpoint", forbidden)


def test_one_string_is_one_checkpoint_path():
    assert checkpoint_paths("/runs/a/best.pt") == ["/runs/a/best.pt"]
    assert checkpoint_paths(["/a.pt", "/b.pt"]) == ["/a.pt", "/b.pt"]
    with pytest.raises(TypeError, match="checkpoints must be a path or a list of paths"):
        checkpoint_paths(3)


def test_models_are_named_by_their_run_folder_and_uniquely():
    names = model_names(
        [
            "/x/outputs/2026-12-05/10-00-00/best.pt",
            "/x/outputs/2026-12-06/10-00-00/best.pt",
            "/y/lastfm-sasrec/best.pt",
            "/z/lastfm-sasrec/best.pt",
        ]
    )
    assert list(names) == [
        "2026-12-05/10-00-00/best",
        "2026-12-06/10-00-00/best",
        "y/lastfm-sasrec/best",
        "z/lastfm-sasrec/best",
    ]
    with pytest.raises(ValueError, match="checkpoints: the same checkpoint is given twice"):
        model_names(["/a/run/best.pt", "/a/run/best.pt"])


def test_script_reads_a_plain_string_as_one_path_and_checks_compare_to_first(
    artefacts, tmp_path, no_work
):
    """``checkpoints=/path/best.pt`` used to be read letter by letter ("no checkpoint at /"), and
    ``compare_to`` was checked only after the whole evaluation."""
    checkpoint = artefacts["checkpoint"]
    cfg = compose_config(
        [f"checkpoints={checkpoint}", "compare_to=bogus", "baselines=none"],
        tmp_path / "run",
        name="evaluate",
    )
    name = f"{checkpoint.parent.name}/{checkpoint.stem}"
    with pytest.raises(ValueError, match=rf"compare_to='bogus' is not among the models \['{name}'"):
        evaluate_run.run(cfg)
    assert not (tmp_path / "run").exists()


def test_script_names_checkpoints_for_a_missing_file(tmp_path, no_work):
    cfg = compose_config([f"checkpoints={tmp_path}/absent.pt"], tmp_path / "run", "evaluate")
    with pytest.raises(FileNotFoundError, match=r"checkpoints: no checkpoint at .*absent\.pt"):
        evaluate_run.run(cfg)


def test_command_checks_compare_to_before_the_run_folder(segue, artefacts, tmp_path, no_work):
    checkpoint = artefacts["checkpoint"]
    for argv in (
        [f"checkpoints={checkpoint}", "compare_to=bogus"],
        [checkpoint, "compare_to=bogus"],
    ):
        result = segue("evaluate", *argv, "--run-dir", tmp_path / "run")
        assert result.code == 1
        assert "compare_to='bogus' is not among the models" in result.err
        assert checkpoint.stem in result.err and "most_popular" in result.err
        assert not (tmp_path / "run").exists()


def test_command_accepts_a_baseline_as_compare_to(segue, tmp_path, no_work):
    """A valid ``compare_to`` passes the check; the (forbidden) data read is what stops it."""
    with pytest.raises(AssertionError, match="work started"):
        segue("evaluate", "compare_to=most_popular", "--run-dir", tmp_path / "run")
