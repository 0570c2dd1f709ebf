"""Settings the scripts once took on trust: ``refit`` and the run folder, each refused before any
data is read, with the override named."""

from __future__ import annotations

from typing import Any

import pytest

import segue.data.settings as settings_module
import segue.training.trainer as trainer_module
from segue.cli import evaluate_run, train_run
from tests.scripts.conftest import compose_config


@pytest.fixture
def no_data_no_epochs(monkeypatch) -> None:
    """Fail the test if any reader runs or a training loop is set up."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("data was read or training started before the settings were checked")

    for name in list(settings_module.READERS):
        monkeypatch.setitem(settings_module.READERS, name, forbidden)
    monkeypatch.setattr(trainer_module, "_Loop", forbidden)


@pytest.mark.parametrize("value", ["maybe", "1", "'no'"])
def test_refit_must_be_true_or_false(value, tmp_path, no_data_no_epochs) -> None:
    """``refit=maybe`` (or ``refit=1``) once ran the whole refit protocol as if it read true."""
    cfg = compose_config(["debug=default", f"refit={value}"], tmp_path)
    with pytest.raises(TypeError, match=r"^refit=.*: refit must be true or false"):
        train_run.train(cfg)


def test_an_output_dir_that_is_a_file_fails_before_the_data(tmp_path, no_data_no_epochs) -> None:
    """Once ``[Errno 17] File exists`` after the whole data preparation, naming no setting."""
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for out in (taken, taken / "run"):
        cfg = compose_config(["debug=default"], tmp_path)
        cfg.paths.output_dir = str(out)
        with pytest.raises(NotADirectoryError, match=f"paths.output_dir={out}: {taken} is a file"):
            train_run.check_settings(cfg)
    assert taken.read_text() == "not a folder"


def test_evaluate_checks_its_output_dir_before_the_data(tmp_path, no_data_no_epochs) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    cfg = compose_config(["baselines=all"], tmp_path, name="evaluate")
    cfg.paths.output_dir = str(taken / "run")
    with pytest.raises(NotADirectoryError, match=f"paths.output_dir={taken}/run: {taken} is a"):
        evaluate_run.run(cfg)


@pytest.mark.parametrize(
    ("override", "start"),
    [
        ("+refti=true", "+refti=true: refti is not a setting"),
        ("+eval.k=[5]", "+eval.k=[5]: eval.k is not a setting"),
        ("+blend.weight=[0.5]", "+blend.weight=[0.5]: blend.weight is not a setting"),
        ("+loss.bogus=1", "+loss.bogus=1: loss.bogus is not a setting"),
    ],
)
def test_a_key_the_config_lacks_is_named_before_the_data(
    override, start, tmp_path, no_data_no_epochs
) -> None:
    """``+blend.weight=[0.5]`` (for ``weights``) once trained with no blend, saying nothing;
    ``+loss.bogus=1`` failed as ``TrackLoss.__init__() got an unexpected keyword argument``."""
    cfg = compose_config(["debug=default", override], tmp_path)
    with pytest.raises(ValueError) as caught:
        train_run.train(cfg)
    assert str(caught.value).startswith(start), str(caught.value)


@pytest.mark.parametrize(
    ("override", "error", "start"),
    [
        ("data.source.seed=abc", TypeError, "data.source: seed must be an integer"),
        ("data.source.n_events=0", ValueError, "data.source: 0 events cannot give"),
        ("+data.source.bogus=1", ValueError, "data.source ['bogus'] are not options"),
    ],
)
def test_reader_options_are_named_as_the_data_source_group(
    override, error, start, tmp_path, no_data_no_epochs
) -> None:
    """They were named ``reader_options``, a name the user never typed."""
    cfg = compose_config(["debug=default", override], tmp_path)
    with pytest.raises(error) as caught:
        train_run.train(cfg)
    assert str(caught.value).startswith(start), str(caught.value)


def test_evaluate_refuses_a_key_its_config_lacks(tmp_path, no_data_no_epochs) -> None:
    """``+k=[5]`` (for ``ks``) once evaluated at 10, 20 and 50, saying nothing."""
    cfg = compose_config(["baselines=all", "+k=[5]"], tmp_path, name="evaluate")
    with pytest.raises(ValueError, match=r"^\+k=\[5\]: k is not a setting"):
        evaluate_run.run(cfg)


@pytest.mark.parametrize(("value", "kind"), [("-1", ValueError), ("1.5", TypeError)])
def test_sample_playlists_is_a_count(value, kind, tmp_path, no_data_no_epochs) -> None:
    """``eval.sample_playlists`` was never read: any value, -1 included, passed."""
    cfg = compose_config(["debug=default", f"eval.sample_playlists={value}"], tmp_path)
    with pytest.raises(kind, match=r"^eval.sample_playlists="):
        train_run.check_settings(cfg)


def test_sample_playlists_prints_that_many_test_points(tmp_path) -> None:
    from segue.cli.train_run import build_model, load_data, sample_playlists

    cfg = compose_config(["debug=default"], tmp_path)
    data = load_data(cfg)
    model = build_model(cfg, data.vocab)
    assert sample_playlists(model, data, 0) == ""
    three = sample_playlists(model, data, 3)
    assert three.count("recommended next:") == 3 == three.count("last played:")
    assert sample_playlists(model, data, 1) in three  # the first point first
