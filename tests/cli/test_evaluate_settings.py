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


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("fold=train", ValueError, r"fold must be one of \['validation', 'test'\], got 'train'"),
        ("ks=10", TypeError, "ks must be a non-empty list of integers >= 1, got 10"),
        ("ks=[]", TypeError, "ks must be a non-empty list"),
        ("ks=[10,0]", ValueError, "ks must be an integer >= 1, got 0"),
        ("ks=[ten]", TypeError, "ks must be an integer"),
        ("batch_size=0", ValueError, "batch_size must be an integer >= 1, got 0"),
        ("exclude_seen=maybe", TypeError, "exclude_seen must be true, false or null"),
        ("exclude_seen=1", TypeError, "exclude_seen must be true, false or null, got 1"),
        ("data_from_checkpoint=null", TypeError, "data_from_checkpoint must be true or false"),
    ],
)
def test_bad_settings_fail_before_any_data_is_read(override, error, message, tmp_path, no_work):
    """fold=train once evaluated the test fold under the name "train", exclude_seen=maybe read
    as true, and a bad cut-off or batch size failed only after the data was read."""
    cfg = compose_config(["baselines=all", override], tmp_path / "run", name="evaluate")
    with pytest.raises(error, match=message):
        evaluate_run.run(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("baselines.ease.l2=-1", ValueError, r"baselines.ease.l2=-1: l2 must be a number > 0"),
        ("baselines.session_knn.k=abc", TypeError, "baselines.session_knn.k=abc: k must be an"),
        ("baselines.pure_svd.n_components=0", ValueError, "baselines.pure_svd.n_components=0: "),
    ],
)
def test_a_baselines_setting_is_named_before_any_data_is_read(
    override, error, message, tmp_path, no_work
):
    """Each baseline is built once while the settings are checked: a bad value was a Hydra
    instantiation error (or a comparison failure) after the data had been read."""
    cfg = compose_config(["baselines=all", override], tmp_path / "run", name="evaluate")
    with pytest.raises(error, match=message):
        evaluate_run.run(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+baselines.mine={k:1}", r"baselines.mine must be a group with a _target_"),
        ("baselines.ease=5", r"baselines.ease must be a group with a _target_.*got 5"),
        ("+baselines.mine={_target_:builtins.dict}", r"baselines.mine: builtins.dict builds no"),
    ],
)
def test_a_baseline_that_is_no_baseline_is_refused_before_any_data_is_read(
    override, message, tmp_path, no_work
):
    cfg = compose_config(["baselines=all", override], tmp_path / "run", name="evaluate")
    with pytest.raises(TypeError, match=message):
        evaluate_run.run(cfg)
