"""The int8 screen finds the exhaustive path's lists and greedy playlist picks.

Scores are float32, and the screen re-scores its candidates with a GEMV over their rows, so
scores are compared to float tolerance; lists are compared exactly (random weights leave no
ties within rounding).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from segue.api import Recommender
from segue.api import int8_screen as screen_module
from segue.api import recommender as recommender_module
from segue.api.int8_screen import Int8Screen
from segue.models import sasrec
from tests.api.prior_model import prior_model, prior_vocab, spread_weights

N_TRACKS = 3000


def spread_model(n_tracks: int, seed: int) -> torch.nn.Module:
    """A SASRec with N(0, 0.5) weights, so that scores spread out as a trained model's do."""
    model = sasrec(n_tracks, d_model=16, n_layers=1, max_len=8, seed=seed, n_artists=5)
    spread_weights(model, seed)
    return model.eval()


def pair(model: torch.nn.Module, digits: int | None = None) -> tuple[Recommender, Recommender]:
    """The same model served with and without the screen (``digits`` per query: the
    default's unless given)."""
    vocab = prior_vocab(N_TRACKS)
    screened = Recommender(copy.deepcopy(model), vocab, int8_screen=True)
    exhaustive = Recommender(copy.deepcopy(model), vocab, int8_screen=False)
    assert screened.catalogue.screen is not None and exhaustive.catalogue.screen is None
    if digits is not None:
        table = screened.catalogue.embeddings
        screened.catalogue = screened.catalogue.with_screen(Int8Screen.build(table, digits=digits))
    return screened, exhaustive


SCREENS = [("plain", None), ("prior", None), ("mixture", None), ("plain", 2), ("prior", 2)]
"""Models and query digits: the default screen and the two-digit one."""


@pytest.fixture(scope="module", params=SCREENS)
def recs(request) -> tuple[Recommender, Recommender]:
    kind, digits = request.param
    if kind == "plain":
        return pair(spread_model(N_TRACKS, seed=5), digits)
    combine = "mixture" if kind == "mixture" else "sum"
    return pair(prior_model(N_TRACKS, plays=True, chain=True, combine=combine), digits)


def histories(n: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start = int(rng.integers(0, N_TRACKS - 10))
        run = [f"t{start + i}" for i in range(int(rng.integers(1, 6)))]  # album-like runs
        noise = [f"t{int(i)}" for i in rng.integers(0, N_TRACKS, int(rng.integers(0, 5)))]
        out.append(noise + run)
    return out


def assert_same(a, b) -> None:
    assert a["track_id"].tolist() == b["track_id"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-5)


RULES = [
    {},
    {"exclude_played": False},
    {"block": [f"t{i}" for i in range(0, N_TRACKS, 3)]},
    {"max_per_artist": 1},
    {"exclude_artists": ["a2"], "max_per_artist": 2},
]


@pytest.mark.parametrize("rules", RULES)
def test_screened_lists_equal_exhaustive_lists(recs, rules):
    screened, exhaustive = recs
    for history in histories(25, seed=1):
        assert_same(
            screened.recommend(history, k=10, **rules), exhaustive.recommend(history, k=10, **rules)
        )


def test_screened_batches_and_sessions_equal_exhaustive(recs):
    screened, exhaustive = recs
    batch = histories(screen_module.SCREEN_MAX_ROWS + 4, seed=2)
    for rows in (batch[:3], batch):  # through the screen; above SCREEN_MAX_ROWS in float
        a, b = screened.recommend_batch(rows, k=20), exhaustive.recommend_batch(rows, k=20)
        assert a["query"].tolist() == b["query"].tolist()
        assert_same(a, b)
    sessions = screened.session(), exhaustive.session()
    for track in batch[0] + batch[1]:
        for s in sessions:
            s.add(track)
        assert_same(sessions[0].recommend(k=10), sessions[1].recommend(k=10))


@pytest.mark.parametrize(
    "rules", [{}, {"no_repeat_window": 3}, {"max_per_artist": 2}, {"block": ["t1", "t2"]}]
)
def test_screened_greedy_playlists_equal_exhaustive(recs, rules):
    screened, exhaustive = recs
    for seeds in histories(6, seed=3):
        a = screened.continue_playlist(seeds, n=15, **rules)
        b = exhaustive.continue_playlist(seeds, n=15, **rules)
        assert a["track_id"].tolist() == b["track_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-5)


def test_the_screen_answers_the_requests(recs, monkeypatch):
    """The comparisons above go through the screen (not the exhaustive fallback)."""
    screened, _ = recs
    calls = {"rank": 0, "best": 0}
    for key, target in (("rank", "segue.api.ranking"), ("best", "segue.api.session_state")):
        name = f"screened_{key}"
        real = getattr(screen_module, name)

        def spy(*args, _real=real, _key=key, **kwargs):
            calls[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(f"{target}.{name}", spy)
    screened.recommend(["t5", "t6"], k=10)
    screened.continue_playlist(["t5", "t6"], n=4)
    assert calls == {"rank": 1, "best": 4}


def test_rows_with_fewer_eligible_tracks_than_k_fall_back_to_the_exhaustive_list(recs):
    screened, exhaustive = recs
    allow = ["t3", "t4", "t5", "t9"]
    a = screened.recommend(["t4"], k=10, allow=allow)
    assert (
        a["track_id"].tolist()
        == exhaustive.recommend(["t4"], k=10, allow=allow)["track_id"].tolist()
    )
    assert len(a) == 3  # t4 was played


@pytest.mark.parametrize("digits", [1, 2])
def test_the_margin_bounds_the_screen_error_on_hard_tables(digits):
    """Rows of very different norms, a zero row, a row with one large entry, queries from tiny
    to huge: every screen score is within the margin of the float score."""
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(5000, 32, generator=gen) * torch.logspace(-3, 1, 5000)[:, None]
    table[0] = 0
    table[7] = 0.01
    table[7, 3] = 50.0
    screen = Int8Screen.build(table, digits=digits)
    queries = torch.randn(40, 32, generator=gen) * torch.logspace(-4, 3, 40)[:, None]
    queries[0, 5] = 1e4
    h = queries.numpy()
    approx = screen.scores(h).astype(np.float64)  # (B, V)
    exact = (queries @ table.T).numpy().astype(np.float64)
    margin = screen.bounds.margin(h, approx.max(axis=1), screen.kernel.digits)
    error = np.abs(approx - exact).max(axis=1)
    assert (error <= margin).all()
    assert (margin < 50 * error + 1e-6).all()  # and it is not vacuous


def test_auto_screen_by_size_and_clear_errors(monkeypatch):
    model = spread_model(50, seed=1)
    vocab = prior_vocab(50)
    assert Recommender(copy.deepcopy(model), vocab).catalogue.screen is None  # below the size
    monkeypatch.setattr(recommender_module, "SCREEN_MIN_TRACKS", 50)
    assert Recommender(copy.deepcopy(model), vocab).catalogue.screen is not None
    with pytest.raises(TypeError, match="int8_screen"):
        Recommender(copy.deepcopy(model), vocab, int8_screen="yes")  # type: ignore[arg-type]
    monkeypatch.setattr(recommender_module, "can_screen", lambda table: False)
    assert Recommender(copy.deepcopy(model), vocab).catalogue.screen is None
    with pytest.raises(ValueError, match="onnxruntime"):
        Recommender(copy.deepcopy(model), vocab, int8_screen=True)


def test_the_margin_covers_one_digit_query_rounding_at_its_worst():
    """A table int8 holds exactly (no table rounding) and a query whose every component sits
    just under a rounding midpoint, on the side of the row's sign: the whole error is the
    one-digit query's rounding, ~0.49 ||v||_1. The one-digit margin covers it; a margin sized
    for two digits would not, so the screen must pass its kernel's digits on."""
    gen = torch.Generator().manual_seed(3)
    values = torch.randint(-127, 128, (200, 16), generator=gen).float()
    values[:, 0] = 127.0  # scale exactly 1: every row is its own int8 values
    screen = Int8Screen.build(values, digits=1)
    sign = torch.sign(values[5])
    sign[sign == 0] = 1.0
    whole = torch.randint(0, 100, (16,), generator=gen).float()
    query = sign * (whole + 0.49)
    query[0] = 127.0  # the largest component: step s1 = 1 exactly, rounded without error
    h = query[None].numpy()
    approx = screen.scores(h).astype(np.float64)[0]
    exact = (values.double() @ query.double()).numpy()
    error = abs(approx[5] - exact[5])
    assert error > 0.45 * float(values[5, 1:].abs().sum())  # the rounding, all of one sign
    best = approx.max(keepdims=True)
    assert error <= screen.bounds.margin(h, best, digits=1)[0]
    assert error > screen.bounds.margin(h, best, digits=2)[0]
