"""Every config file composes, and what it names instantiates."""

import pytest
from hydra.utils import instantiate

from segue.data.event_log import EventLog
from segue.data.pipeline import SessionOptions
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
    assert isinstance(instantiate(cfg.data.sessions), SessionOptions)
    assert cfg.data.split in ("leave_last_out", "global_temporal", "held_out_sessions")
    target = cfg.data.source._target_
    assert target in ("segue.read_log", "segue.data.synthetic.generate_listening_log")
    source = str(cfg.data.source.get("source", ""))
    if data in ("movielens_100k", "30music"):
        assert source.startswith(str(SHARED_DATA)) or "SEGUE_DATA_DIR" in source or source


def test_synthetic_default_instantiates_a_log(tmp_path):
    cfg = compose_config(["debug=default"], tmp_path)
    log = instantiate(cfg.data.source)
    assert isinstance(log, EventLog) and len(log) == cfg.data.source.n_events


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
