"""Every config file composes, and what it names instantiates."""

import pytest

from segue.data.event_log import EventLog
from segue.data.pipeline import SPLITS, SessionOptions
from segue.data.settings import READERS, DataSettings, read_from_settings
from tests.conftest import SHARED_DATA
from tests.scripts.conftest import CONFIGS, compose_config, load_script

GROUPS = {
    g: sorted(p.stem for p in (CONFIGS / g).glob("*.yaml"))
    for g in ("data", "model", "loss", "optim", "trainer", "experiment", "debug")
}


def test_every_yaml_starts_with_the_command_that_runs_it():
    for path in CONFIGS.rglob("*.yaml"):
        lines = [ln for ln in path.read_text().splitlines() if ln != "# @package _global_"]
        assert lines[0].startswith("# Run: python scripts/"), path


@pytest.mark.parametrize("model", GROUPS["model"])
@pytest.mark.parametrize("loss", GROUPS["loss"])
def test_model_and_loss_configs_instantiate(model, loss, tmp_path):
    train = load_script("train")
    cfg = compose_config([f"model={model}", f"loss={loss}"], tmp_path)
    vocab = train.TrackVocab(track_ids=["a", "b", "c"], counts=[3, 2, 1], artists=["x", "y", "x"])
    net = train.build_model(cfg, vocab)
    assert net.config.n_tracks == 3
    assert net.config.n_artists == (2 if cfg.model.artist_input else 0)
    assert train.build_loss(cfg, vocab).name == cfg.loss.name
    assert train.trainer_config(cfg).lr == cfg.optim.lr


@pytest.mark.parametrize("data", GROUPS["data"])
def test_data_configs_compose_and_name_a_reader(data, tmp_path):
    overrides = [f"data={data}"]
    if data in ("spotify", "csv"):
        overrides.append(f"data.path={tmp_path / 'export'}")
    cfg = compose_config(overrides, tmp_path)
    assert "_target_" not in cfg.data.source and "_target_" not in cfg.data.sessions
    settings = load_script("train").data_settings(cfg)  # plain data, checked strictly
    assert isinstance(settings.sessions, SessionOptions)
    assert settings.reader in READERS and settings.split in SPLITS
    assert DataSettings.from_dict(settings.to_dict()) == settings
    source = str(settings.reader_options.get("source", ""))
    if data in ("movielens_100k", "30music"):
        assert source.startswith(str(SHARED_DATA)) or "SEGUE_DATA_DIR" in source or source


def test_synthetic_default_reads_a_log(tmp_path):
    cfg = compose_config(["debug=default"], tmp_path)
    log = read_from_settings(load_script("train").data_settings(cfg))
    # debug=default caps the log at data.max_events events, whole listeners only.
    assert isinstance(log, EventLog) and 0 < len(log) <= cfg.data.max_events
    assert log.report.stage == "event cap"
    assert log.report.rows_in == cfg.data.source.n_events


@pytest.mark.parametrize("data", GROUPS["data"])
def test_debug_overlay_combines_with_every_data_group(data, tmp_path):
    """debug=default touches only keys every data group has, and the result validates."""
    overrides = [f"data={data}", "debug=default"]
    if data in ("spotify", "csv"):
        overrides.append(f"data.path={tmp_path / 'export'}")
    cfg = compose_config(overrides, tmp_path)
    run = load_script("train").check_settings(cfg)
    assert run.data.max_events == cfg.data.max_events and run.data.max_len == cfg.model.max_len
    assert run.data.name == data and run.trainer.epochs == cfg.trainer.epochs


@pytest.mark.parametrize("experiment", GROUPS["experiment"])
def test_experiment_overlays_compose(experiment, tmp_path):
    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    assert cfg.trainer.epochs >= 1


def test_a_loss_that_window_masking_would_replace_is_an_error(tmp_path):
    train = load_script("train")
    vocab = train.TrackVocab(track_ids=["a", "b"], counts=[2, 1])
    cfg = compose_config(["experiment=ml100k", "loss=sampled_softmax"], tmp_path)
    with pytest.raises(ValueError, match="loss=sampled_softmax would be ignored"):
        train.build_loss(cfg, vocab)
    cfg = compose_config(
        ["experiment=ml100k", "trainer.mask_window_items=false", "loss=bce"], tmp_path
    )
    assert train.build_loss(cfg, vocab).name == "bce"
