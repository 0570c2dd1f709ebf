"""The torch-free backend's int8 screen gives the lists and greedy playlists of full scoring.

A float bundle's screen re-scores its candidates in float, so its lists are the float
product's (to float rounding), on a model with a history prior whose terms the screen must add
to its candidates exactly as full scoring does. An int8 bundle has no screen: it is scored by
the integer kernel directly.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

from segue.export.onnx_export import export_onnx
from segue.io.checkpoint import Checkpoint, save_checkpoint
from segue.serve import onnx_backend
from segue.serve.events import Event
from segue.serve.onnx_backend import OnnxBackend
from tests.api.prior_model import prior_model, prior_vocab

N_TRACKS = 3000


@pytest.fixture(scope="module", params=["sum", "mixture"])
def bundles(tmp_path_factory, request) -> tuple:
    folder = tmp_path_factory.mktemp("onnx_screen")
    model = prior_model(N_TRACKS, plays=True, chain=True, combine=request.param)
    checkpoint = save_checkpoint(
        Checkpoint(model.config, model.state_dict(), prior_vocab(N_TRACKS)), folder / "m.pt"
    )
    float_bundle = export_onnx(checkpoint, folder / "float")
    return float_bundle, export_onnx(checkpoint, folder / "int8", int8_embeddings=True)


@pytest.fixture(scope="module")
def pair(bundles) -> tuple[OnnxBackend, OnnxBackend]:
    screened = OnnxBackend.load(bundles[0], "v", screen_min_tracks=0)
    full = OnnxBackend.load(bundles[0], "v")
    assert screened.screen is not None and full.screen is None  # 3,000 < SCREEN_MIN_TRACKS
    return screened, full


def histories(n: int, seed: int) -> list[list[Event]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start = int(rng.integers(0, N_TRACKS - 10))
        run = [f"t{start + i}" for i in range(int(rng.integers(1, 6)))]
        noise = [f"t{int(i)}" for i in rng.integers(0, N_TRACKS, int(rng.integers(0, 4)))]
        out.append([Event(t) for t in noise + run])
    return out


def assert_same(a, b) -> None:
    assert [i["track_id"] for i in a.items] == [i["track_id"] for i in b.items]
    np.testing.assert_allclose(
        [i["score"] for i in a.items], [i["score"] for i in b.items], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "rules",
    [
        (True, None, None, None),
        (False, None, None, None),
        (True, None, [f"t{i}" for i in range(0, N_TRACKS, 3)], None),
        (True, [f"t{i}" for i in range(0, N_TRACKS, 2)], None, 1),
        (True, None, None, 1),
    ],
)
def test_screened_lists_equal_full_scoring(pair, rules):
    screened, full = pair
    exclude, allow, block, cap = rules
    for history in histories(20, seed=1):
        assert_same(
            screened.recommend(history, 10, exclude, allow, block, cap),
            full.recommend(history, 10, exclude, allow, block, cap),
        )


@pytest.mark.parametrize("rules", [(None, None, None), (3, None, None), (None, 2, ["t1", "t2"])])
def test_screened_greedy_playlists_equal_full_scoring(pair, rules):
    screened, full = pair
    window, cap, block = rules
    for seeds in histories(5, seed=2):
        args = (seeds, 12, window, cap, None, block, None, None)
        assert_same(screened.continue_playlist(*args), full.continue_playlist(*args))


def test_the_screen_answers_and_short_lists_fall_back(pair, monkeypatch):
    screened, full = pair
    calls = []
    real = onnx_backend.floor_below

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_backend, "floor_below", spy)
    history = [Event("t5"), Event("t6")]
    screened.recommend(history, 10, True, None, None, None)
    screened.continue_playlist(history, 3, None, None, None, None, None, None)
    assert len(calls) == 4  # one list, three picks
    allow = ["t3", "t5", "t9"]  # two eligible tracks for a list of 10: scored in full
    short = screened.recommend(history, 10, True, allow, None, None)
    assert len(short.items) == 2
    assert_same(short, full.recommend(history, 10, True, allow, None, None))
    assert len(calls) == 4


def test_an_int8_bundle_is_scored_by_the_kernel_without_a_screen(bundles):
    int8 = OnnxBackend.load(bundles[1], "v", screen_min_tracks=0)
    assert int8.screen is None and int8.rec.int8_kernel is not None
