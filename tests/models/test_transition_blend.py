"""The transition blend: its scores against the mixture written out, its weight chosen on
validation, its checkpoint checks."""

import dataclasses
import math
import re
from collections import Counter

import numpy as np
import pytest
import torch

from segue.data.batch import SequenceBatch
from segue.evaluation.blend_choice import choose_blend_weight, with_blend
from segue.evaluation.scoring import rank_points
from segue.evaluation.summary import metric_summary
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from segue.models import sasrec
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer
from segue.models.transition_blend import TransitionBlend
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit
from tests.api.prior_model import prior_model, prior_vocab, spread_weights

N_TRACKS = 30
LOG_TRACKS = np.array([1, 2, 3, 1, 2, 4, 2, 3, 5, 1, 2, 3, 7, 7, 2, 9])
LOG_GROUPS = np.array([0] * 8 + [8] * 8)


def plain_model(seed: int = 4) -> TrackTransformer:
    model = sasrec(N_TRACKS, d_model=16, n_layers=1, max_len=8, dropout=0.0, seed=1)
    spread_weights(model, seed)
    return model.eval()


def blended(model: TrackTransformer, weight: float) -> TrackTransformer:
    """``model`` with a blend of ``weight`` counted from the module's little log."""
    config = dataclasses.replace(model.config, blend_weight=weight, blend_successors=3)
    out = TrackTransformer(config)
    out.load_state_dict(model.state_dict(), strict=False)
    assert out.blend is not None
    out.blend.fit_table(LOG_TRACKS, LOG_GROUPS)
    return out.eval()


def naive_successor_shares(tracks, groups, keep: int) -> dict[int, dict[int, float]]:
    """Per track, its ``keep`` most counted successors within a group (ties: smaller index),
    as shares of their counts: the table the blend mixes in, counted the long way."""
    counts: dict[int, Counter] = {}
    for i in range(len(tracks) - 1):
        if groups[i] == groups[i + 1]:
            counts.setdefault(int(tracks[i]), Counter())[int(tracks[i + 1])] += 1
    shares = {}
    for track, counter in counts.items():
        top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:keep]
        total = sum(n for _, n in top)
        shares[track] = {j: n / total for j, n in top}
    return shares


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("weight", [0.1, 0.5, 0.9])
def test_blended_scores_are_the_log_of_the_mixture_up_to_a_constant(with_prior, weight):
    base = prior_model(N_TRACKS, 8, combine="mixture") if with_prior else plain_model()
    model = blended(base, weight)
    shares = naive_successor_shares(LOG_TRACKS, LOG_GROUPS, keep=3)
    tracks = torch.tensor([[0, 0, 5, 1], [0, 3, 3, 2], [0, 0, 0, 9], [0, 8, 4, 6]])
    with torch.no_grad():
        hidden = base.last_hidden(SequenceBatch(tracks))
        plain = base.score(hidden, tracks).double()  # the prior's terms, if any, included
        got = model.score(hidden, tracks).double()
    for row in range(len(tracks)):
        softmax = torch.softmax(plain[row, 1:], dim=0).numpy()  # p over tracks 1..V
        table = np.zeros(N_TRACKS)
        for j, share in shares.get(int(tracks[row, -1]), {}).items():
            table[j - 1] = share
        mixture = (1 - weight) * softmax + weight * table
        normaliser = float(torch.logsumexp(plain[row, 1:], dim=0))
        shifted = got[row, 1:].numpy() - normaliser + math.log(1 - weight)
        np.testing.assert_allclose(shifted, np.log(mixture), rtol=0, atol=2e-5)
    # Track 6 was never followed by anything in the log: its row is left as it was.
    torch.testing.assert_close(got[3], plain[3])


def test_no_blend_at_weight_zero_and_a_weight_outside_the_interval_is_refused():
    model = plain_model()
    assert model.blend is None
    assert with_blend(model, 0.0, _events()).blend is None
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="blend_weight"):
            ModelConfig(n_tracks=5, blend_weight=bad)
    with pytest.raises(ValueError, match="causal objective"):
        ModelConfig(n_tracks=5, blend_weight=0.2, objective="masked")
    with pytest.raises(ValueError, match=r"weights must sum to a number in \(0, 1\)"):
        TransitionBlend(5, 2, weight=0.0)


def _events():
    return dataclasses.make_dataclass("Rows", ["tracks", "group_start", "is_skip"])(
        LOG_TRACKS, LOG_GROUPS, None
    )


def test_with_blend_counts_the_table_and_keeps_every_weight():
    model = plain_model()
    out = with_blend(model, 0.3, _events())
    assert out.config.blend_weight == 0.3 and out.blend is not None
    assert out.blend.successors[1, 0] == 2 and out.blend.successor_counts[1, 0] == 3  # 1 -> 2
    for name, value in model.state_dict().items():
        assert torch.equal(out.state_dict()[name], value), name
    again = with_blend(out, 0.2, _events())  # an existing blend is replaced
    assert again.config.blend_weight == 0.2


@pytest.fixture
def data(blend_data):
    return blend_data


def test_the_chosen_weight_is_the_best_of_the_grid_by_an_independent_evaluation(data):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=3)
    spread_weights(model, 5, std=0.1)
    model.eval()
    choice = choose_blend_weight(model, data, [0.2, 0.6], batch_size=64)
    assert set(choice.validation_ndcg) == {0.0, 0.2, 0.6}
    for weight, ndcg in choice.validation_ndcg.items():
        scored = with_blend(model, weight, data.train.events)
        ranks = rank_points(scored, data.validation)
        assert ndcg == pytest.approx(metric_summary(ranks, ks=[10])["ndcg@10"], abs=1e-12)
    assert choice.weight == max(choice.validation_ndcg, key=choice.validation_ndcg.__getitem__)
    assert choice.validation_ndcg[choice.weight] > choice.validation_ndcg[0.0]  # table helps
    with pytest.raises(ValueError, match="blend weights"):
        choose_blend_weight(model, data, [1.5])
    with pytest.raises(ValueError, match="already has a transition blend"):
        choose_blend_weight(with_blend(model, 0.2, data.train.events), data, [0.2])


def checkpoint_round_trip(
    model: TrackTransformer, tampered: list[tuple[str, float, str]], tmp_path
) -> TrackTransformer:
    """``model`` saved and loaded back, its scores checked equal; each ``(name, value,
    refusal)`` of ``tampered``, written at ``name[2, 0]``, refused naming the table."""
    vocab = prior_vocab(N_TRACKS)
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), vocab), tmp_path / "b.pt")
    loaded = load_checkpoint(path).build_model()
    tracks = torch.tensor([[0, 1, 2], [0, 0, 7]])
    with torch.no_grad():
        hidden = model.last_hidden(SequenceBatch(tracks))
        torch.testing.assert_close(loaded.score(hidden, tracks), model.score(hidden, tracks))
    for name, value, refusal in tampered:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        state[name][2, 0] = value
        bad = save_checkpoint(Checkpoint(model.config, state, vocab), tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=rf"{re.escape(name)}.*{re.escape(refusal)}"):
            load_checkpoint(bad)
    return loaded


def test_a_checkpoint_keeps_the_blend_and_refuses_a_tampered_table(tmp_path):
    model = blended(plain_model(), 0.4)
    tampered = [
        ("blend.successors", N_TRACKS + 1, "outside 0..30"),
        ("blend.successor_counts", -1.0, "not finite >= 0"),
        ("blend.successor_counts", float("inf"), "not finite >= 0"),
    ]
    loaded = checkpoint_round_trip(model, tampered, tmp_path)
    assert loaded.blend is not None and loaded.blend.weight == 0.4
    vocab = prior_vocab(N_TRACKS)
    no_table = {k: v for k, v in model.state_dict().items() if not k.startswith("blend.")}
    bad = save_checkpoint(Checkpoint(model.config, no_table, vocab), tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"missing \['blend.successor_counts'"):
        load_checkpoint(bad)


def test_a_blend_set_before_training_gets_its_table_from_the_training_rows(data, tmp_path):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, blend_weight=0.3)
    config = TrainerConfig(epochs=1, batch_size=16, out_dir=str(tmp_path), progress=False)
    loss = loss_for("softmax", n_tracks=data.vocab.n_tracks)
    fit(model, data.train, loss, None, config, vocab=data.vocab)
    expected = with_blend(model, 0.3, data.train.events)  # counted apart, from the same rows
    assert model.blend is not None and expected.blend is not None
    assert model.blend.successor_counts.sum() > 0
    assert torch.equal(model.blend.successors, expected.blend.successors)
    assert torch.equal(model.blend.successor_counts, expected.blend.successor_counts)
