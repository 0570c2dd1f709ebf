"""The optimizer recipe: a name from a fixed table, options checked, parameters injected."""

from __future__ import annotations

import pytest
import torch

from segue.data.pipeline import prepare_data
from segue.data.synthetic import generate_listening_log
from segue.models import sasrec
from segue.recipes import OptimizerSettings, build_optimizer
from segue.recipes.optimizer import OPTIMIZERS, split_optim_group
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=30, n_events=1500, seed=1)
    return prepare_data(log, split="leave_last_out", max_len=12)


def tiny_model(n_tracks: int, **overrides) -> torch.nn.Module:
    return sasrec(n_tracks, d_model=8, n_layers=1, n_heads=2, max_len=12, seed=3, **overrides)


def config(out_dir, **values) -> TrainerConfig:
    defaults = {"epochs": 2, "batch_size": 8, "max_steps_per_epoch": 3, "warmup_steps": 1}
    return TrainerConfig(**{**defaults, **values}, out_dir=str(out_dir), progress=False)


def weights_after(data, out_dir, optimizer_settings=None, **values):
    model = tiny_model(data.vocab.n_tracks)
    settings = config(out_dir, **values)
    optimizer = (
        None if optimizer_settings is None else build_optimizer(model, settings, optimizer_settings)
    )
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    fit(model, data.train, loss, None, settings, vocab=data.vocab, optimizer=optimizer)
    return [p.detach().clone() for p in model.parameters()]


DECAYS = [{}, {"weight_decay": 0.1}, {"decay_all": True, "weight_decay": 0.1}]


@pytest.mark.parametrize("values", DECAYS)
def test_the_adamw_recipe_trains_exactly_as_fit_does_without_one(data, tmp_path, values):
    """The default of ``fit`` and the ``optim=adamw`` recipe are the same optimizer, bit for bit."""
    default = weights_after(data, tmp_path / "a", **values)
    recipe = weights_after(data, tmp_path / "b", OptimizerSettings("adamw"), **values)
    assert all(torch.equal(a, b) for a, b in zip(default, recipe, strict=True))


def test_sgd_is_built_with_its_options_and_trains_differently(data, tmp_path):
    model = tiny_model(data.vocab.n_tracks)
    chosen = OptimizerSettings("sgd", {"momentum": 0.9, "nesterov": True})
    optimizer = build_optimizer(model, config(tmp_path, lr=0.05, weight_decay=0.01), chosen)
    assert isinstance(optimizer, torch.optim.SGD)
    decayed, kept = optimizer.param_groups  # decay on the block matrices only
    assert (decayed["weight_decay"], kept["weight_decay"]) == (0.01, 0.0)
    assert decayed["momentum"] == 0.9 and decayed["nesterov"] and decayed["lr"] == 0.05
    sgd = weights_after(data, tmp_path / "sgd", chosen, lr=0.05)
    adamw = weights_after(data, tmp_path / "adamw", lr=0.05)
    assert not all(torch.equal(a, b) for a, b in zip(sgd, adamw, strict=True))


def test_the_schedule_drives_the_chosen_optimizers_learning_rate(data, tmp_path):
    model = tiny_model(data.vocab.n_tracks)
    settings = config(tmp_path, lr=0.05, epochs=1, max_steps_per_epoch=4, warmup_steps=2)
    optimizer = build_optimizer(model, settings, OptimizerSettings("sgd", {"momentum": 0.5}))
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    result = fit(model, data.train, loss, None, settings, vocab=data.vocab, optimizer=optimizer)
    # After 4 steps of 4 (2 warmup, then cosine to 0), the rate has decayed to the floor.
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert optimizer.param_groups[0]["initial_lr"] == 0.05


def test_resuming_with_another_optimizer_is_refused(data, tmp_path):
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    model = tiny_model(data.vocab.n_tracks)
    fit(model, data.train, loss, None, config(tmp_path, epochs=2, max_steps_per_epoch=1),
        vocab=data.vocab, stop_epoch=1)  # fmt: skip
    resumed = config(tmp_path, epochs=2, max_steps_per_epoch=1, resume=True)
    sgd = build_optimizer(model, resumed, OptimizerSettings("sgd"))
    with pytest.raises(ValueError, match="trained with AdamW, this run's optimizer is SGD"):
        fit(model, data.train, loss, None, resumed, vocab=data.vocab, optimizer=sgd)


@pytest.mark.parametrize(
    ("name", "options", "error", "message"),
    [
        ("adam", {}, ValueError, "name must be one of"),
        ("sgd", {"betas": [0.9, 0.99]}, ValueError, "betas is not an option of the sgd"),
        ("adamw", {"betas": [0.9]}, TypeError, "betas must be two numbers"),
        ("adamw", {"eps": 0}, ValueError, "eps must be a number > 0"),
        ("sgd", {"momentum": 1.5}, ValueError, r"momentum must be a number in \[0, 1\]"),
        ("sgd", {"nesterov": "yes"}, TypeError, "nesterov must be true or false"),
        ("sgd", {"nesterov": True}, ValueError, "nesterov=true needs momentum > 0"),
    ],
)
def test_bad_settings_are_named(name, options, error, message):
    with pytest.raises(error, match=message):
        OptimizerSettings(name, options)


def test_every_optimizer_of_the_table_builds_with_each_of_its_options():
    model = tiny_model(5)
    values = {"betas": [0.8, 0.9], "eps": 1e-6, "amsgrad": True, "momentum": 0.5}
    values |= {"dampening": 0.0, "nesterov": True}
    for name, choice in OPTIMIZERS.items():
        options = {key: values[key] for key in choice.options}
        optimizer = build_optimizer(model, TrainerConfig(), OptimizerSettings(name, options))
        assert isinstance(optimizer, choice.build)


def test_the_optim_group_splits_into_trainer_fields_and_options():
    shared, chosen = split_optim_group(
        {"name": "sgd", "lr": 0.1, "grad_clip": None, "momentum": 0.9, "warmup_steps": 5}
    )
    assert shared == {"lr": 0.1, "grad_clip": None, "warmup_steps": 5}
    assert chosen == OptimizerSettings("sgd", {"momentum": 0.9})
    assert TrainerConfig(**shared).lr == 0.1  # every shared key is a TrainerConfig field


def prior_model(n_tracks: int) -> torch.nn.Module:
    return tiny_model(n_tracks, history_prior=True, prior_combine="mixture")


def test_the_history_prior_learns_at_its_own_multiple_of_the_rate(data, tmp_path):
    model = prior_model(data.vocab.n_tracks)
    settings = config(tmp_path, lr=0.002, weight_decay=0.1, prior_lr_scale=10.0)
    optimizer = build_optimizer(model, settings, OptimizerSettings("adamw"))
    prior = {id(p) for p in model.prior.parameters()}
    groups = optimizer.param_groups
    own = [g for g in groups if any(id(p) in prior for p in g["params"])]
    assert {id(p) for g in own for p in g["params"]} == prior  # every prior parameter, alone
    assert all(id(p) in prior for g in own for p in g["params"])
    assert [g["lr"] for g in own] == pytest.approx([0.02] * len(own))
    assert {g["lr"] for g in groups if g not in own} == {0.002}
    # The gate's matrix keeps its weight decay, its bias and the exponents none.
    assert sorted(g["weight_decay"] for g in own) == [0.0, 0.1]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    fit(model, data.train, loss, None, settings, vocab=data.vocab, optimizer=optimizer)
    # The schedule scales every group alike: the ratio holds at every step.
    for group in own:
        assert group["initial_lr"] == pytest.approx(10 * groups[0]["initial_lr"])


def test_fit_applies_the_prior_rate_as_the_recipe_does(data, tmp_path):
    def weights(out, optimizer_settings):
        model = prior_model(data.vocab.n_tracks)
        settings = config(out, prior_lr_scale=10.0)
        optimizer = (
            None
            if optimizer_settings is None
            else build_optimizer(model, settings, optimizer_settings)
        )
        loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
        fit(model, data.train, loss, None, settings, vocab=data.vocab, optimizer=optimizer)
        return [p.detach().clone() for p in model.parameters()]

    default = weights(tmp_path / "a", None)
    assert all(
        torch.equal(a, b)
        for a, b in zip(default, weights(tmp_path / "b", OptimizerSettings()), strict=True)
    )
    plain = weights_after(data, tmp_path / "c")  # no prior: the scale changes nothing
    scaled = weights_after(data, tmp_path / "d", prior_lr_scale=10.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, scaled, strict=True))


def test_the_prior_rate_changes_what_the_prior_learns(data, tmp_path):
    def gate_after(out, scale):
        model = prior_model(data.vocab.n_tracks)
        loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
        fit(model, data.train, loss, None, config(out, prior_lr_scale=scale), vocab=data.vocab)
        return model.prior.count_power.detach().clone()

    start = prior_model(data.vocab.n_tracks).prior.count_power.detach()
    slow, fast = gate_after(tmp_path / "a", 1.0), gate_after(tmp_path / "b", 10.0)
    assert (fast - start).abs().max() > 3 * (slow - start).abs().max()


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_a_prior_rate_that_is_not_positive_is_refused(scale):
    with pytest.raises(ValueError, match="prior_lr_scale"):
        TrainerConfig(prior_lr_scale=scale)


def test_resuming_with_another_prior_rate_is_refused_by_name(data, tmp_path):
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    model = prior_model(data.vocab.n_tracks)
    fit(model, data.train, loss, None, config(tmp_path, epochs=2, max_steps_per_epoch=1),
        vocab=data.vocab, stop_epoch=1)  # fmt: skip
    resumed = config(tmp_path, epochs=2, max_steps_per_epoch=1, resume=True, prior_lr_scale=10.0)
    with pytest.raises(ValueError, match=r"resume with the same optim\.decay_all and optim\.prior"):
        fit(model, data.train, loss, None, resumed, vocab=data.vocab)
