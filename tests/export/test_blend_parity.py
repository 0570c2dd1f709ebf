"""A model with a transition blend is one model in every artefact: the float checkpoint, the
int8 artefact and the ONNX bundle (float and int8) serve the evaluated scores, blend included."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from segue.api import Recommender
from segue.compress import load_int8, save_int8
from segue.compress.int8 import catalogue_rows, int8_scores, quantize_model
from segue.data.batch import SequenceBatch
from segue.export.cooccurrence_numpy import COOCCURRENCE_FILES
from segue.export.onnx_export import write_bundle
from segue.export.prior_numpy import BLEND_FILES
from segue.export.runtime import OnnxRecommender
from segue.models import sasrec
from segue.models.history_prior import add_to_scores
from segue.models.transformer import TrackTransformer
from segue.serve.events import Event
from segue.serve.onnx_backend import OnnxBackend
from tests.api.prior_model import prior_model, prior_vocab, random_histories, spread_weights
from tests.export.test_prior_parity import (
    MAX_LEN,
    N_TRACKS,
    VARIANTS,
    _refused_setting_then_unlisted_file,
    _refused_when_tampered,
    _refused_with_model_config,
    assert_scores_alike,
    assert_served_alike,
    padded,
    served,
    top5_without_torch,
)

BLENDS: dict[str, tuple[str | None, float]] = {
    "no_prior": (None, 0.0),
    "mixture_prior": ("mixture", 0.0),
    "cooccurrence": (None, 0.3),
}
"""A plain SASRec with rotary positions and a blend (experiment=beauty's model), a model with
learned positions, a mixture prior and a blend, and the plain SASRec whose blend has a
co-occurrence memory beside its transition table (share 0.3)."""


def blend_model(name: str, weight: float = 0.3):
    """The variant's model with a blend counted from :func:`prior_model`'s kind of log."""
    prior, cooccurrence = BLENDS[name]
    if prior is None:
        base = sasrec(
            N_TRACKS,
            d_model=16,
            n_layers=1,
            max_len=MAX_LEN,
            dropout=0.0,
            positions="rotary",
            seed=1,
        )
        spread_weights(base, 4)
    else:
        base = prior_model(N_TRACKS, MAX_LEN, **VARIANTS["mixture"])
    config = dataclasses.replace(
        base.config,
        blend_weight=weight,
        blend_successors=4,
        blend_cooccurrence=cooccurrence,
        blend_neighbours=6,
        blend_history=5,
    )
    model = TrackTransformer(config)
    model.load_state_dict(base.state_dict(), strict=False)
    rng = np.random.default_rng(7)
    steps = np.where(rng.random(3000) < 0.6, 1, rng.integers(2, N_TRACKS, 3000))
    tracks = (np.cumsum(steps) % N_TRACKS) + 1
    assert model.blend is not None
    model.blend.fit_table(tracks, np.repeat(np.arange(0, 3000, 100), 100))
    if cooccurrence > 0:  # a filled table: most tracks have all their neighbours
        assert int((model.blend.neighbours > 0).sum()) > N_TRACKS * 5
    return model.eval()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("blend_bundles")
    out = {}
    for name in BLENDS:
        for int8 in (False, True):
            key = f"{name}_{'int8' if int8 else 'float'}"
            out[key] = write_bundle(
                blend_model(name), prior_vocab(N_TRACKS), folder / key, int8_embeddings=int8
            )
    return out


@pytest.mark.parametrize("name", sorted(BLENDS))
def test_the_onnx_runtime_scores_as_the_torch_model(bundles, name):
    model, vocab = blend_model(name), prior_vocab(N_TRACKS)
    runtime = OnnxRecommender.load(bundles[f"{name}_float"], num_threads=1)
    assert runtime.blend is not None and runtime.blend.weight == pytest.approx(0.3)
    rec = Recommender(model, vocab)
    assert_served_alike(runtime, rec, random_histories(10, N_TRACKS, 12, seed=2), abs=3e-5)
    tracks = padded(random_histories(6, N_TRACKS, 12, seed=3), vocab)
    listener, _ = assert_scores_alike(runtime, model, tracks, atol=3e-5)
    with pytest.raises(ValueError, match="transition blend"):
        runtime.scores(listener)  # without its tracks the blend cannot be added


@pytest.mark.parametrize("name", sorted(BLENDS))
def test_the_int8_artefact_and_bundle_serve_the_int8_scores_with_the_blend(bundles, tmp_path, name):
    model, vocab = blend_model(name), prior_vocab(N_TRACKS)
    path = save_int8(quantize_model(model), vocab, tmp_path / "m.int8.pt")
    artefact = load_int8(path).model
    assert artefact.blend is not None and artefact.blend.weight == pytest.approx(0.3)
    assert torch.equal(artefact.blend.successors.long(), model.blend.successors)
    tracks = padded(random_histories(5, N_TRACKS, 12, seed=6), vocab)
    # Between two products of the int8 rows the prior's tests allow 1e-4; the blend's
    # normaliser, a sum of the same products, adds their rounding once more: 2e-4 here.
    with torch.no_grad():  # the int8 rows exactly (values * scales), prior, then blend
        hidden = artefact.last_hidden(SequenceBatch(tracks))
        expected = catalogue_rows(artefact).chunked_scores(hidden)
        expected[:, 0] = float("-inf")  # padding: no part of the blend's normaliser
        if artefact.prior is not None:
            add_to_scores(expected, artefact.prior_entries(hidden, tracks))
        add_to_scores(expected, artefact.blend.entries(expected, tracks))
        got = int8_scores(artefact, hidden, tracks)
    torch.testing.assert_close(got[:, 1:], expected[:, 1:], atol=2e-4, rtol=1e-5)
    rec = Recommender.load(path)
    runtime = OnnxRecommender.load(bundles[f"{name}_int8"], num_threads=1)
    for row, history in enumerate(random_histories(5, N_TRACKS, 12, seed=6)):
        from_rec, from_bundle = served(rec, history), served(runtime, history)
        for i, track in enumerate(vocab.track_ids, start=1):
            assert from_rec[track] == pytest.approx(float(got[row, i]), abs=2e-4)
            assert from_bundle[track] == pytest.approx(float(got[row, i]), abs=2e-4)


def test_a_blend_bundle_is_served_exhaustively_and_without_torch(bundles, tmp_path):
    plain = write_bundle(prior_model(N_TRACKS, MAX_LEN), prior_vocab(N_TRACKS), tmp_path / "p")
    assert OnnxBackend.load(plain, "v1", screen_min_tracks=1).screen is not None
    backend = OnnxBackend.load(bundles["no_prior_float"], "v1", screen_min_tracks=1)
    assert backend.screen is None  # the blend's normaliser reads every track's score
    rec = Recommender(blend_model("no_prior"), prior_vocab(N_TRACKS))
    expected = rec.recommend(["t3", "t4", "t3"], k=5)["track_id"].tolist()
    assert top5_without_torch(bundles["no_prior_float"]) == expected
    got = backend.recommend([Event("t3"), Event("t4"), Event("t3")], 5, True, None, None, None)
    assert [item["track_id"] for item in got.items] == expected


def test_a_bundle_blend_table_and_weight_are_checked_on_load(tmp_path):
    bundle = write_bundle(blend_model("no_prior"), prior_vocab(N_TRACKS), tmp_path / "b")
    table = bundle / BLEND_FILES["successors"]
    _refused_when_tampered(bundle, table, (3, 0), N_TRACKS + 1, "(41, 4)")  # the [MASK] row
    for bad in (1.0, -0.2, True, "0.3"):
        _refused_with_model_config(bundle, {"blend_weight": bad}, r"blend_weight must be")
    _refused_with_model_config(bundle, {"blend_successors": 0}, "blend_successors must be")
    _refused_setting_then_unlisted_file(
        bundle,
        ("objective", "masked"),
        BLEND_FILES["successor_counts"],
        ("causal objective", r"sha256 must map exactly"),
    )


def test_a_bundle_cooccurrence_table_and_settings_are_checked_on_load(tmp_path):
    bundle = write_bundle(blend_model("cooccurrence"), prior_vocab(N_TRACKS), tmp_path / "c")
    table = bundle / COOCCURRENCE_FILES["neighbours"]
    _refused_when_tampered(bundle, table, (3, 0), N_TRACKS + 1, "(41, 6)")
    for bad in (1.0, -0.2, True, "0.3"):
        _refused_with_model_config(bundle, {"blend_cooccurrence": bad}, "blend_cooccurrence must")
    too_much = r"blend_cooccurrence must be < 1"
    _refused_with_model_config(bundle, {"blend_cooccurrence": 0.7}, too_much)
    for key, bad in (("blend_neighbours", 0), ("blend_history", 2.5), ("blend_decay", 0.0)):
        _refused_with_model_config(bundle, {key: bad}, f"{key} must be")
    # Without the memory the bundle lists two files fewer: its checksums no longer match.
    _refused_setting_then_unlisted_file(
        bundle,
        ("blend_cooccurrence", 0.0),
        COOCCURRENCE_FILES["neighbours"],
        (r"sha256 must map exactly", r"sha256 must map exactly"),
    )
