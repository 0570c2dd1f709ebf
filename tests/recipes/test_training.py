"""A run from a recipe: run-time values injected, parts built in order, the loop's arguments."""

from __future__ import annotations

import functools

import pytest
import torch

from segue.data.settings import DataSettings
from segue.data.vocab import TrackVocab
from segue.io.checkpoint import load_checkpoint
from segue.models import sasrec
from segue.recipes import (
    OptimizerSettings,
    RunRecipe,
    build_loss,
    build_model,
    build_parts,
    prepare_from_settings,
    train,
)
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig

SETTINGS = DataSettings(
    "tiny", "synthetic", {"n_users": 30, "n_events": 1500, "seed": 1}, max_len=12
)
MODEL = functools.partial(sasrec, d_model=8, n_layers=1, n_heads=2, max_len=12, seed=3)


def recipe(tmp_path, **values) -> RunRecipe:
    trainer = TrainerConfig(
        epochs=2, batch_size=8, max_steps_per_epoch=3, out_dir=str(tmp_path), progress=False
    )
    return RunRecipe(
        data=SETTINGS, model=MODEL, loss=functools.partial(loss_for, "softmax"), trainer=trainer,
        **values,
    )  # fmt: skip


def test_the_catalogue_sizes_are_injected_when_the_parts_are_built():
    vocab = TrackVocab(track_ids=["a", "b", "c"], counts=[5, 2, 1], artists=["x", "y", "x"])
    assert build_model(MODEL, vocab, artist_input=True).config.n_artists == 2
    assert build_model(MODEL, vocab, artist_input=False).config.n_artists == 0
    seen = {}

    def factory(**values):
        seen.update(values)
        return loss_for("sampled_softmax", n_negatives=2, sampler="popularity", **values)

    build_loss(factory, vocab)
    assert seen["n_tracks"] == 3
    assert seen["counts"].dtype == torch.float32 and seen["counts"].tolist()[1:] == [5, 2, 1]


def test_the_parts_are_built_on_the_models_parameters(tmp_path):
    chosen = OptimizerSettings("sgd", {"momentum": 0.9})
    parts = build_parts(recipe(tmp_path, optimizer=chosen), TrackVocab(["a", "b"], [2, 1]))
    assert isinstance(parts.optimizer, torch.optim.SGD)
    given = {id(p) for group in parts.optimizer.param_groups for p in group["params"]}
    assert given == {id(p) for p in parts.model.parameters()}


def test_a_recipe_must_validate_on_its_monitored_cut_off(tmp_path):
    trainer = TrainerConfig(monitor="hr@50", out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="lack the cut-off of the monitored metric hr@50"):
        RunRecipe(data=SETTINGS, model=MODEL, loss=loss_for, trainer=trainer)
    RunRecipe(SETTINGS, MODEL, loss_for, trainer, validation_ks=(10, 50))


def test_train_validates_stores_the_settings_and_config_and_uses_the_optimizer(tmp_path):
    run = recipe(tmp_path, optimizer=OptimizerSettings("sgd"), run_config="a: 1\n")
    data = prepare_from_settings(run.data)
    result = train(run, data)
    assert result.epochs_run == 2 and {"ndcg@10", "ndcg@20"} <= set(result.best_metrics)
    best = load_checkpoint(tmp_path / "best.pt")
    assert best.config == "a: 1\n"
    assert best.data_settings == SETTINGS.for_model(best.model_config)
    last = load_checkpoint(tmp_path / "last.pt")
    assert last.training_state["optimizer_class"] == "SGD"


def test_the_same_recipe_trains_to_the_same_weights(tmp_path):
    """Deterministic init (a seeded builder) and a seeded loop: a run is reproducible."""
    run = recipe(tmp_path / "a")
    data = prepare_from_settings(run.data)
    first = build_parts(run, data.vocab)
    train(run, data, first)
    again = recipe(tmp_path / "b")
    second = build_parts(again, data.vocab)
    train(again, data, second)
    pairs = zip(first.model.parameters(), second.model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
