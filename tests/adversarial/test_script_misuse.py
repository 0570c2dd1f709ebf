"""``scripts/train.py`` with bad overrides of the real Hydra configs: each fails before any data
is read or any epoch runs, with the error type and the setting's config path in the message."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import segue.data.settings as settings_module
import segue.training.trainer as trainer_module
from segue.cli import train_run
from tests.scripts.conftest import compose_config

CASES: list[tuple[list[str], type[Exception], str]] = [
    (["model.n_layers=0"], ValueError, "model.n_layers"),
    (["model.n_heads=3"], ValueError, "n_heads=3 must divide d_model"),
    (["model.dropout=1.5"], ValueError, "model.dropout"),
    (["model.max_len=0"], ValueError, "model.max_len"),
    (["model.d_model=wide"], TypeError, "model.d_model"),
    (["+model.n_blocks=2"], ValueError, "model.n_blocks is not a setting"),
    (["trainer.num_threads=0"], ValueError, "trainer.num_threads"),
    (["trainer.batch_size=0"], ValueError, "trainer.batch_size"),
    (["trainer.epochs=-1"], ValueError, "trainer.epochs"),
    (["trainer.patience=0"], ValueError, "trainer.patience"),
    (["trainer.monitor=bogus"], ValueError, "trainer.monitor.*ndcg@K"),
    (["trainer.device=tpu"], ValueError, "trainer.device"),
    (["+trainer.epoch=5"], ValueError, "trainer.epoch is not a setting"),
    (["optim.lr=abc"], TypeError, "optim.lr"),
    (["optim.lr=-1e-3"], ValueError, "optim.lr"),
    (["optim.weight_decay=-1"], ValueError, "optim.weight_decay"),
    (["loss=sampled_softmax", "loss.n_negatives=0"], ValueError, "loss.n_negatives"),
    (["loss=gbce", "+loss.sampler=popularity"], ValueError, "uniform negatives"),
    (["model.history_prior=true", "loss=bce"], ValueError, "history_prior=true with loss=bce"),
    (["loss.label_smoothing=1.0"], ValueError, "loss.label_smoothing"),
    (["model.history_prior=true", "loss.label_smoothing=0.1"], ValueError, "smoothing.*prior"),
    (["loss=gbce", "+loss.label_smoothing=0.1"], ValueError, "label_smoothing applies to"),
    (["trainer.ema_decay=1.0"], ValueError, "trainer.ema_decay"),
    (["trainer.ema_decay=-0.5"], ValueError, "trainer.ema_decay"),
    (["eval.ks=[0]"], ValueError, "eval.ks"),
    (["eval.ks=10"], TypeError, "eval.ks=10: ks must be a non-empty list"),
    (["eval.ks=[]"], TypeError, r"eval.ks=\[\]: ks must be a non-empty list"),
    (["loss.name=hinge"], ValueError, "loss.name=hinge: name must be one of .*, got 'hinge'"),
    (["data.sessions.gap=-5min"], ValueError, "data.sessions.gap"),
    (["data.sessions.gap=30"], TypeError, 'data.sessions.gap.*write "30min"'),
    (["data.sessions.gap=''"], ValueError, "data.sessions.gap"),
    (["+data.sessions.max_length=0"], ValueError, "data.sessions.max_length"),
    (["data.split_options.test_days=0"], ValueError, "data.split_options.test_days"),
    (["data.split_options.validation_days=-2"], ValueError, "data.split_options.validation"),
    (["+data.split_options.bogus=1"], ValueError, "unknown option 'bogus'"),
    (["data.split=random"], ValueError, "split must be one of"),
    (["data.min_count=0"], ValueError, "min_count"),
    (["data.max_events=0"], ValueError, "max_events"),
    (["data=movielens_100k", "+data.split_options.test_days=2"], ValueError, "test_days"),
]


@pytest.fixture
def no_data_no_epochs(monkeypatch) -> None:
    """Fail the test if any reader runs or a training loop is set up, whichever module runs
    the script's body."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("data was read or training started before the settings were checked")

    for name in list(settings_module.READERS):
        monkeypatch.setitem(settings_module.READERS, name, forbidden)
    monkeypatch.setattr(trainer_module, "_Loop", forbidden)


@pytest.mark.parametrize(("overrides", "error", "message"), CASES)
def test_bad_override_fails_before_any_data_is_read(
    overrides, error, message, tmp_path, no_data_no_epochs
) -> None:
    cfg = compose_config(["debug=default", *overrides], tmp_path)
    with pytest.raises(error, match=message):
        train_run.train(cfg)


SPELLED: list[tuple[list[str], str]] = [
    (["trainer.batch_size=0"], "trainer.batch_size=0: "),
    (["optim.lr=abc"], "optim.lr=abc: "),
    (["trainer.patience=0"], "trainer.patience=0: "),
    (["model.n_layers=0"], "model.n_layers=0: "),
    (["model.artist_input=maybe"], "model.artist_input=maybe: must be true or false"),
    (["eval.ks=[0]"], "eval.ks=[0]: "),
    (["data.sessions.gap=-5min"], "data.sessions.gap=-5min: "),
    (["data.split_options.test_days=0"], "data.split_options.test_days=0: "),
    (["loss=sampled_softmax", "loss.n_negatives=0"], "loss.n_negatives=0: "),
    (["+model.n_blocks=2"], "+model.n_blocks=2: model.n_blocks is not a setting"),
    (["+trainer.epoch=5"], "+trainer.epoch=5: trainer.epoch is not a setting"),
]


@pytest.mark.parametrize(("overrides", "start"), SPELLED)
def test_errors_name_the_setting_as_the_override_that_set_it(
    overrides, start, tmp_path, no_data_no_epochs
) -> None:
    """The message starts with what the user typed, in Hydra's spelling (``+`` for a key the
    config does not have), so it can be corrected on the command line as it is."""
    cfg = compose_config(["debug=default", *overrides], tmp_path)
    with pytest.raises((TypeError, ValueError)) as caught:
        train_run.train(cfg)
    assert str(caught.value).startswith(start), str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_fails_before_any_data_is_read(tmp_path, no_data_no_epochs) -> None:
    cfg = compose_config(["debug=default", "trainer.device=cuda"], tmp_path)
    with pytest.raises(ValueError, match=r"trainer.device.*CUDA is not available"):
        train_run.train(cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.split_options.validation_days=0"],  # a refit run: no validation fold
        ["trainer.monitor=hr@50"],
        ["data.sessions.gap=2h", "model=bert4rec", "loss=sampled_softmax"],
    ],
)
def test_good_overrides_pass_the_checks(overrides, tmp_path) -> None:
    cfg = compose_config(["debug=default", *overrides], tmp_path)
    run = train_run.check_settings(cfg)
    assert run.data.max_len == cfg.model.max_len and run.trainer.epochs == cfg.trainer.epochs
    assert int(cfg.trainer.monitor.split("@")[1]) in run.validation_ks


def test_validation_computes_the_monitored_cut_off(tmp_path, monkeypatch) -> None:
    """monitor=ndcg@50 is computed by validation, not a KeyError after the first epoch."""
    seen: dict[str, float] = {}

    class Stop(Exception):
        pass

    def loop(model, data, loss, validate, *args: Any, **kwargs: Any) -> None:
        seen.update(validate(model))  # what fit would call after each epoch
        raise Stop

    monkeypatch.setattr(trainer_module, "_Loop", loop)
    cfg = compose_config(["debug=default", "trainer.monitor=ndcg@50"], tmp_path)
    with pytest.raises(Stop):
        train_run.train(cfg)
    assert {"ndcg@10", "ndcg@20", "ndcg@50"} <= set(seen)
