"""Every config file composes, every option of every group with ``debug=default``, and what the
groups name builds."""

import pytest
import torch

from segue.cli import train_run
from segue.data.event_log import EventLog
from segue.data.pipeline import SPLITS, SessionOptions
from segue.data.settings import READERS, DataSettings, read_from_settings
from segue.data.vocab import TrackVocab
from segue.recipes import OPTIMIZERS, build_optimizer
from tests.conftest import SHARED_DATA
from tests.scripts.conftest import CONFIGS, compose_config

GROUPS = {
    g.name: sorted(p.stem for p in g.glob("*.yaml"))
    for g in sorted(CONFIGS.iterdir())
    if g.is_dir() and any(g.glob("*.yaml")) and g.name != "baselines"  # evaluate's group
}
NEEDS_A_PATH = ("spotify", "csv")
"""Data groups whose log the user names (``data.path=...``)."""


def test_every_yaml_starts_with_the_command_that_runs_it():
    for path in CONFIGS.rglob("*.yaml"):
        lines = [ln for ln in path.read_text().splitlines() if ln != "# @package _global_"]
        assert lines[0].startswith("# Run: python scripts/"), path


def test_the_train_config_reads_every_group_listed_here():
    assert set(GROUPS) == {
        "data", "debug", "experiment", "loss", "model", "optim", "paths", "trainer"
    }  # fmt: skip
    assert len(GROUPS["optim"]) >= 2  # swappable: more than AdamW


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g, options in GROUPS.items() for o in options]
)
def test_every_option_of_every_group_composes_with_debug_and_checks(group, option, tmp_path):
    """Each option, with ``debug=default`` on top, composes and passes every run check."""
    overrides = [f"{group}={option}"] + (["debug=default"] if group != "debug" else [])
    if group == "data" and option in NEEDS_A_PATH:
        overrides.append(f"data.path={tmp_path / 'export'}")
    cfg = compose_config(overrides, tmp_path)
    try:
        recipe = train_run.run_recipe(cfg)  # every setting checked, nothing read
    except ValueError as error:
        # A loss that cannot carry the default model's history prior is refused, saying how.
        assert "model.history_prior=false" in str(error) and group == "loss", error
        cfg = compose_config([*overrides, "model.history_prior=false"], tmp_path)
        recipe = train_run.run_recipe(cfg)
    assert recipe.trainer.epochs == cfg.trainer.epochs == 2  # the debug overlay is on top
    assert recipe.data.max_events == cfg.data.max_events and recipe.data.max_len == 20
    assert recipe.optimizer.name == cfg.optim.get("name", "adamw")
    if group == "data":
        assert recipe.data.name == option


@pytest.mark.parametrize("model", GROUPS["model"])
@pytest.mark.parametrize("loss", GROUPS["loss"])
def test_model_and_loss_configs_instantiate(model, loss, tmp_path):
    cfg = compose_config([f"model={model}", f"loss={loss}"], tmp_path)
    vocab = TrackVocab(track_ids=["a", "b", "c"], counts=[3, 2, 1], artists=["x", "y", "x"])
    net = train_run.build_model(cfg, vocab)
    assert net.config.n_tracks == 3
    assert net.config.n_artists == (2 if cfg.model.artist_input else 0)
    assert train_run.build_loss(cfg, vocab).name == cfg.loss.name
    assert train_run.trainer_config(cfg).lr == cfg.optim.lr
    assert train_run.trainer_config(cfg).prior_lr_scale == cfg.optim.prior_lr_scale


@pytest.mark.parametrize("optim", GROUPS["optim"])
def test_each_optim_group_builds_its_optimizer_with_its_options(optim, tmp_path):
    cfg = compose_config([f"optim={optim}", "debug=default"], tmp_path)
    recipe = train_run.run_recipe(cfg)
    model = train_run.build_model(cfg, TrackVocab(track_ids=["a", "b"], counts=[2, 1]))
    optimizer = build_optimizer(model, recipe.trainer, recipe.optimizer)
    assert isinstance(optimizer, OPTIMIZERS[cfg.optim.name].build)
    group = optimizer.param_groups[0]
    assert group["lr"] == cfg.optim.lr
    options = {k: v for k, v in cfg.optim.items() if k in OPTIMIZERS[cfg.optim.name].options}
    for key, value in options.items():
        assert group[key] == (tuple(value) if isinstance(value, list | tuple) else value)
    # every trainable parameter once, whatever the optimizer
    given = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(given) == len({id(p) for p in given}) == len(list(model.parameters()))


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optim.name=adam", "optim.name=adam: name must be one of ['adamw', 'sgd']"),
        ("+optim.momentun=0.9", "optim.momentun=0.9: momentun is not an option of the adamw"),
        ("+optim.betas=[0.9,1.5]", "optim.betas=[0.9,1.5]: betas must be a number in [0, 1)"),
        ("+optim.amsgrad=yes", "optim.amsgrad=yes: amsgrad must be true or false"),
        ("optim.lr=0", "optim.lr=0: lr must be a number > 0"),
        ("optim.prior_lr_scale=0", "optim.prior_lr_scale=0: prior_lr_scale must be a number > 0"),
    ],
)
def test_a_bad_optim_setting_is_named_before_any_data_is_read(override, named, tmp_path):
    cfg = compose_config(["debug=default", override], tmp_path)
    with pytest.raises((TypeError, ValueError)) as raised:
        train_run.run_recipe(cfg)
    assert str(raised.value).startswith(named)


@pytest.mark.parametrize("sampler", ["popularity", "in_batch"])
def test_the_log_catalogue_with_a_sampler_that_skips_its_tracks_is_refused_before_reading(
    sampler, tmp_path, monkeypatch
):
    read = []
    monkeypatch.setattr(train_run, "prepare_from_settings", lambda *a: read.append(a))
    overrides = ["debug=default", "data.catalogue=log", "loss=sampled_softmax"]
    cfg = compose_config([*overrides, f"loss.sampler={sampler}"], tmp_path)
    with pytest.raises(ValueError, match=f"data.catalogue=log with loss.sampler={sampler}"):
        train_run.run_recipe(cfg)
    assert read == []
    trained_only = [*overrides, "data.catalogue=train", f"loss.sampler={sampler}"]
    train_run.check_settings(compose_config(trained_only, tmp_path))  # every track has plays
    train_run.check_settings(compose_config([*overrides, "loss.sampler=uniform"], tmp_path))


def test_sgd_options_are_checked_together(tmp_path):
    cfg = compose_config(["debug=default", "optim=sgd", "optim.momentum=0"], tmp_path)
    with pytest.raises(ValueError, match="nesterov=true needs momentum > 0"):
        train_run.run_recipe(cfg)


@pytest.mark.parametrize("data", GROUPS["data"])
def test_data_configs_compose_and_name_a_reader(data, tmp_path):
    overrides = [f"data={data}"]
    if data in NEEDS_A_PATH:
        overrides.append(f"data.path={tmp_path / 'export'}")
    cfg = compose_config(overrides, tmp_path)
    assert "_target_" not in cfg.data.source and "_target_" not in cfg.data.sessions
    settings = train_run.data_settings(cfg)  # plain data, checked strictly
    assert isinstance(settings.sessions, SessionOptions)
    assert settings.reader in READERS and settings.split in SPLITS
    assert DataSettings.from_dict(settings.to_dict()) == settings
    # Music logs rank the tracks first heard after train too (a replay of a new track); the
    # two logs evaluated with seen tracks excluded cannot have a replay as a target.
    assert settings.catalogue == ("train" if cfg.data.exclude_seen else "log")
    source = str(settings.reader_options.get("source", ""))
    if data in ("movielens_100k", "30music", "amazon_beauty"):
        assert source.startswith(str(SHARED_DATA)) or "SEGUE_DATA_DIR" in source or source


def test_synthetic_default_reads_a_log(tmp_path):
    cfg = compose_config(["debug=default"], tmp_path)
    log = read_from_settings(train_run.data_settings(cfg))
    # debug=default caps the log at data.max_events events, whole listeners only.
    assert isinstance(log, EventLog) and 0 < len(log) <= cfg.data.max_events
    assert log.report.stage == "event cap"
    assert log.report.rows_in == cfg.data.source.n_events


def test_a_trainer_flag_cannot_replace_the_configured_loss(tmp_path):
    """Window masking is a loss of its own (``loss=window_masked_softmax``), not a trainer flag
    that would silently replace the configured loss."""
    cfg = compose_config(["experiment=ml100k", "+trainer.mask_window_items=true"], tmp_path)
    with pytest.raises(ValueError, match=r"trainer\.mask_window_items is not a setting"):
        train_run.run_recipe(cfg)
    cfg = compose_config(["experiment=ml100k", "loss=bce"], tmp_path)
    vocab = TrackVocab(track_ids=["a", "b"], counts=[2, 1])
    assert train_run.build_loss(cfg, vocab).name == "bce"


def test_the_recipe_carries_the_run_config_and_the_monitored_cut_off(tmp_path):
    cfg = compose_config(["debug=default", "trainer.monitor=ndcg@50"], tmp_path)
    recipe = train_run.run_recipe(cfg)
    assert recipe.validation_ks == (10, 20, 50)
    assert "d_model: 16" in recipe.run_config and str(tmp_path) in recipe.trainer.out_dir
    vocab = TrackVocab(track_ids=["a", "b", "c"], counts=[3, 2, 1])
    model = recipe.model(n_tracks=vocab.n_tracks, n_artists=0)
    assert isinstance(model, torch.nn.Module) and model.config.d_model == 16
