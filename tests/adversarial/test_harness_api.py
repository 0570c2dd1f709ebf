"""The owners' harness, as a table: every public request method misused, and degenerate settings.

Each bad argument must raise the documented ``TypeError`` / ``ValueError`` (or ``DataError`` for
data) naming the parameter, before any state changes; each odd-but-valid argument (a numpy int
``k``, one string where a list of ids is expected) must give the same result as its plain form.
"""

from __future__ import annotations

import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from segue import Recommender
from segue.data.errors import DataError
from segue.data.pipeline import prepare_data
from segue.data.sessions import build_sessions
from segue.data.settings import DataSettings
from segue.data.splits import global_temporal, held_out_sessions, leave_last_out
from segue.data.synthetic import generate_listening_log
from segue.export.onnx_export import write_bundle
from segue.export.runtime import OnnxRecommender
from segue.models.config import ModelConfig
from segue.training.trainer import TrainerConfig
from tests.api.conftest import N_TRACKS, tiny_recommender
from tests.export.conftest import tiny_model, tiny_vocab

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def rec() -> Recommender:
    torch.set_num_threads(1)
    return tiny_recommender("side")


@pytest.fixture(scope="module")
def onnx(tmp_path_factory) -> OnnxRecommender:
    folder = tmp_path_factory.mktemp("bundle")
    return OnnxRecommender.load(write_bundle(tiny_model("side"), tiny_vocab(), folder / "b"))


HISTORY = ["t1", "t2", "t3"]

BAD_K: list[tuple[object, type[Exception]]] = [
    (1.5, TypeError),
    (None, TypeError),
    ("10", TypeError),
    (True, TypeError),
    (False, TypeError),
    (0, ValueError),
    (-1, ValueError),
    (-(10**12), ValueError),
    (float("nan"), TypeError),
    (float("inf"), TypeError),
    ([5], TypeError),
    (np.float64(3.0), TypeError),
    (np.bool_(True), TypeError),
    (3 + 0j, TypeError),
]

CALLS = {
    "recommend": lambda r, **kw: r.recommend(HISTORY, **kw),
    "recommend_batch": lambda r, **kw: r.recommend_batch([HISTORY, ["t4"]], **kw),
    "similar_tracks": lambda r, **kw: r.similar_tracks("t1", **kw),
    "session.recommend": lambda r, **kw: r.session(HISTORY).recommend(**kw),
    "onnx.recommend": None,  # filled by the fixture below
}


def call(method: str, rec: Recommender, onnx: OnnxRecommender, **kw: Any) -> Any:
    if method == "onnx.recommend":
        return onnx.recommend(HISTORY, **kw)
    return CALLS[method](rec, **kw)


def raises_naming(kind: type[Exception], name: str, fn, *args, **kw) -> None:
    with pytest.raises(kind) as caught:
        fn(*args, **kw)
    assert re.search(rf"(?<!\w){re.escape(name)}(?!\w)", str(caught.value)), str(caught.value)


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize(("k", "kind"), BAD_K, ids=[repr(k) for k, _ in BAD_K])
def test_bad_k_is_refused_naming_k(rec, onnx, method, k, kind):
    raises_naming(kind, "k", call, method, rec, onnx, k=k)


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize(
    "k", [np.int64(3), np.int32(3), np.uint8(3), torch.tensor(3).item()], ids=repr
)
def test_numpy_ints_are_accepted_as_k(rec, onnx, method, k):
    got, want = call(method, rec, onnx, k=k), call(method, rec, onnx, k=3)
    if isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want)
    else:
        assert got == want


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize("k", [10**6, 2**62])
def test_huge_k_returns_the_whole_eligible_catalogue(rec, onnx, method, k):
    got = call(method, rec, onnx, k=k)
    assert 0 < len(got) <= 2 * N_TRACKS


EXCLUDE = ["recommend", "recommend_batch", "session.recommend", "onnx.recommend"]


@pytest.mark.parametrize("method", EXCLUDE)
@pytest.mark.parametrize("value", ["no", 1, 0, None, [True]], ids=repr)
def test_bad_exclude_played_is_refused(rec, onnx, method, value):
    raises_naming(TypeError, "exclude_played", call, method, rec, onnx, exclude_played=value)


FILTERED = ["recommend", "recommend_batch", "session.recommend"]


@pytest.mark.parametrize("method", FILTERED)
def test_one_string_is_one_id_in_allow_and_block(rec, onnx, method):
    blocked = call(method, rec, onnx, k=50, block="t10")
    assert "t10" not in set(blocked["track_id"])
    assert len(blocked) > 1
    allowed = call(method, rec, onnx, k=50, allow="t10")
    assert set(allowed["track_id"]) == {"t10"}


@pytest.mark.parametrize("method", FILTERED)
@pytest.mark.parametrize("arg", ["allow", "block"])
@pytest.mark.parametrize("value", [{"t1": 1}, object(), print], ids=["dict", "object", "function"])
def test_bad_id_collections_are_refused(rec, onnx, method, arg, value):
    raises_naming(TypeError, arg, call, method, rec, onnx, **{arg: value})


@pytest.mark.parametrize("method", FILTERED)
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("2", TypeError),
        (float("nan"), TypeError),
    ],
    ids=repr,
)
def test_bad_max_per_artist_is_refused(rec, onnx, method, value, kind):
    raises_naming(kind, "max_per_artist", call, method, rec, onnx, max_per_artist=value)


@pytest.mark.parametrize("value", ["skip", None, 1, "IGNORE"], ids=repr)
@pytest.mark.parametrize("method", ["recommend", "recommend_batch", "session", "continue_playlist"])
def test_bad_on_unknown_is_refused(rec, method, value):
    fn = getattr(rec, method)
    first = [HISTORY] if method == "recommend_batch" else HISTORY
    raises_naming(ValueError, "on_unknown", fn, first, on_unknown=value)


SAME_HISTORIES = [
    ("t5", ["t5"]),
    (np.array(["t1", "t2"]), ["t1", "t2"]),
    (("t1", "t2"), ["t1", "t2"]),
    (pd.Series(["t1", "t2"]), ["t1", "t2"]),
    (np.str_("t5"), ["t5"]),
    ([], []),
    (None, []),
]


@pytest.mark.parametrize(
    ("history", "plain"), SAME_HISTORIES, ids=[repr(h)[:20] for h, _ in SAME_HISTORIES]
)
def test_history_forms_mean_what_they_say(rec, onnx, history, plain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(rec.recommend(history, k=5), rec.recommend(plain, k=5))
        got = rec.session(history).recommend(k=5)
        pd.testing.assert_frame_equal(got, rec.session(plain).recommend(k=5))
        if history is not None:
            assert onnx.recommend(history, k=5) == onnx.recommend(plain, k=5)


@pytest.mark.parametrize(
    "history", [{"t1": 1}, object(), print], ids=["dict", "object", "function"]
)
def test_bad_histories_are_refused(rec, onnx, history):
    raises_naming(TypeError, "history", rec.recommend, history)
    raises_naming(TypeError, "history", rec.session, history)
    raises_naming(TypeError, "history", onnx.recommend, history)


@pytest.mark.parametrize(
    ("frame", "kind", "name"),
    [
        (pd.DataFrame({"track": ["t1"]}), ValueError, "track_id"),
        (pd.DataFrame({"track_id": ["t1"], "timestamp": ["garbage"]}), ValueError, "timestamp"),
        (pd.DataFrame({"track_id": ["t1"], "timestamp": [True]}), ValueError, "timestamp"),
        (pd.DataFrame({"track_id": ["t1"], "event_type": ["bogus"]}), ValueError, "event_type"),
    ],
    ids=["no track_id", "garbage time", "bool time", "bad event"],
)
def test_bad_event_tables_are_refused(rec, frame, kind, name):
    raises_naming(kind, name, rec.recommend, frame)


@pytest.mark.parametrize("histories", ["t1", 5, None, iter([["t1"]]), {"t1"}], ids=repr)
def test_bad_batches_are_refused(rec, histories):
    raises_naming(TypeError, "histories", rec.recommend_batch, histories)


def test_an_empty_batch_is_an_empty_table(rec):
    assert len(rec.recommend_batch([])) == 0
    assert len(rec.recommend_batch({})) == 0


@pytest.mark.parametrize(
    "track_id", [None, ["t1"], {"t1"}, object(), True, np.bool_(True)], ids=repr
)
def test_bad_similar_track_ids_are_refused(rec, track_id):
    raises_naming(TypeError, "track_id", rec.similar_tracks, track_id)


@pytest.mark.parametrize("track_id", ["nope", float("nan"), 12])
def test_unknown_similar_track_is_a_key_error(rec, track_id):
    with pytest.raises(KeyError, match="unknown track id"):
        rec.similar_tracks(track_id)


@pytest.mark.parametrize(
    ("keep", "kind"),
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        (10**6, ValueError),
        ("4", TypeError),
    ],
    ids=repr,
)
def test_bad_session_keep_is_refused(rec, keep, kind):
    raises_naming(kind, "keep", rec.session, HISTORY, keep=keep)


ADD_BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"track_id": None}, TypeError, "track_id"),
    ({"track_id": ["t1"]}, TypeError, "track_id"),
    ({"track_id": True}, TypeError, "track_id"),
    ({"track_id": "t1", "skipped": "yes"}, TypeError, "skipped"),
    ({"track_id": "t1", "skipped": 1}, TypeError, "skipped"),
    ({"track_id": "t1", "skipped": None}, TypeError, "skipped"),
    ({"track_id": "t1", "timestamp": "garbage"}, ValueError, "timestamp"),
    ({"track_id": "t1", "timestamp": float("nan")}, ValueError, "timestamp"),
    ({"track_id": "t1", "timestamp": float("inf")}, ValueError, "timestamp"),
    ({"track_id": "t1", "timestamp": True}, TypeError, "timestamp"),
    ({"track_id": "t1", "timestamp": [1.0]}, TypeError, "timestamp"),
    ({"track_id": "t1", "timestamp": 1e30}, ValueError, "timestamp"),
    ({"track_id": "t1", "event_type": "bogus"}, ValueError, "event_type"),
    ({"track_id": "t1", "event_type": 5}, ValueError, "event_type"),
]


@pytest.mark.parametrize(
    ("kw", "kind", "name"), ADD_BAD, ids=[repr(kw)[:50] for kw, _, _ in ADD_BAD]
)
def test_bad_session_add_is_refused_and_changes_nothing(rec, kw, kind, name):
    state = rec.session(HISTORY)
    before = (state.n_events, list(state.unknown_ids), state.recommend(k=5))
    raises_naming(kind, name, state.add, **kw)
    assert state.n_events == before[0] and state.unknown_ids == before[1]
    pd.testing.assert_frame_equal(state.recommend(k=5), before[2])


PLAYLIST_BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"n": -1}, ValueError, "n"),
    ({"n": 1.5}, TypeError, "n"),
    ({"n": True}, TypeError, "n"),
    ({"n": None}, TypeError, "n"),
    ({"n": "3"}, TypeError, "n"),
    ({"no_repeat_window": -1}, ValueError, "no_repeat_window"),
    ({"no_repeat_window": 1.5}, TypeError, "no_repeat_window"),
    ({"no_repeat_window": True}, TypeError, "no_repeat_window"),
    ({"max_per_artist": 0}, ValueError, "max_per_artist"),
    ({"temperature": float("nan")}, ValueError, "temperature"),
    ({"temperature": float("inf")}, ValueError, "temperature"),
    ({"temperature": 0}, ValueError, "temperature"),
    ({"temperature": -1.0}, ValueError, "temperature"),
    ({"temperature": "1"}, TypeError, "temperature"),
    ({"temperature": True}, TypeError, "temperature"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"seed": "1"}, TypeError, "seed"),
    ({"seed": True}, TypeError, "seed"),
    ({"seed": 2**70}, ValueError, "seed"),
    ({"allow": {"t1": 1}}, TypeError, "allow"),
    ({"block": print}, TypeError, "block"),
]


@pytest.mark.parametrize(
    ("kw", "kind", "name"), PLAYLIST_BAD, ids=[repr(kw)[:40] for kw, _, _ in PLAYLIST_BAD]
)
def test_bad_playlist_arguments_are_refused(rec, kw, kind, name):
    raises_naming(kind, name, rec.continue_playlist, HISTORY, **kw)


def test_playlist_string_seeds_and_lists(rec):
    pd.testing.assert_frame_equal(
        rec.continue_playlist("t5", n=4), rec.continue_playlist(["t5"], n=4)
    )
    only = rec.continue_playlist(HISTORY, n=3, allow="t10")
    assert only["track_id"].tolist() == ["t10"] and only.attrs["exhausted"]
    assert "t10" not in set(rec.continue_playlist(HISTORY, n=10, block="t10")["track_id"])
    numpy_args = rec.continue_playlist(
        HISTORY, n=np.int64(4), seed=np.int64(3), temperature=np.float32(1.0)
    )
    pd.testing.assert_frame_equal(
        numpy_args, rec.continue_playlist(HISTORY, n=4, seed=3, temperature=1.0)
    )


ONNX_BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"event_types": ["play"]}, ValueError, "event_types"),
    ({"event_types": "playplayplay"}, TypeError, "event_types"),
    ({"event_types": ["play", "bogus", "play"]}, ValueError, "event_types"),
    ({"timestamps": [1.0, 2.0]}, ValueError, "timestamps"),
    ({"timestamps": ["garbage", "x", "y"]}, ValueError, "timestamps"),
    ({"timestamps": [1.0, float("nan"), 3.0]}, ValueError, "timestamps"),
    ({"timestamps": [1.0, float("inf"), 3.0]}, ValueError, "timestamps"),
    ({"timestamps": 5.0}, TypeError, "timestamps"),
]


@pytest.mark.parametrize(
    ("kw", "kind", "name"), ONNX_BAD, ids=[repr(kw)[:40] for kw, _, _ in ONNX_BAD]
)
def test_bad_onnx_request_arguments_are_refused(onnx, kw, kind, name):
    raises_naming(kind, name, onnx.recommend, HISTORY, **kw)


@pytest.mark.parametrize(
    ("path", "kind"),
    [(None, TypeError), (123, TypeError), ("absent.pt", FileNotFoundError)],
    ids=repr,
)
def test_bad_load_paths(path, kind, tmp_path):
    with pytest.raises(kind, match=r"path|absent|checkpoint"):
        Recommender.load(path if path != "absent.pt" else tmp_path / path)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"num_threads": 0}, ValueError, "num_threads"),
        ({"num_threads": 1.5}, TypeError, "num_threads"),
        ({"device": "quantum"}, ValueError, "device"),
        ({"device": 5}, (TypeError, ValueError), "device"),
    ],
    ids=repr,
)
def test_bad_load_options(tmp_path, kw, kind, name):
    from tests.export.conftest import tiny_checkpoint

    path = tiny_checkpoint("sasrec", tmp_path)
    raises_naming(kind, name, Recommender.load, path, **kw)


# ---------------------------------------------------------------------------------------------
# Threads


def test_one_session_shared_by_threads(rec):
    state = rec.session(HISTORY)

    def work(i: int) -> int:
        for j in range(10):
            state.add(f"t{(i + j) % N_TRACKS}")
            assert len(state.recommend(k=5)) == 5
        return i

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert state.n_events == len(HISTORY) + 80


def test_threaded_requests_match_sequential(rec, onnx):
    histories = [[f"t{(i * 7 + j) % N_TRACKS}" for j in range(1 + i % 9)] for i in range(64)]
    want = [rec.recommend(h, k=5) for h in histories]
    want_onnx = [onnx.recommend(h, k=5) for h in histories]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda h: rec.recommend(h, k=5), histories))
        got_onnx = list(pool.map(lambda h: onnx.recommend(h, k=5), histories))
    for a, b in zip(got, want):
        pd.testing.assert_frame_equal(a, b)
    assert got_onnx == want_onnx


# ---------------------------------------------------------------------------------------------
# Degenerate settings: sessions, splits, prepare_data, ModelConfig, TrainerConfig, DataSettings


@pytest.fixture(scope="module")
def log():
    return generate_listening_log(n_users=6, n_events=300, n_artists=8, seed=1)


@pytest.mark.parametrize(
    ("gap", "kind"),
    [
        ("-5min", ValueError),
        ("", ValueError),
        (None, TypeError),
        (30, TypeError),
        ("30", ValueError),
        ("0s", ValueError),
        (float("nan"), TypeError),
        ("abc", ValueError),
        (["30min"], TypeError),
        (True, TypeError),
        (pd.Timedelta("NaT"), (TypeError, ValueError)),
    ],
    ids=repr,
)
def test_bad_session_gaps(log, gap, kind):
    raises_naming(kind, "gap", build_sessions, log, gap)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"max_length": 0}, ValueError, "max_length"),
        ({"max_length": 1.5}, TypeError, "max_length"),
        ({"min_length": 0}, ValueError, "min_length"),
        ({"min_length": True}, TypeError, "min_length"),
        ({"drop_skips": "yes"}, TypeError, "drop_skips"),
        ({"collapse_repeats": 1}, TypeError, "collapse_repeats"),
        ({"source_session_column": "nope"}, DataError, "nope"),
    ],
    ids=repr,
)
def test_bad_session_options(log, kw, kind, name):
    raises_naming(kind, name, build_sessions, log, **kw)


@pytest.fixture(scope="module")
def sessions(log):
    return build_sessions(log)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"test_days": 0}, ValueError, "test_days"),
        ({"test_days": -2}, ValueError, "test_days"),
        ({"test_days": float("nan")}, ValueError, "test_days"),
        ({"test_days": "3"}, TypeError, "test_days"),
        ({"test_days": True}, TypeError, "test_days"),
        ({"validation_days": -1}, ValueError, "validation_days"),
        ({"gap_days": -1}, ValueError, "gap_days"),
        ({"test_start": "garbage"}, ValueError, "test_start"),
        ({"test_start": "2999-01-01"}, DataError, "test_start"),
        ({"test_start": 5}, TypeError, "test_start"),
        ({"predict_first_track": "no"}, TypeError, "predict_first_track"),
    ],
    ids=repr,
)
def test_bad_global_temporal(sessions, kw, kind, name):
    raises_naming(kind, name, global_temporal, sessions, **kw)


def test_held_out_sessions_without_enough_sessions(log):
    one_each = build_sessions(log, "1000d")
    with pytest.raises(DataError, match="session"):
        held_out_sessions(one_each)


@pytest.mark.parametrize(
    ("kw", "kind"),
    [({"min_train_sessions": -1}, ValueError), ({"min_train_sessions": 1.5}, TypeError)],
    ids=repr,
)
def test_bad_held_out_sessions(sessions, kw, kind):
    raises_naming(kind, "min_train_sessions", held_out_sessions, sessions, **kw)


@pytest.mark.parametrize(
    ("value", "kind"), [(0, ValueError), (1.5, TypeError), ("3", TypeError)], ids=repr
)
def test_bad_leave_last_out(sessions, value, kind):
    raises_naming(kind, "min_points", leave_last_out, sessions, min_points=value)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"min_count": 0}, ValueError, "min_count"),
        ({"min_count": 10**9}, DataError, "min_count"),
        ({"min_count": "1"}, TypeError, "min_count"),
        ({"min_count": True}, TypeError, "min_count"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"max_len": -1}, ValueError, "max_len"),
        ({"max_len": 1, "causal": False}, ValueError, "max_len"),
        ({"train_by": "item"}, ValueError, "train_by"),
        ({"split": "random"}, ValueError, "split"),
        ({"split_options": {"bogus": 1}}, ValueError, "bogus"),
        ({"split_options": "test_days=2"}, TypeError, "split_options"),
        ({"sessions": {"gap": "30min"}}, TypeError, "sessions"),
        ({"split": "global_temporal", "split_options": {"test_days": 0}}, ValueError, "test_days"),
        ({"causal": "yes"}, TypeError, "causal"),
        ({"side": "artists"}, TypeError, "side"),
    ],
    ids=repr,
)
def test_bad_prepare_data(log, kw, kind, name):
    raises_naming(kind, name, prepare_data, log, **kw)


@pytest.mark.parametrize("log_value", [None, "events.csv", pd.DataFrame()], ids=repr)
def test_bad_logs(log_value):
    with pytest.raises((TypeError, DataError)):
        prepare_data(log_value)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"n_layers": 0}, ValueError, "n_layers"),
        ({"n_tracks": 0}, ValueError, "n_tracks"),
        ({"d_model": 15}, ValueError, "n_heads"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"dropout": float("nan")}, ValueError, "dropout"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"positions": "alibi"}, ValueError, "positions"),
        ({"objective": "mlm"}, ValueError, "objective"),
        ({"n_heads": 1.0}, TypeError, "n_heads"),
        ({"use_event_types": 1}, TypeError, "use_event_types"),
        ({"d_ff": 0}, ValueError, "d_ff"),
        ({"rotary_base": 1.0}, ValueError, "rotary_base"),
    ],
    ids=repr,
)
def test_bad_model_config(kw, kind, name):
    raises_naming(kind, name, ModelConfig, **{"n_tracks": 10, **kw})


def test_model_config_from_dict_misuse():
    raises_naming(ValueError, "bogus", ModelConfig.from_dict, {"n_tracks": 3, "bogus": 1})
    with pytest.raises(TypeError, match=r"mapping|dict"):
        ModelConfig.from_dict(["n_tracks", 3])


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"patience": 0}, ValueError, "patience"),
        ({"monitor": "bogus"}, ValueError, "monitor"),
        ({"lr": "abc"}, TypeError, "lr"),
        ({"lr": 0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"num_threads": 0}, ValueError, "num_threads"),
        ({"device": "quantum"}, ValueError, "device"),
        ({"mask_prob": 0}, ValueError, "mask_prob"),
        ({"grad_clip": -1.0}, ValueError, "grad_clip"),
        ({"epochs": True}, TypeError, "epochs"),
        ({"warmup_fraction": 0.9}, ValueError, "warmup_fraction"),
    ],
    ids=repr,
)
def test_bad_trainer_config(kw, kind, name):
    raises_naming(kind, name, TrainerConfig, **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:3"])
def test_cuda_without_cuda_is_refused_up_front(device, tmp_path):
    from segue.training.trainer import resolve_device
    from tests.export.conftest import tiny_checkpoint

    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(device)  # what fit() and Recommender.load call before any work
    with pytest.raises(ValueError, match="CUDA is not available"):
        Recommender.load(tiny_checkpoint("sasrec", tmp_path), device=device)


@pytest.mark.parametrize(
    ("kw", "kind", "name"),
    [
        ({"reader": "pandas.read_pickle"}, ValueError, "reader"),
        ({"reader_options": {"_target_": "os.system"}}, ValueError, "_target_"),
        ({"reader_options": {"n_events": float("inf")}}, ValueError, "n_events"),
        ({"reader_options": {"habits": {"a": 1}}}, ValueError, "habits"),
        ({"reader_options": {"x": object()}}, TypeError, "reader_options.x"),
        ({"split": "random"}, ValueError, "split"),
        ({"min_count": 0}, ValueError, "min_count"),
        ({"max_events": 0}, ValueError, "max_events"),
        ({"train_by": "x"}, ValueError, "train_by"),
        ({"sessions": {"gap": "30min"}}, TypeError, "sessions"),
        ({"split_options": {"test_days": 1}}, ValueError, "test_days"),
        ({"reader_options": {"n_users": -1}}, ValueError, "reader_options"),
        ({"reader_options": {"n_users": "5"}}, TypeError, "n_users"),
        ({"reader_options": {"n_events": 60.5}}, TypeError, "n_events"),
        ({"reader_options": {"seed": True}}, TypeError, "seed"),
        ({"reader": "read_log", "reader_options": {"source": 5}}, TypeError, "source"),
        ({"reader": "read_log", "reader_options": {"source": []}}, TypeError, "source"),
        (
            {"reader": "read_log", "reader_options": {"source": ["a.csv", None]}},
            TypeError,
            "source",
        ),
    ],
    ids=repr,
)
def test_bad_data_settings(kw, kind, name):
    raises_naming(kind, name, lambda: DataSettings(**{"name": "s", "reader": "synthetic", **kw}))


@pytest.mark.parametrize("values", [None, [], "x", {"version": 1}], ids=repr)
def test_data_settings_from_dict_misuse(values):
    with pytest.raises((TypeError, ValueError), match="data settings"):
        DataSettings.from_dict(values)


def test_read_log_settings_need_a_source():
    raises_naming(ValueError, "source", lambda: DataSettings("s", "read_log"))


def test_nothing_is_read_before_settings_are_checked(tmp_path):
    missing = Path(tmp_path / "never.csv")  # settings fail first, not the absent file
    with pytest.raises(ValueError, match="min_count"):
        DataSettings("s", "read_log", {"source": str(missing)}, min_count=0)


# ---------------------------------------------------------------------------------------------
# Constructors and helpers called with the wrong things; times in the wrong unit


def test_recommender_constructor_misuse():
    model, vocab = tiny_model("side"), tiny_vocab()
    raises_naming(TypeError, "model", Recommender, "best.pt", vocab)
    raises_naming(TypeError, "vocab", Recommender, model, vocab.to_dict())
    short = type(vocab)(vocab.track_ids[:-1], vocab.counts[:-1])
    raises_naming(ValueError, "vocab", Recommender, model, short)


def test_continue_playlist_needs_a_session(rec):
    from segue.api.playlist import continue_playlist

    raises_naming(TypeError, "state", continue_playlist, rec, n=3)


def test_prepare_from_settings_needs_settings():
    from segue.data.settings import prepare_from_settings

    raises_naming(TypeError, "settings", prepare_from_settings, {"reader": "synthetic"})


MS = 1_700_000_000_000  # epoch milliseconds: read as seconds it is the year 55,841


def test_milliseconds_are_not_read_as_seconds(rec, onnx):
    state = rec.session(HISTORY)
    raises_naming(ValueError, "timestamp", state.add, "t4", timestamp=MS)
    assert state.n_events == len(HISTORY)
    frame = pd.DataFrame({"track_id": ["t1", "t2"], "timestamp": [MS, MS + 60_000]})
    raises_naming(ValueError, "timestamp", rec.recommend, frame)
    raises_naming(ValueError, "timestamps", onnx.recommend, ["t1", "t2"], timestamps=[MS, MS + 1])
    seconds = frame.assign(timestamp=frame["timestamp"] / 1000)
    assert len(rec.recommend(seconds, k=3)) == 3  # the same times in seconds are fine


VOCAB_MISUSE: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"track_ids": "abc", "counts": [1, 1, 1]}, TypeError, "track_ids"),
    ({"track_ids": ["a", "b"], "counts": [1]}, ValueError, "counts"),
    ({"track_ids": ["a", "b"], "counts": [1, -1]}, ValueError, "counts"),
    ({"track_ids": ["a", "b"], "counts": [1, 1.5]}, ValueError, "counts"),
    ({"track_ids": [1, 2], "counts": [1, 1]}, TypeError, "track_ids"),
    ({"track_ids": ["a", "a"], "counts": [1, 1]}, ValueError, "unique"),
    ({"track_ids": ["a", "b"], "counts": [1, 1], "artists": ["x"]}, ValueError, "artists"),
    ({"track_ids": ["a", "b"], "counts": [1, 1], "names": "ab"}, ValueError, "names"),
    ({"track_ids": ["a", "b"], "counts": [1, 1], "albums": [1, 2]}, TypeError, "albums"),
]


@pytest.mark.parametrize(
    ("kw", "kind", "name"), VOCAB_MISUSE, ids=[repr(kw)[:50] for kw, _, _ in VOCAB_MISUSE]
)
def test_track_vocab_misuse(kw, kind, name):
    from segue.data.vocab import TrackVocab

    raises_naming(kind, name, lambda: TrackVocab(**kw))


@pytest.mark.parametrize(
    "data",
    [
        {"track_ids": "abc", "counts": [1, 1, 1]},
        {"track_ids": ["a"]},
        ["a"],
        {"track_ids": ["a"], "counts": [1], "_target_": "os.system"},
    ],
    ids=repr,
)
def test_track_vocab_from_dict_misuse(data):
    from segue.data.vocab import TrackVocab

    with pytest.raises((TypeError, ValueError), match=r"vocabulary|track_ids|counts"):
        TrackVocab.from_dict(data)


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00", b"[1]", b'{"track_ids": "abc", "counts": [1, 1, 1]}'],
    ids=["empty", "utf16", "list", "letters"],
)
def test_track_vocab_load_names_the_file(tmp_path, content):
    from segue.data.vocab import TrackVocab

    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        TrackVocab.load(path)
    assert caught.value.file == str(path)


def test_track_vocab_save_is_atomic_and_cleans_stale_temporaries(tmp_path):
    from segue.data.vocab import TrackVocab

    path = tmp_path / "vocab.json"
    stale = tmp_path / ".vocab.json.999999999.abcdefgh.tmp"  # a writer killed mid-write
    stale.write_bytes(b"x" * 100)
    tiny_vocab().save(path)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]
    assert TrackVocab.load(path).to_dict() == tiny_vocab().to_dict()


@pytest.mark.parametrize("item", [["t1", "t2"], {"t1": 1}, ("t1",), np.array(["t1"])], ids=repr)
def test_a_container_is_never_one_id(rec, onnx, item):
    raises_naming(TypeError, "history[1]", rec.recommend, ["t3", item])
    raises_naming(TypeError, "history[1]", rec.session, ["t3", item])
    raises_naming(TypeError, "block[0]", rec.recommend, HISTORY, block=[item])
    raises_naming(TypeError, "history[1]", onnx.recommend, ["t3", item])


def test_onnx_model_steps_check_their_arrays(onnx):
    raises_naming(ValueError, "listener", onnx.scores, np.zeros((1, 3)))
    raises_naming(ValueError, "listener", onnx.scores, np.zeros(16))
    raises_naming(ValueError, "inputs", onnx.listener_vectors, {})
    ragged = {name: np.zeros((1, 4 + i), dtype=np.int64) for i, name in enumerate(onnx.inputs)}
    raises_naming(ValueError, "inputs", onnx.listener_vectors, ragged)


@pytest.mark.parametrize(
    ("value", "kind"), [("quantum", ValueError), (5, TypeError), (None, TypeError)], ids=repr
)
def test_checkpoint_map_location_misuse(tmp_path, value, kind):
    from segue.io.checkpoint import load_checkpoint
    from tests.export.conftest import tiny_checkpoint

    raises_naming(kind, "map_location", load_checkpoint, tiny_checkpoint("sasrec", tmp_path), value)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"test_days": 1e12}, "test_days"),
        ({"validation_days": 1e9}, "validation_days"),
        ({"gap_days": 1e9}, "gap_days"),
    ],
    ids=repr,
)
def test_time_split_windows_beyond_a_century(sessions, kw, name):
    raises_naming(ValueError, name, global_temporal, sessions, **kw)


@pytest.mark.parametrize("start", ["1700-01-01", "2000-01-01T00:00:00+05:00"])
def test_a_cut_before_the_first_event_leaves_nothing_to_train(sessions, start):
    with pytest.raises(DataError, match="no training event"):
        global_temporal(sessions, test_start=start)


@pytest.mark.parametrize(
    ("group", "name"),
    [
        (5, "data group"),
        (
            {
                "name": "x",
                "split": "leave_last_out",
                "min_count": 1,
                "train_by": "user",
                "exclude_seen": False,
                "source": "read_log",
            },
            "data.source",
        ),
        ({"name": "x"}, "data.split"),
        (
            {
                "name": "x",
                "split": "leave_last_out",
                "min_count": 1,
                "train_by": "user",
                "exclude_seen": False,
                "source": {"_target_": "pandas.read_pickle"},
            },
            "data.source.reader",
        ),
    ],
    ids=["int", "source str", "missing", "target"],
)
def test_settings_from_group_misuse(group, name):
    from segue.data.sequences import SideInputs
    from segue.data.settings import settings_from_group

    with pytest.raises((TypeError, ValueError)) as caught:
        settings_from_group(group, max_len=8, causal=True, side=SideInputs())
    assert name in str(caught.value)


def test_session_state_constructor_misuse(rec):
    from segue import SessionState

    raises_naming(TypeError, "model", SessionState, "model", rec.catalogue)
    raises_naming(TypeError, "catalogue", SessionState, rec.model, rec.vocab)


@pytest.mark.parametrize("method", ["recommend", "onnx.recommend"])
def test_bytes_ids_in_a_history_are_their_text_in_both_runtimes(rec, onnx, method):
    served = rec if method == "recommend" else onnx
    as_bytes = served.recommend([h.encode() for h in HISTORY], k=5)
    as_text = served.recommend(HISTORY, k=5)
    if isinstance(as_text, pd.DataFrame):
        pd.testing.assert_frame_equal(as_bytes, as_text)
    else:  # the ONNX runtime answers in plain rows: it has no pandas
        assert as_bytes == as_text


@pytest.mark.parametrize("method", ["recommend", "onnx.recommend"])
@pytest.mark.parametrize("kind", [set, frozenset])
def test_a_set_is_no_history_in_either_runtime(rec, onnx, method, kind):
    served = rec if method == "recommend" else onnx
    raises_naming(TypeError, "history", served.recommend, kind(HISTORY), k=5)
