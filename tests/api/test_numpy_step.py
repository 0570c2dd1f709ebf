"""The numpy session step against torch's incremental step (the reference)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from segue.api import session_state as session_state_module
from segue.api.numpy_step import NumpyStep, numpy_step_for
from segue.data.batch import SequenceBatch
from segue.models import bert4rec, sasrec
from tests.api.conftest import ids, tiny_recommender
from tests.api.prior_model import spread_weights

N_TRACKS = 300

CONFIGS = [
    {},
    {"n_artists": 7},
    {"n_artists": 7, "use_event_types": True, "use_gap_buckets": True},
    {"n_heads": 4, "d_model": 32, "n_layers": 3, "d_ff": 80},
    {"n_heads": 1, "d_model": 8, "n_layers": 1},
    {"positions": "none", "use_event_types": True},
]


def model_of(overrides: dict, seed: int = 0) -> torch.nn.Module:
    values = {"d_model": 16, "n_heads": 2, "n_layers": 2, "max_len": 12, "seed": seed}
    values.update(overrides)
    model = sasrec(N_TRACKS, **values)
    spread_weights(model, seed)
    return model.eval()


def random_events(model, length: int, seed: int, padding: int = 0) -> SequenceBatch:
    """One row of ``length`` events with every side input the model reads, after ``padding``
    columns of left padding."""
    gen = torch.Generator().manual_seed(seed)
    config = model.config

    def column(high: int) -> torch.Tensor:
        values = torch.randint(1, high, (1, length), generator=gen)
        return torch.cat((torch.zeros(1, padding, dtype=torch.long), values), dim=1)

    return SequenceBatch(
        tracks=column(N_TRACKS + 1),
        artists=column(config.n_artists + 1) if config.n_artists else None,
        event_types=column(config.n_event_types) if config.use_event_types else None,
        gap_buckets=column(config.n_gap_buckets) if config.use_gap_buckets else None,
    )


def one(batch: SequenceBatch, column: int) -> SequenceBatch:
    """Column ``column`` of a one-row batch, as a (1, 1) batch."""
    pick = {
        name: getattr(batch, name) for name in ("tracks", "artists", "event_types", "gap_buckets")
    }
    return SequenceBatch(
        **{name: None if t is None else t[:, column : column + 1] for name, t in pick.items()}
    )


@pytest.mark.parametrize("overrides", CONFIGS)
@pytest.mark.parametrize("padding", [0, 3])
def test_steps_equal_torch_incremental_steps(overrides, padding):
    """From a cache of 4 events (after left padding, in one case), 6 more events one at a time:
    every hidden state, key, value, key mask and count equals torch's, step after step."""
    model = model_of(overrides, seed=len(overrides) + padding)
    fast = numpy_step_for(model)
    assert isinstance(fast, NumpyStep)
    events = random_events(model, 10, seed=padding, padding=padding)
    prefix = SequenceBatch(
        **{
            name: None if t is None else t[:, : padding + 4]
            for name, t in vars(events).items()
            if name != "targets"
        }
    )
    with torch.inference_mode():
        _, torch_cache = model.forward_incremental(prefix, None)
        numpy_cache = torch_cache
        for column in range(padding + 4, padding + 10):
            event = one(events, column)
            expected, torch_cache = model.forward_incremental(event, torch_cache)
            hidden, numpy_cache = fast.step(event, numpy_cache)
            torch.testing.assert_close(hidden, expected, rtol=1e-5, atol=1e-5)
            for a, b in zip(
                numpy_cache.keys + numpy_cache.values, torch_cache.keys + torch_cache.values
            ):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            assert torch.equal(numpy_cache.key_mask, torch_cache.key_mask)
            assert torch.equal(numpy_cache.n_real, torch_cache.n_real)


def test_position_overflow_is_refused_as_torch_refuses_it():
    model = model_of({"max_len": 5})
    events = random_events(model, 6, seed=1)
    with torch.inference_mode():
        _, cache = model.forward_incremental(one(events, 0), None)
        for column in range(1, 5):
            _, cache = model.forward_incremental(one(events, column), cache)
        with pytest.raises(ValueError, match="max_len=5"):
            model.forward_incremental(one(events, 5), cache)
        with pytest.raises(ValueError, match="max_len=5"):
            numpy_step_for(model).step(one(events, 5), cache)


def test_models_it_cannot_match_keep_torchs_step():
    assert numpy_step_for(model_of({"positions": "rotary"})) is None
    assert numpy_step_for(model_of({"block": "hstu"})) is None
    assert numpy_step_for(bert4rec(N_TRACKS, d_model=16, n_heads=2, max_len=8)) is None
    assert numpy_step_for(model_of({}).train()) is None
    assert numpy_step_for(model_of({}).double()) is None
    tanh = model_of({})
    for block in tanh.blocks:
        block.mlp[1] = torch.nn.GELU(approximate="tanh")
    assert numpy_step_for(tanh) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.train(),
        lambda m: m.double(),
        lambda m: m.blocks[1].mlp.__setitem__(1, torch.nn.GELU(approximate="tanh")),
    ],
)
def test_a_cached_step_is_dropped_when_the_model_changes_under_it(change):
    model = model_of({})
    assert numpy_step_for(model) is not None
    change(model)
    assert numpy_step_for(model) is None


def test_one_step_per_model_that_sees_in_place_weight_updates():
    model = model_of({})
    fast = numpy_step_for(model)
    assert numpy_step_for(model) is fast
    events = random_events(model, 3, seed=2)
    with torch.inference_mode():
        _, cache = model.forward_incremental(one(events, 0), None)
        before, _ = fast.step(one(events, 1), cache)
    with torch.no_grad():  # not a constant: LayerNorm removes a shift of every component
        bias = model.blocks[0].mlp[2].bias
        bias.add_(torch.linspace(-1.0, 1.0, len(bias)))
    with torch.inference_mode():
        after, _ = fast.step(one(events, 1), cache)
        expected, _ = model.forward_incremental(one(events, 1), cache)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-5)


def test_sessions_and_playlists_are_the_same_with_and_without_it(monkeypatch):
    """Across the cache's rebuild at max_len (the tiny model's max_len is below 30 events)."""
    rec = tiny_recommender()
    history = ids(1, 2, 3)
    adds = [f"t{int(i)}" for i in np.random.default_rng(0).integers(1, 40, 30)]

    def run() -> tuple[list, list]:
        state = rec.session(history)
        lists = []
        for track in adds:
            state.add(track)
            lists.append(state.recommend(5)["track_id"].tolist())
        playlist = rec.continue_playlist(history, n=12)["track_id"].tolist()
        return lists, playlist

    steps = []
    real_step = NumpyStep.step
    monkeypatch.setattr(NumpyStep, "step", lambda *a: steps.append(1) or real_step(*a))
    fast = run()
    assert len(steps) > len(adds)  # the session's adds and the playlist's picks
    monkeypatch.setattr(session_state_module, "numpy_step_for", lambda model: None)
    assert run() == fast


def test_bad_events_are_named():
    model = model_of({})
    events = random_events(model, 3, seed=3)
    with torch.inference_mode():
        _, cache = model.forward_incremental(one(events, 0), None)
    fast = numpy_step_for(model)
    with pytest.raises(ValueError, match="one real event"):
        fast.step(events, cache)
    with_artists = model_of({"n_artists": 4})
    with torch.inference_mode():
        _, cache = with_artists.forward_incremental(random_events(with_artists, 2, seed=4), None)
    with pytest.raises(ValueError, match="artists"):
        numpy_step_for(with_artists).step(SequenceBatch(tracks=torch.tensor([[5]])), cache)
    assert copy.deepcopy(model) is not model  # models stay copyable with a step cached


@pytest.mark.parametrize("overrides", CONFIGS)
def test_whole_windows_equal_torch_encoding(overrides):
    """A session's first window, or one request's history, encoded at once in numpy."""
    model = model_of(overrides, seed=7)
    fast = numpy_step_for(model)
    for length in (1, 5, model.config.max_len):
        events = random_events(model, length, seed=length)
        with torch.inference_mode():
            expected, reference = model.forward_incremental(events, None)
            hidden, cache = fast.encode(events)
            torch.testing.assert_close(hidden, expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(
                hidden[:, -1], model.next_hidden(events), rtol=1e-5, atol=1e-5
            )
            for a, b in zip(cache.keys + cache.values, reference.keys + reference.values):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            assert torch.equal(cache.key_mask, reference.key_mask)
            assert torch.equal(cache.n_real, reference.n_real)
            # and a step on top of the numpy cache equals torch's step on top of its own
            step = one(random_events(model, 1, seed=99), 0)
            if length < model.config.max_len or model.config.positions == "none":
                torch.testing.assert_close(
                    fast.step(step, cache)[0],
                    model.forward_incremental(step, reference)[0],
                    rtol=1e-5,
                    atol=1e-5,
                )


def test_whole_window_errors_are_torchs():
    model = model_of({"max_len": 4})
    fast = numpy_step_for(model)
    with pytest.raises(ValueError, match="max_len=4"):
        fast.encode(random_events(model, 5, seed=0))
    with pytest.raises(ValueError, match="one row of real events"):
        fast.encode(random_events(model, 3, seed=0, padding=1))


def test_single_requests_are_the_same_with_and_without_it(monkeypatch):
    from segue.api import ranking

    rec = tiny_recommender()
    histories = [ids(1, 2, 3), ids(7), ids(*range(1, 30))]  # the last is cut to max_len
    fast = [rec.recommend(h, k=6)["track_id"].tolist() for h in histories]
    monkeypatch.setattr(ranking, "numpy_step_for", lambda model: None)
    monkeypatch.setattr(session_state_module, "numpy_step_for", lambda model: None)
    assert [rec.recommend(h, k=6)["track_id"].tolist() for h in histories] == fast
