"""The refit protocol through the train script: no-validation runs and refit on train + val."""

import json

import pytest

from segue.cli import train_run
from segue.io.checkpoint import load_checkpoint
from tests.scripts.conftest import compose_config


@pytest.mark.slow
def test_validation_days_0_trains_the_given_epochs_and_tests(tmp_path, tiny_overrides):
    overrides = [
        *tiny_overrides,
        "data.split_options.validation_days=0",
        "trainer.epochs=3",
        "trainer.patience=1",
        "trainer.num_threads=1",
    ]
    summary = train_run.train(compose_config(overrides, tmp_path))
    assert (summary["best_epoch"], summary["epochs_run"]) == (3, 3)
    assert summary["checkpoint"] == str(tmp_path / "final.pt")
    assert not (tmp_path / "best.pt").exists()
    assert summary["test"]["points"] > 0
    assert "test_ndcg@10" in load_checkpoint(tmp_path / "final.pt").metrics


@pytest.mark.slow
def test_refit_retrains_on_train_and_validation_for_the_chosen_epochs(tmp_path, tiny_overrides):
    overrides = [*tiny_overrides, "refit=true", "trainer.epochs=3", "trainer.num_threads=1"]
    summary = train_run.train(compose_config(overrides, tmp_path))
    refit = summary["refit"]
    assert refit["epochs"] == summary["best_epoch"]
    assert refit["checkpoint"] == str(tmp_path / "refit" / "final.pt")
    assert refit["test"]["points"] == summary["test"]["points"]  # the same test points
    chosen = load_checkpoint(tmp_path / "best.pt")
    refitted = load_checkpoint(tmp_path / "refit" / "final.pt")
    assert refitted.data_settings.split_options["validation_days"] == 0
    assert refitted.data_settings.name.endswith("+refit")
    assert refitted.vocab.n_tracks >= chosen.vocab.n_tracks  # validation plays now known
    saved = json.loads((tmp_path / "refit" / "test_metrics.json").read_text())
    assert saved["test"] == refit["test"]


def _refit_refused_before_reading(tmp_path, overrides, monkeypatch, refusal):
    """``refit=true`` on ``overrides`` raises ``refusal`` before any data is prepared."""
    read = []
    monkeypatch.setattr(train_run, "prepare_from_settings", lambda *a: read.append(a))
    cfg = compose_config([*overrides, "refit=true"], tmp_path)
    with pytest.raises(ValueError, match=refusal):
        train_run.train(cfg)
    assert read == []


def test_refit_under_torchrun_is_refused_before_any_data_is_read(
    tmp_path, tiny_overrides, monkeypatch
):
    """Process 0 alone reports; a refit there would wait on ranks that have left."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    refusal = r"refit=true is not supported under torchrun"
    _refit_refused_before_reading(tmp_path, tiny_overrides, monkeypatch, refusal)


def test_refit_with_a_split_that_cannot_refit_is_refused_before_any_data_is_read(
    tmp_path, tiny_overrides, monkeypatch
):
    from segue.training import refit

    monkeypatch.delitem(refit.REFIT_SPLITS, "global_temporal")  # as a split without a rule
    refusal = r"'global_temporal' has none"
    _refit_refused_before_reading(tmp_path, tiny_overrides, monkeypatch, refusal)


def test_a_run_destroys_its_process_group_when_it_ends(tmp_path, tiny_overrides, monkeypatch):
    """Training, evaluation or an error: the group goes before the interpreter does (a gloo
    group left to the interpreter's exit can abort the process)."""
    from segue.training import distributed

    calls = []
    monkeypatch.setattr(distributed, "shutdown", lambda: calls.append("shutdown"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = compose_config([*tiny_overrides, "refit=true"], tmp_path)
    with pytest.raises(ValueError):
        train_run.train(cfg)
    assert calls == ["shutdown"]


@pytest.mark.slow
def test_the_blend_weight_is_chosen_on_validation_and_kept_by_the_refit(tmp_path, tiny_overrides):
    overrides = [
        *tiny_overrides,
        "refit=true",
        "trainer.epochs=2",
        "trainer.num_threads=1",
        "blend.weights=[0.2,0.5]",
    ]
    summary = train_run.train(compose_config(overrides, tmp_path))
    blend = summary["blend"]
    assert set(blend["validation_ndcg@10"]) == {0.0, 0.2, 0.5}
    best = max(blend["validation_ndcg@10"].items(), key=lambda kv: (kv[1], -kv[0]))[0]
    assert blend["weight"] == best
    assert load_checkpoint(tmp_path / "best.pt").model_config.blend_weight == best
    refitted = load_checkpoint(tmp_path / "refit" / "final.pt")
    assert refitted.model_config.blend_weight == best == summary["refit"]["blend_weight"]
    assert (refitted.state_dict.get("blend.successors") is not None) == (best > 0)


@pytest.mark.slow
def test_the_co_occurrence_share_is_chosen_with_the_weight_and_kept_by_the_refit(
    tmp_path, tiny_overrides
):
    overrides = [
        *tiny_overrides,
        "refit=true",
        "trainer.epochs=2",
        "trainer.num_threads=1",
        "blend.weights=[0.2]",
        "blend.cooccurrence_weights=[0.3,0.9]",
    ]
    summary = train_run.train(compose_config(overrides, tmp_path))
    blend = summary["blend"]
    assert set(blend["validation_ndcg@10_by_cooccurrence"]) == {0.3, 0.9}
    assert set(blend["validation_ndcg@10_by_cooccurrence"][0.9]) == {0.0}  # 0.2 + 0.9 >= 1
    pairs = {(w, 0.0): v for w, v in blend["validation_ndcg@10"].items()}
    for share, by_weight in blend["validation_ndcg@10_by_cooccurrence"].items():
        pairs.update({(w, share): v for w, v in by_weight.items()})
    best = max(pairs, key=lambda pair: (pairs[pair], -pair[1], -pair[0]))
    assert (blend["weight"], blend["cooccurrence"]) == best
    chosen = load_checkpoint(tmp_path / "best.pt").model_config
    assert (chosen.blend_weight, chosen.blend_cooccurrence) == best
    refitted = load_checkpoint(tmp_path / "refit" / "final.pt")
    assert refitted.model_config.blend_cooccurrence == best[1]
    assert summary["refit"]["blend_cooccurrence"] == best[1]
    assert (refitted.state_dict.get("blend.neighbours") is not None) == (best[1] > 0)


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ("blend.weights=[1.5]", r"blend\.weights\[\] must be a number in \(0, 1\)"),
        ("blend.weights=[0]", r"blend\.weights\[\] must be a number in \(0, 1\)"),
        ("blend.weights=0.2", r"blend\.weights must be a list"),
        (
            "blend.cooccurrence_weights=[1.0]",
            r"blend\.cooccurrence_weights\[\] must be a number in \(0, 1\)",
        ),
        ("blend.cooccurrence_weights=yes", r"blend\.cooccurrence_weights must be a list"),
    ],
)
def test_bad_blend_weights_are_refused_before_any_data_is_read(
    tmp_path, tiny_overrides, monkeypatch, setting, refusal
):
    read = []
    monkeypatch.setattr(train_run, "prepare_from_settings", lambda *a: read.append(a))
    with pytest.raises(ValueError, match=refusal):
        train_run.train(compose_config([*tiny_overrides, setting], tmp_path))
    assert read == []


def test_blend_weights_without_validation_points_are_refused_before_training(
    tmp_path, tiny_overrides
):
    overrides = [*tiny_overrides, "data.split_options.validation_days=0", "blend.weights=[0.2]"]
    with pytest.raises(ValueError, match="no validation points"):
        train_run.train(compose_config(overrides, tmp_path))
    assert not (tmp_path / "final.pt").exists()
