"""``Recommender.load`` serves the int8 artefact: same API, rankings within the int8 bound."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segue.api import Recommender
from segue.api.history import encode_history
from segue.api.ranking import next_hidden
from segue.compress import compress_checkpoint, load_int8
from segue.compress.int8 import int8_scores
from tests.export.conftest import N_TRACKS, tiny_checkpoint

HISTORIES = [["t1", "t2", "t3"], ["t7"], ["t30", "t12", "t5", "t9", "t21"], ["t39", "t38"]]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("int8")
    checkpoint = tiny_checkpoint("side", folder)
    return {"float": checkpoint, "int8": compress_checkpoint(checkpoint, folder / "m.int8.pt")}


def hidden(rec: Recommender, history: list[str]) -> torch.Tensor:
    """The listener vector the recommender scores ``history`` with, (1, D)."""
    with torch.inference_mode():
        state = next_hidden(rec.model, rec.catalogue, [encode_history(history, rec.catalogue)])
    assert state is not None
    return state


def test_the_int8_artefact_scores_as_its_own_int8_path(files):
    """The served scores are the artefact's int8 scores (values * scales), float rounding aside."""
    rec = Recommender.load(files["int8"])
    artefact = load_int8(files["int8"])
    for history in HISTORIES:
        h = hidden(rec, history)
        expected = int8_scores(artefact.model, h)[0, 1:]  # (V,), the artefact's own scoring
        served = rec.recommend(history, k=N_TRACKS, exclude_played=False)
        by_id = dict(zip(served["track_id"], served["score"], strict=True))
        got = torch.tensor([by_id[t] for t in rec.vocab.track_ids])
        assert torch.allclose(got, expected, atol=1e-4), history


@pytest.mark.parametrize("history", HISTORIES)
def test_top_k_ids_match_the_float_checkpoint_within_the_int8_bound(files, history):
    """Rank by rank, the int8 list holds the float list's track, or one whose float score is
    within the bound of it: the table's rounding (``||h||_1 * scale / 2``) plus the int8
    encoder's change of the listener vector (``||h_float - h_int8||_2 * ||w||_2``)."""
    float_rec, int8_rec = Recommender.load(files["float"]), Recommender.load(files["int8"])
    k = 10
    expected = float_rec.recommend(history, k=N_TRACKS)
    got = int8_rec.recommend(history, k=k)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == k and got["rank"].tolist() == list(range(1, k + 1))

    h_float, h_int8 = hidden(float_rec, history), hidden(int8_rec, history)
    rows = load_int8(files["int8"]).model.track_emb.rows
    scales = rows.scales[1 : N_TRACKS + 1]  # (V,)
    weights = float_rec.catalogue.embeddings[1:]  # (V, D) float rows
    bound = h_int8.abs().sum() * scales / 2 + (h_float - h_int8).norm() * weights.norm(dim=1)
    bound_of = dict(zip(float_rec.vocab.track_ids, bound.tolist(), strict=True))
    float_score = dict(zip(expected["track_id"], expected["score"], strict=True))
    top = expected["track_id"].tolist()[:k]
    same = 0
    for rank, (want, have) in enumerate(zip(top, got["track_id"], strict=True), start=1):
        if want == have:
            same += 1
            continue
        slack = 2 * (bound_of[want] + bound_of[have])  # both scores may move, either way
        assert float_score[want] - float_score[have] <= slack, (rank, want, have)
    assert same >= k // 2  # the bound is loose, but most ranks do not move at all


def test_the_command_recommends_from_the_int8_artefact(files, capsys):
    from segue.cli.main import main

    assert main(["recommend", str(files["int8"]), "t1", "t2", "--k", "5", "--json"]) == 0
    out = capsys.readouterr().out
    expected = Recommender.load(files["int8"]).recommend(["t1", "t2"], k=5)["track_id"].tolist()
    for track in expected:
        assert f'"{track}"' in out


def test_a_damaged_int8_artefact_is_named_as_one(files, tmp_path):
    from segue.io.safe_load import CheckpointError

    values = torch.load(files["int8"], weights_only=True)
    values["tensors"]["track_emb.scales"][3] += 1.0  # the checksum no longer matches
    damaged = tmp_path / "damaged.int8.pt"
    torch.save(values, damaged)
    with pytest.raises(CheckpointError, match=r"damaged\.int8\.pt"):
        Recommender.load(damaged)
