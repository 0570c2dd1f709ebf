from __future__ import annotations

import json

import pytest

from segue.models import ModelConfig, bert4rec, param_groups, sasrec


def test_config_round_trips_through_json() -> None:
    config = ModelConfig(n_tracks=10, n_artists=3, positions="rotary", d_ff=32)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_rejects_bad_values_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="n_heads"):
        ModelConfig(n_tracks=10, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="positions"):
        ModelConfig(n_tracks=10, positions="sinusoidal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"n_tracks": 10, "n_blocks": 2})


def test_derived_sizes() -> None:
    config = ModelConfig(n_tracks=10, d_model=64, n_heads=2)
    assert (config.ff_dim, config.head_dim, config.mask_token) == (64, 32, 11)


def test_builders_set_the_paper_defaults_and_accept_overrides() -> None:
    model = sasrec(50, d_model=32)
    assert model.config.objective == "causal" and model.config.ff_dim == 32
    b4r = bert4rec(50, d_model=32)
    assert b4r.config.objective == "masked" and b4r.config.ff_dim == 128
    assert b4r.track_emb.weight.shape == (52, 32)  # padding + 50 tracks + [MASK]


def test_param_groups_decay_only_linear_weights() -> None:
    model = sasrec(50, d_model=16, n_layers=1)
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert any(p is model.track_emb.weight for p in no_decay["params"])
    n_params = sum(1 for _ in model.parameters())
    assert len(decay["params"]) + len(no_decay["params"]) == n_params


@pytest.mark.parametrize(
    ("values", "error", "names"),
    [
        ({"n_layers": 0}, ValueError, "n_layers"),
        ({"n_heads": 0}, ValueError, "n_heads"),
        ({"d_model": 30, "n_heads": 4}, ValueError, "n_heads"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"dropout": -0.1}, ValueError, "dropout"),
        ({"attn_dropout": float("nan")}, ValueError, "attn_dropout"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"max_len": 1, "objective": "masked"}, ValueError, "max_len"),
        ({"d_ff": 0}, ValueError, "d_ff"),
        ({"n_tracks": 0}, ValueError, "n_tracks"),
        ({"n_artists": -1}, ValueError, "n_artists"),
        ({"d_model": "64"}, TypeError, "d_model"),
        ({"n_layers": 2.0}, TypeError, "n_layers"),
        ({"use_event_types": 1}, TypeError, "use_event_types"),
        ({"objective": "denoising"}, ValueError, "objective"),
        ({"rotary_base": 0.5}, ValueError, "rotary_base"),
    ],
)
def test_config_names_the_bad_hyperparameter(values, error, names) -> None:
    settings = {"n_tracks": 10, **values}
    with pytest.raises(error, match=names):
        ModelConfig(**settings)


def test_a_config_stored_before_blocks_existed_loads_with_the_softmax_block() -> None:
    stored = ModelConfig(n_tracks=10).to_dict()
    del stored["block"]  # checkpoints written before ModelConfig.block
    assert ModelConfig.from_dict(stored).block == "sasrec"
    with pytest.raises(ValueError, match="block"):
        ModelConfig.from_dict({**stored, "block": "mamba"})
