"""The ONNX backend against the checkpoint backend, in process; the numpy top-k against torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.evaluation.ranking import top_k as torch_top_k
from segue.serve.backends import UnknownTrackError, load_backend, model_version
from segue.serve.events import Event, ListenerEvents
from segue.serve.np_ranking import top_k

HISTORY = [Event("t1"), Event("t7", "skip"), Event("t3"), Event("t30", "like")]
TIMED = [Event(e.track_id, e.event_type, 1000.0 + 200 * i) for i, e in enumerate(HISTORY)]


@pytest.fixture(scope="module")
def backends(models):
    return load_backend(models.checkpoint, 10, 50), load_backend(models.bundle, 10, 50)


def _ids(listing) -> list[str]:
    return [item["track_id"] for item in listing.items]


def test_loader_picks_the_backend_and_versions_differ(models, backends, tmp_path):
    torch_backend, onnx_backend = backends
    assert (torch_backend.kind, onnx_backend.kind) == ("checkpoint", "onnx")
    assert torch_backend.version == model_version(models.checkpoint) != onnx_backend.version
    assert model_version(models.checkpoint) != model_version(models.other_checkpoint)
    with pytest.raises(FileNotFoundError, match="no model at"):
        load_backend(tmp_path / "missing.pt", 1, 1)
    with pytest.raises(ValueError, match="not an ONNX bundle"):
        load_backend(tmp_path, 1, 1)


def test_the_int8_screen_setting_reaches_the_checkpoint_backend(models, backends):
    pytest.importorskip("onnxruntime")
    screened = load_backend(models.checkpoint, 10, 50, int8_screen=True)
    assert screened.rec.catalogue.screen is not None
    assert backends[0].rec.catalogue.screen is None  # a small catalogue: none by default
    lists = [b.recommend(HISTORY, 5, True, None, None, None) for b in (screened, backends[0])]
    assert _ids(lists[0]) == _ids(lists[1])


@pytest.mark.parametrize("history", [HISTORY, TIMED, []])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"block": ["t24", "t31"], "max_per_artist": 1},
        {"allow": [f"t{i}" for i in range(0, 40, 3)], "exclude_played": False},
    ],
)
def test_onnx_recommend_matches_the_checkpoint(backends, history, options):
    torch_backend, onnx_backend = backends
    args = {"exclude_played": True, "allow": None, "block": None, "max_per_artist": None}
    args.update(options)
    want = torch_backend.recommend(history, 8, **args)
    got = onnx_backend.recommend(history, 8, **args)
    assert _ids(got) == _ids(want)
    assert [i["score"] for i in got.items] == pytest.approx([i["score"] for i in want.items], 1e-4)
    assert got.cold_start == want.cold_start == (not history)


def test_onnx_similar_and_playlist_match_the_checkpoint(backends):
    torch_backend, onnx_backend = backends
    assert _ids(onnx_backend.similar("t3", 6)) == _ids(torch_backend.similar("t3", 6))
    for backend in backends:
        with pytest.raises(UnknownTrackError):
            backend.similar("nope", 3)
    for window, cap in ((None, None), (2, 1), (0, None)):
        # 2 seeds + 10 picks fit max_len (12): past it the KV cache's keep policy departs
        # from re-encoding the last max_len events, by design (see segue.api.session_state).
        args = (HISTORY[:2], 10, window, cap, None, ["t24"], None, None)
        want, got = torch_backend.continue_playlist(*args), onnx_backend.continue_playlist(*args)
        assert _ids(got) == _ids(want), (window, cap)
    sampled = [
        onnx_backend.continue_playlist(HISTORY, 5, None, None, None, None, 0.5, 3) for _ in range(2)
    ]
    assert _ids(sampled[0]) == _ids(sampled[1])  # seeded


def test_int8_bundle_ranks_like_the_float_model(models, backends):
    torch_backend, _ = backends
    int8 = load_backend(models.int8_bundle, 1, 1)
    want = _ids(torch_backend.recommend(HISTORY, 10, True, None, None, None))
    got = _ids(int8.recommend(HISTORY, 10, True, None, None, None))
    assert len(set(got) & set(want)) >= 8 and got[0] == want[0]


def test_the_int8_bundle_scores_through_the_integer_kernel_within_its_bound(models, backends):
    int8 = load_backend(models.int8_bundle, 1, 1)
    rec = int8.rec
    assert rec.int8_kernel is not None  # the serving backend builds it
    listener = np.random.default_rng(0).standard_normal((3, rec.values.shape[1])).astype("f4")
    fast = rec.dot_scores(listener)
    kernel, rec.int8_kernel = rec.int8_kernel, None  # the runtime's chunked float product
    chunked = rec.dot_scores(listener)
    bound = kernel.query_error_bound(torch.from_numpy(listener)).numpy()  # (3, V)
    assert (np.abs(fast - chunked)[:, 1:] <= bound[:, 1:] * 1.01 + 1e-6).all()
    assert np.isneginf(fast[:, 0]).all()
    rec.use_int8_kernel(kernel)
    with pytest.raises(ValueError, match="covers"):
        rec.use_int8_kernel(type("K", (), {"n_rows": 3, "dim": 2})())
    assert backends[1].rec.int8_kernel is None  # a float bundle scores in float
    with pytest.raises(ValueError, match="float32"):
        backends[1].rec.use_int8_kernel(kernel)


def test_listener_cache_follows_the_store(backends):
    torch_backend, _ = backends
    events = list(TIMED)
    first = torch_backend.listener(
        "x", ListenerEvents(tuple(events[:2]), 2), 5, True, None, None, None
    )
    step = torch_backend.listener(
        "x", ListenerEvents(tuple(events[:3]), 3), 5, True, None, None, None
    )
    assert (first.source, step.source) == ("reencoded", "kv_cache")
    # Another worker wrote two events this one never saw: the cache is behind, still usable.
    caught_up = torch_backend.listener(
        "x", ListenerEvents(tuple(events), 4), 5, True, None, None, None
    )
    assert caught_up.source == "kv_cache"
    full = torch_backend.recommend(events, 5, True, None, None, None)
    assert _ids(caught_up) == _ids(full)
    # Deleted and written again: same total, different events -> re-encoded, not stale.
    fresh = (
        Event("t9", "play", 5000.0),
        Event("t8", "play", 5100.0),
        Event("t2", "play", 5200.0),
        Event("t5", "play", 5300.0),
    )
    again = torch_backend.listener("x", ListenerEvents(fresh, 4), 5, True, None, None, None)
    assert again.source == "reencoded"
    assert _ids(again) == _ids(torch_backend.recommend(list(fresh), 5, True, None, None, None))


@pytest.mark.parametrize("cap", [None, 1, 2])
def test_numpy_top_k_matches_torch(cap):
    gen = np.random.default_rng(0)
    artists = gen.integers(0, 6, size=200)
    artists[0] = 0
    for _ in range(20):
        scores = gen.normal(size=200).astype(np.float32)
        scores[0] = -np.inf
        scores[gen.integers(1, 200, size=60)] = -np.inf
        want = torch_top_k(
            torch.from_numpy(scores)[None], 15, artist_of_track=artists, max_per_artist=cap
        ).indices[0]
        got = top_k(scores, 15, artists, cap)
        assert got.tolist() == want[want > 0].tolist()


@pytest.mark.parametrize("which", [0, 1])
def test_batched_recommendations_equal_single_ones(backends, which):
    backend = backends[which]
    histories = [HISTORY, TIMED, [], [Event("nope"), Event("t5")], HISTORY[:1]]
    ks, exclude = [3, 5, 2, 4, 6], [True, False, True, True, False]
    batched = backend.recommend_many(histories, ks, exclude)
    for history, k, flag, got in zip(histories, ks, exclude, batched):
        want = backend.recommend(history, k, flag, None, None, None)
        assert _ids(got) == _ids(want)
        assert [i["rank"] for i in got.items] == list(range(1, k + 1))
        assert (got.cold_start, got.unknown_ids) == (want.cold_start, want.unknown_ids)
