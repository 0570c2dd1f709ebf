"""The ONNX bundle ranks exactly like the torch Recommender: same top-10, scores within 1e-4."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import Recommender
from segue.export.onnx_export import export_onnx
from segue.export.runtime import OnnxRecommender
from tests.export.conftest import KINDS, MAX_LEN, N_TRACKS, tiny_checkpoint

TOLERANCE = 1e-4

HISTORIES = {
    "one": ["t5"],
    "short": ["t1", "t7", "t3"],
    "full": [f"t{i}" for i in range(3, 3 + MAX_LEN)],
    "longer_than_max_len": [f"t{(7 * i) % N_TRACKS}" for i in range(2 * MAX_LEN + 3)],
    "with_unknown": ["t2", "nope", "t9", "t9"],
    "cold": ["nope"],
    "empty": [],
}


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    checkpoint = tiny_checkpoint(request.param, folder)
    bundle = export_onnx(checkpoint, folder / "bundle")
    return Recommender.load(checkpoint), OnnxRecommender.load(bundle, num_threads=1)


def _assert_same(expected: pd.DataFrame, got: list[dict]) -> None:
    assert [row["track_id"] for row in got] == expected["track_id"].tolist()
    assert [row["rank"] for row in got] == expected["rank"].tolist()
    np.testing.assert_allclose(
        [row["score"] for row in got], expected["score"].to_numpy(), atol=TOLERANCE, rtol=0
    )


@pytest.mark.parametrize("name", list(HISTORIES))
@pytest.mark.parametrize("exclude_played", [True, False])
def test_same_top10_as_torch(pair, name, exclude_played):
    torch_rec, onnx_rec = pair
    history = HISTORIES[name]
    expected = torch_rec.recommend(history, k=10, exclude_played=exclude_played)
    _assert_same(expected, onnx_rec.recommend(history, k=10, exclude_played=exclude_played))


def test_event_types_and_timestamps_are_encoded_like_the_api(pair):
    torch_rec, onnx_rec = pair
    events = pd.DataFrame(
        {
            "track_id": ["t4", "t8", "zzz", "t15", "t16"],
            "timestamp": [100.0, 5.0, 400.0, 4000.0, 4001.0],  # out of order on purpose
            "event_type": ["play", "like", "play", "play", "dislike"],
            "is_skip": [False, False, False, True, False],
        }
    )
    types = ["skip" if s else e for e, s in zip(events["event_type"], events["is_skip"])]
    got = onnx_rec.recommend(
        events["track_id"].tolist(), 10, event_types=types, timestamps=events["timestamp"].tolist()
    )
    _assert_same(torch_rec.recommend(events, k=10), got)


def test_listener_vectors_match_the_model_on_a_padded_batch(pair):
    torch_rec, onnx_rec = pair
    histories = [["t1"], HISTORIES["full"], HISTORIES["short"]]
    encoded = [onnx_rec.encode_history(h) for h in histories]
    inputs = onnx_rec.history_inputs(*zip(*encoded))
    listener = onnx_rec.listener_vectors(inputs)
    from segue.api.history import encode_history, history_batch

    batch = history_batch(
        [encode_history(h, torch_rec.catalogue) for h in histories],
        torch_rec.catalogue,
        torch_rec.model.config,
    )
    # The same events (a masked model's runtime inputs also end with its [MASK] column).
    model = torch_rec.model
    events = [[t for t in row if 0 < t <= N_TRACKS] for row in inputs["tracks"].tolist()]
    read = [[t for t in row if t][-model.history_length :] for row in batch.tracks.tolist()]
    assert events == read
    with torch.no_grad():
        expected = model.next_hidden(batch).numpy()
    np.testing.assert_allclose(listener, expected, atol=TOLERANCE, rtol=0)


def test_bundle_is_self_describing(tmp_path):
    bundle = export_onnx(tiny_checkpoint("side", tmp_path), tmp_path / "b")
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["inputs"] == ["tracks", "event_types", "gap_buckets"]
    assert meta["model_config"]["n_tracks"] == N_TRACKS
    assert sorted(p.name for p in bundle.iterdir()) == [
        "bundle.json",
        "catalogue.npy",
        "encoder.onnx",
        "vocab.json",
    ]
    export_onnx(tiny_checkpoint("sasrec", tmp_path), bundle)  # replaces the bundle
    assert json.loads((bundle / "bundle.json").read_text())["inputs"] == ["tracks"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.")]  # no temporaries


def test_int8_bundle_stays_within_the_bound_and_keeps_the_top10(tmp_path):
    checkpoint = tiny_checkpoint("side", tmp_path)
    float_rec = OnnxRecommender.load(export_onnx(checkpoint, tmp_path / "f"))
    int8_rec = OnnxRecommender.load(export_onnx(checkpoint, tmp_path / "q", int8_embeddings=True))
    assert int8_rec.values.dtype == np.int8
    overlaps = []
    for history in (HISTORIES["short"], HISTORIES["full"], HISTORIES["one"]):
        a = {r["track_id"] for r in float_rec.recommend(history, 10)}
        b = {r["track_id"] for r in int8_rec.recommend(history, 10)}
        overlaps.append(len(a & b) / 10)
    assert np.mean(overlaps) >= 0.8


def test_leading_unknown_ids_are_earlier_events_as_in_the_api(pair):
    """Without timestamps an unknown id before the first known one is an earlier event, as in
    ``segue.api.history`` for id lists, event tables and sessions."""
    from segue.api.history import encode_history

    torch_rec, onnx_rec = pair
    history = ["nope", "t3", "t5"]
    _, _, gaps = onnx_rec.encode_history(history)
    table = encode_history(pd.DataFrame({"track_id": history}), torch_rec.catalogue)
    assert gaps.tolist() == table.gap_buckets.tolist()
    expected = torch_rec.recommend(pd.DataFrame({"track_id": history}), k=10)
    _assert_same(expected, onnx_rec.recommend(history, k=10))
