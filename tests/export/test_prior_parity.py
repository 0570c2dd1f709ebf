"""A model with a history prior is one model in every artefact: the float checkpoint, the int8
artefact and the ONNX bundle (float and int8) serve the evaluated scores, prior included."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segue.api import Recommender
from segue.compress import load_int8, save_int8
from segue.compress.int8 import catalogue_rows, int8_scores, quantize_model
from segue.data.batch import SequenceBatch
from segue.export.onnx_export import write_bundle
from segue.export.prior_numpy import (
    ALBUM_ENTRY_FILES,
    ALBUM_FILES,
    ARTIST_FILES,
    MIXTURE_FILES,
    PRIOR_FILES,
)
from segue.export.prior_numpy import prior_features as numpy_features
from segue.export.runtime import BundleError, OnnxRecommender, file_sha256
from segue.io.checkpoint import Checkpoint, save_checkpoint
from segue.models.history_prior import add_to_scores, prior_features
from tests.api.prior_model import prior_model, prior_vocab, random_histories
from tests.export.test_runtime_no_torch import BLOCK_TORCH, LOAD_FROM_PACKAGE

N_TRACKS, MAX_LEN = 40, 8
FIVE = {"plays": True, "chain": True, "chain_rule": "strongest", "plays_outside_chain": True}
"""The five-feature prior of ``experiment=synthetic``."""

VARIANTS = {
    "plain": {},
    "side": {"side": True},
    "plays": FIVE,
    "mixture": {**FIVE, "combine": "mixture"},
    "album": {**FIVE, "combine": "mixture", "album": True, "album_fresh": 2},
    "artist": {**FIVE, "combine": "mixture", "album": True, "album_fresh": 2, "artist": True},
    "album_entry": {
        **FIVE,
        "combine": "mixture",
        "album": True,
        "album_fresh": 2,
        "artist": True,
        "album_entry": True,
    },
    "album_run": {
        **FIVE,
        "combine": "mixture",
        "album": True,
        "album_fresh": 2,
        "artist": True,
        "album_entry": True,
        "album_run": True,
    },
}
"""Model settings of each bundle the ``bundles`` fixture writes (float and int8)."""

TABLE_VARIANTS = ["plain", "mixture", "album", "artist", "album_entry", "album_run"]
"""The variants the int8, checkpoint and torch-free serving tests take: the plain prior, the
mixture, then each album or artist feature added in turn."""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def padded(histories: list[list[str]], vocab) -> torch.Tensor:
    """Histories of ids as left-padded (B, T) track indices, cut to max_len."""
    rows = [np.array(vocab.encode(np.array(h[-MAX_LEN:], dtype=object))) for h in histories]
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, out.shape[1] - len(row) :] = torch.from_numpy(row)
    return out


def assert_served_alike(runtime, rec, histories: list[list[str]], abs: float) -> None:
    """After each history, ``runtime`` serves the same tracks as ``rec``, each within ``abs``."""
    for history in histories:
        got, expected = served(runtime, history), served(rec, history)
        assert got.keys() == expected.keys()
        for track, score in expected.items():
            assert got[track] == pytest.approx(score, abs=abs), (history, track)


def assert_scores_alike(runtime, model, tracks: torch.Tensor, atol: float):
    """The layer below recommend: ``runtime.scores`` equals the model's (B, V) scores.

    Returns the listener vectors and the runtime's scores, for the callers' further checks.
    """
    with torch.no_grad():
        hidden = model.last_hidden(SequenceBatch(tracks))
        expected_scores = model.score(hidden, tracks)[:, 1:].numpy()
    listener = runtime.listener_vectors({"tracks": tracks.numpy()})
    got_scores = runtime.scores(listener, tracks.numpy())[:, 1:]
    np.testing.assert_allclose(got_scores, expected_scores, atol=atol, rtol=1e-5)
    return listener, got_scores


def served(rec, history: list[str]) -> dict[str, float]:
    """Every track's served score after ``history``, by id (torch or ONNX recommender)."""
    if isinstance(rec, OnnxRecommender):
        listed = rec.recommend(history, k=N_TRACKS, exclude_played=False)
        return {r["track_id"]: r["score"] for r in listed}
    out = rec.recommend(history, k=N_TRACKS, exclude_played=False)
    return dict(zip(out["track_id"], out["score"], strict=True))


@pytest.mark.parametrize("seed", range(8))
def test_the_numpy_port_equals_prior_features_on_random_histories(seed):
    """Property test: random window, decay, table and left-padded histories with repeats,
    every position a query (the training layout) or only some."""
    rng = np.random.default_rng(seed)
    rule = "strongest" if seed >= 6 else "known"
    plays, chain = seed % 2 == 1, seed % 4 >= 2
    model = prior_model(
        N_TRACKS,
        MAX_LEN,
        seed=seed,
        plays=plays,
        chain=chain,
        chain_rule=rule,
        plays_outside_chain=plays and chain and seed >= 4,
        album=seed % 3 == 0,
        album_fresh=int(rng.integers(0, 4)),
        artist=seed % 2 == 0,
        album_entry=seed in (0, 6),
        album_run=seed in (3, 6),
    )
    prior = model.prior
    prior.window, prior.decay = int(rng.integers(1, 10)), float(rng.uniform(0.3, 1.0))
    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 12))
    # 7 tracks, many repeats; 1, 11, 21, 31 one album, and one artist with 6 and 16
    pool = np.array([1, 2, 3, 11, 12, 21, 31])
    tracks = torch.from_numpy(pool[rng.integers(0, len(pool), (B, T))])
    tracks[torch.arange(T)[None, :] < torch.from_numpy(rng.integers(0, T + 1, (B, 1)))] = 0
    queries = (tracks > 0) & torch.from_numpy(rng.random((B, T)) < 0.7)
    expected = prior_features(tracks, queries, prior)
    rows, items, features = numpy_features(
        tracks.numpy(),
        queries.numpy(),
        prior.window,
        prior.decay,
        prior.successors.numpy().astype(np.int32),
        prior.successor_counts.numpy(),
        prior.plays,
        prior.chain,
        prior.chain_rule,
        prior.plays_outside_chain,
        prior.album_mates.numpy().astype(np.int32) if prior.album else None,
        prior.album_fresh,
        prior.artist_mates.numpy().astype(np.int32) if prior.artist else None,
        prior.artist_mate_plays.numpy() if prior.artist else None,
        prior.album_entry_counts.numpy() if prior.album_entry else None,
        prior.album_run,
    )
    optional = prior.plays + prior.chain + 2 * prior.album + prior.artist
    optional += prior.album_entry + prior.album_run
    assert features.shape[1] == 3 + optional
    np.testing.assert_array_equal(rows, expected.rows.numpy())
    np.testing.assert_array_equal(items, expected.items.numpy())
    np.testing.assert_allclose(features, expected.features.numpy(), rtol=1e-6)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("prior_bundles")
    out = {}
    for variant, settings in VARIANTS.items():
        model = prior_model(N_TRACKS, MAX_LEN, **settings)
        for int8 in (False, True):
            name = f"{variant}_{'int8' if int8 else 'float'}"
            out[name] = write_bundle(
                model, prior_vocab(N_TRACKS), folder / name, int8_embeddings=int8
            )
    return out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_onnx_runtime_scores_as_the_torch_model(bundles, name):
    settings = VARIANTS[name]
    model = prior_model(N_TRACKS, MAX_LEN, **settings)
    vocab = prior_vocab(N_TRACKS)
    runtime = OnnxRecommender.load(bundles[f"{name}_float"], num_threads=1)
    rec = Recommender(model, vocab)
    assert runtime.prior is not None and runtime.prior.plays == settings.get("plays", False)
    assert runtime.prior.combine == model.prior.combine
    assert_served_alike(runtime, rec, random_histories(10, N_TRACKS, 12, seed=2), abs=2e-5)
    tracks = padded(random_histories(6, N_TRACKS, 12, seed=3), vocab)
    if not settings.get("side"):  # the layer below recommend: the same (B, V) scores
        listener, got_scores = assert_scores_alike(runtime, model, tracks, atol=2e-5)
        in_one_call = runtime.history_scores({"tracks": tracks.numpy()})[:, 1:]
        np.testing.assert_array_equal(in_one_call, got_scores)
        with pytest.raises(ValueError, match="history prior"):
            runtime.scores(listener)  # without its tracks the prior cannot be added


@pytest.mark.parametrize("name", ["plays", *TABLE_VARIANTS])
def test_the_int8_bundle_scores_as_the_int8_artefact(bundles, tmp_path, name):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS[name])
    artefact = save_int8(quantize_model(model), prior_vocab(N_TRACKS), tmp_path / "m.int8.pt")
    int8_rec = Recommender.load(artefact)
    assert load_int8(artefact).model.prior.features == model.prior.features
    runtime = OnnxRecommender.load(bundles[f"{name}_int8"], num_threads=1)
    assert_served_alike(runtime, int8_rec, random_histories(8, N_TRACKS, 12, seed=4), abs=2e-5)


@pytest.mark.parametrize("name", TABLE_VARIANTS)
def test_the_int8_artefact_keeps_the_prior_and_scores_within_the_int8_bound(tmp_path, name):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS[name])
    quantized = quantize_model(model)
    path = save_int8(quantized, prior_vocab(N_TRACKS), tmp_path / "m.int8.pt")
    loaded = load_int8(path).model
    assert loaded.prior is not None and model.prior is not None
    torch.testing.assert_close(loaded.prior.gate.weight, model.prior.gate.weight)
    assert torch.equal(loaded.prior.successors.long(), model.prior.successors)
    assert torch.equal(loaded.prior.successor_counts, model.prior.successor_counts)
    if model.prior.album:  # stored int32, as the successors
        assert torch.equal(loaded.prior.album_mates.long(), model.prior.album_mates)
    if model.prior.artist:
        assert torch.equal(loaded.prior.artist_mates.long(), model.prior.artist_mates)
        assert torch.equal(loaded.prior.artist_mate_plays, model.prior.artist_mate_plays)
    if model.prior.album_entry:
        assert torch.equal(loaded.prior.album_entry_counts, model.prior.album_entry_counts)
    tracks = padded(random_histories(12, N_TRACKS, 12, seed=5), prior_vocab(N_TRACKS))
    with torch.no_grad():
        hidden = model.last_hidden(SequenceBatch(tracks))  # one listener vector for both
        exact = model.score(hidden, tracks)[:, 1:]
        int8 = int8_scores(loaded, hidden, tracks)[:, 1:]
    bound = catalogue_rows(loaded).score_error_bound(hidden)[:, 1:]
    assert ((int8 - exact).abs() <= bound + 1e-5).all()  # the prior's terms are the same
    # Top-k lists: wherever the float scores have a gap wider than twice the bound, the int8
    # list holds exactly the float list's tracks above it (no track can cross the gap).
    cuts = 0
    for row in range(len(tracks)):
        top, got = torch.topk(exact[row], 10), torch.topk(int8[row], 10)
        assert ((got.values - top.values).abs() <= bound[row].max() + 1e-5).all()
        for cut in np.flatnonzero((-torch.diff(top.values) > 2 * bound[row].max()).numpy()):
            cuts += 1
            assert set(got.indices[: cut + 1].tolist()) == set(top.indices[: cut + 1].tolist())
    assert cuts >= len(tracks)


@pytest.mark.parametrize("name", TABLE_VARIANTS)
def test_recommender_serves_the_int8_artefact_with_its_prior(tmp_path, name):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS[name])
    vocab = prior_vocab(N_TRACKS)
    path = save_int8(quantize_model(model), vocab, tmp_path / "m.int8.pt")
    rec = Recommender.load(path)
    artefact = load_int8(path).model
    assert artefact.prior is not None
    for history in random_histories(5, N_TRACKS, 12, seed=6):
        tracks = padded([history], vocab)
        with torch.no_grad():  # the artefact's int8 rows, exactly (values * scales), + prior
            hidden = artefact.last_hidden(SequenceBatch(tracks))
            expected = catalogue_rows(artefact).chunked_scores(hidden)
            add_to_scores(expected, artefact.prior_entries(hidden, tracks))
        got = served(rec, history)
        for i, track in enumerate(vocab.track_ids, start=1):
            assert got[track] == pytest.approx(float(expected[0, i]), abs=1e-4)


@pytest.mark.parametrize("name", ["plays", *TABLE_VARIANTS])
def test_a_float_checkpoint_with_a_prior_loads_and_serves_the_same_scores(tmp_path, name):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS[name])
    vocab = prior_vocab(N_TRACKS)
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), vocab), tmp_path / "p.pt")
    loaded, direct = Recommender.load(path), Recommender(model, vocab)
    history = random_histories(1, N_TRACKS, 12, seed=7)[0]
    assert served(loaded, history) == pytest.approx(served(direct, history), abs=1e-6)


def _resign(bundle: Path, name: str) -> None:
    """Update ``bundle.json``'s checksum of ``name`` (a consistent but altered bundle)."""
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["sha256"][name] = file_sha256(bundle / name)
    (bundle / "bundle.json").write_text(json.dumps(meta))


def _refused_when_tampered(
    bundle: Path, table: Path, cell: tuple[int, int], value: int, shape: str
) -> None:
    """A re-signed index table holding ``value`` at ``cell`` is refused, naming the file and
    the catalogue's range; cut to two columns, it is refused naming the ``shape`` it needs."""
    (bundle / "bundle.json").chmod(0o644)
    table.chmod(0o644)
    original = np.load(table)
    bad = original.copy()
    bad[cell] = value
    np.save(table, bad)
    _resign(bundle, table.name)
    with pytest.raises(BundleError, match=rf"{re.escape(table.name)}.*outside 0\.\.40"):
        OnnxRecommender.load(bundle)
    np.save(table, original[:, :2])  # fewer columns than model_config says
    _resign(bundle, table.name)
    with pytest.raises(BundleError, match=rf"{re.escape(table.name)}.*{re.escape(shape)}"):
        OnnxRecommender.load(bundle)


def test_bundle_prior_files_are_checked_on_load(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN)
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    table = bundle / PRIOR_FILES["successors"]
    _refused_when_tampered(bundle, table, (3, 0), N_TRACKS + 1, "(41, 4)")  # the [MASK] row
    meta = json.loads((bundle / "bundle.json").read_text())
    del meta["sha256"][table.name]  # as a bundle exported before the prior was served
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="history prior: re-export"):
        OnnxRecommender.load(bundle)


def top5_without_torch(bundle: Path) -> list[str]:
    """The bundle's top 5 after t3, t4, t3, served in a process where torch cannot load."""
    script = (
        BLOCK_TORCH
        + LOAD_FROM_PACKAGE
        + f"rec = OnnxRecommender.load({str(bundle)!r}, num_threads=1)\n"
        + "print(json.dumps([r['track_id'] for r in rec.recommend(['t3', 't4', 't3'], k=5)]))\n"
        + "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", TABLE_VARIANTS)
def test_a_prior_bundle_is_served_without_torch(bundles, name):
    rec = Recommender(prior_model(N_TRACKS, MAX_LEN, **VARIANTS[name]), prior_vocab(N_TRACKS))
    expected = rec.recommend(["t3", "t4", "t3"], k=5)["track_id"].tolist()
    assert top5_without_torch(bundles[name + "_float"]) == expected


def test_a_bundle_with_optional_features_refuses_a_three_feature_gate(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN, plays=True, chain=True)
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    for field in ("gate_weight", "gate_bias"):
        path = bundle / PRIOR_FILES[field]
        path.chmod(0o644)
        np.save(path, np.load(path)[:3])  # the gate of a prior without plays
    (bundle / "bundle.json").chmod(0o644)
    for field in ("gate_weight", "gate_bias"):
        _resign(bundle, PRIOR_FILES[field])
    with pytest.raises(BundleError, match=r"prior_gate_weight\.npy.*\(5, 16\)"):
        OnnxRecommender.load(bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["model_config"]["prior_chain"] = "yes"
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="prior_chain must be true or false"):
        OnnxRecommender.load(bundle)
    meta["model_config"]["prior_chain"] = True
    meta["model_config"]["prior_chain_rule"] = "loudest"
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="prior_chain_rule must be one of"):
        OnnxRecommender.load(bundle)


def test_a_mixture_bundle_checks_its_exponents_and_its_combine(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS["mixture"])
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    power = bundle / MIXTURE_FILES["count_power"]
    assert np.array_equal(np.load(power), model.prior.count_power.detach().numpy())
    (bundle / "bundle.json").chmod(0o644)
    power.chmod(0o644)
    original = np.load(power)
    for bad, message in [
        (original[:3], r"prior_count_power\.npy.*\(5,\)"),
        (np.where(np.arange(5) == 2, np.nan, original).astype(np.float32), "finite"),
    ]:
        np.save(power, bad)
        _resign(bundle, power.name)
        with pytest.raises(BundleError, match=message):
            OnnxRecommender.load(bundle)
    np.save(power, original)
    _resign(bundle, power.name)
    OnnxRecommender.load(bundle)  # restored: loads
    # A mixture bundle without its exponents: refused naming them.
    _refused_setting_then_unlisted_file(
        bundle,
        ("prior_combine", "product"),
        power.name,
        ("prior_combine must be one of", "prior_count_power"),
    )


def test_a_bundle_album_table_is_checked_on_load(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS["album"])
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    table = bundle / ALBUM_FILES["album_mates"]
    assert np.array_equal(np.load(table), model.prior.album_mates.numpy())
    _refused_when_tampered(bundle, table, (5, 1), -2, "(41, 3)")
    _refused_setting_then_unlisted_file(
        bundle,
        ("prior_album_fresh", -1),
        table.name,
        ("prior_album_fresh must be an integer >= 0", "must map exactly"),
    )


def _refused_setting_then_unlisted_file(
    bundle: Path, setting: tuple[str, object], file_name: str, refusals: tuple[str, str]
) -> None:
    """``bundle.json`` with ``setting`` (key, bad value) is refused with the first of
    ``refusals``; as written but without ``file_name``'s checksum, with the second."""
    key, bad = setting
    _refused_with_model_config(bundle, {key: bad}, refusals[0])
    meta = json.loads((bundle / "bundle.json").read_text())
    del meta["sha256"][file_name]
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=refusals[1]):
        OnnxRecommender.load(bundle)


def _refused_with_model_config(bundle: Path, changes: dict[str, object], refusal: str) -> None:
    """``bundle.json`` with ``changes`` to its model config is refused with ``refusal``; the
    file is then written back as it was."""
    path = bundle / "bundle.json"
    original = path.read_text()
    meta = json.loads(original)
    meta["model_config"].update(changes)
    path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=refusal):
        OnnxRecommender.load(bundle)
    path.write_text(original)


def test_a_bundle_artist_table_is_checked_on_load(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS["artist"])
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    table = bundle / ARTIST_FILES["artist_mates"]
    assert np.array_equal(np.load(table), model.prior.artist_mates.numpy())
    plays = bundle / ARTIST_FILES["artist_mate_plays"]
    assert np.array_equal(np.load(plays), model.prior.artist_mate_plays.numpy())
    _refused_when_tampered(bundle, table, (5, 1), N_TRACKS + 1, "(41, 3)")
    np.save(table, model.prior.artist_mates.numpy().astype(np.int32))  # restored
    _resign(bundle, table.name)
    cases = ((-1.0, "holds negative plays"), (float("nan"), "has NaN"))
    _refused_when_values_tampered(bundle, plays, (4, 0), cases)
    _refused_setting_then_unlisted_file(
        bundle,
        ("prior_artist_tracks", 0),
        plays.name,
        ("prior_artist_tracks must be an integer >= 1", "must map exactly"),
    )


def _refused_when_values_tampered(
    bundle: Path, table: Path, cell: tuple[int, int], cases: tuple[tuple[float, str], ...]
) -> None:
    """The float ``table``, re-signed with each case's bad value at ``cell``, is refused
    naming the file and that case's refusal."""
    original = np.load(table)
    table.chmod(0o644)
    for bad, refusal in cases:
        tampered = original.copy()
        tampered[cell] = bad
        np.save(table, tampered)
        _resign(bundle, table.name)
        with pytest.raises(BundleError, match=rf"{re.escape(table.name)}: {refusal}"):
            OnnxRecommender.load(bundle)


def test_a_bundle_album_entry_table_is_checked_on_load(tmp_path):
    model = prior_model(N_TRACKS, MAX_LEN, **VARIANTS["album_entry"])
    bundle = write_bundle(model, prior_vocab(N_TRACKS), tmp_path / "b")
    counts = bundle / ALBUM_ENTRY_FILES["album_entry_counts"]
    assert np.array_equal(np.load(counts), model.prior.album_entry_counts.numpy())
    (bundle / "bundle.json").chmod(0o644)
    cases = ((-1.0, "holds negative counts"), (float("inf"), "has NaN or infinite"))
    _refused_when_values_tampered(bundle, counts, (4, 1), cases)
    np.save(counts, model.prior.album_entry_counts.numpy()[:, :1].copy())  # (41, 1)
    _resign(bundle, counts.name)
    with pytest.raises(BundleError, match=r"prior_album_entry_counts\.npy: .*\(41, 2\)"):
        OnnxRecommender.load(bundle)
    np.save(counts, model.prior.album_entry_counts.numpy())
    _resign(bundle, counts.name)
    without_album = {"prior_album": False, "prior_album_entry": False, "prior_album_run": True}
    _refused_with_model_config(bundle, without_album, "prior_album_run needs prior_album")
    _refused_with_model_config(
        bundle, {"prior_album_run": "yes"}, "prior_album_run must be true or false"
    )
    _refused_setting_then_unlisted_file(
        bundle,
        ("prior_album", False),
        counts.name,
        ("prior_album_entry needs prior_album", "must map exactly"),
    )
