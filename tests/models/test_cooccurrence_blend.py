"""The blend's co-occurrence memory: its table against counting by hand, the two-memory
mixture against the distributions written out, the pair of weights chosen on validation, and
the checks on its settings and its checkpoint tables."""

import dataclasses
import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from segue.baselines import ItemCooccurrence
from segue.data.batch import SequenceBatch
from segue.evaluation.blend_choice import choose_blend_weight, with_blend
from segue.evaluation.scoring import rank_points
from segue.evaluation.summary import metric_summary
from segue.export.prior_numpy import BlendArrays
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from segue.models import sasrec
from segue.models.config import ModelConfig
from segue.models.cooccurrence_memory import SPAN, fit_neighbour_table
from segue.models.transformer import TrackTransformer
from tests.api.prior_model import prior_model, prior_vocab, spread_weights
from tests.models.test_transition_blend import checkpoint_round_trip

N_TRACKS = 30
LOG_TRACKS = np.array([1, 2, 3, 1, 2, 4, 2, 3, 5, 1, 2, 3, 7, 7, 2, 9, 4, 6, 1, 8, 2, 5])
LOG_GROUPS = np.array([0] * 8 + [8] * 8 + [16] * 6)
LOG_SKIPS = np.zeros(len(LOG_TRACKS), dtype=bool)
LOG_SKIPS[[5, 17]] = True  # a skipped 4 and a skipped 6: neither counts as a play


def naive_similarity(tracks, groups, skips) -> dict[tuple[int, int], float]:
    """Cosine co-occurrence counted pair by pair: plays (skips left out) at most SPAN apart
    in one group, the diagonal dropped, divided by the square root of both play counts."""
    plays = [(int(t), int(g)) for t, g, s in zip(tracks, groups, skips, strict=True) if not s]
    counts = Counter(t for t, _ in plays)
    pairs: Counter = Counter()
    for i, j in itertools.combinations(range(len(plays)), 2):
        (a, ga), (b, gb) = plays[i], plays[j]
        if ga == gb and j - i <= SPAN and a != b:
            pairs[(a, b)] += 1
            pairs[(b, a)] += 1
    return {(a, b): n / math.sqrt(counts[a] * counts[b]) for (a, b), n in pairs.items()}


def test_the_neighbour_table_is_the_cosine_co_occurrence_counted_by_hand():
    width = 3
    neighbours, weights = fit_neighbour_table(LOG_TRACKS, LOG_GROUPS, N_TRACKS, width, LOG_SKIPS)
    similarity = naive_similarity(LOG_TRACKS, LOG_GROUPS, LOG_SKIPS)
    for track in range(N_TRACKS + 1):
        row = sorted(
            ((b, s) for (a, b), s in similarity.items() if a == track), key=lambda x: (-x[1], x[0])
        )[:width]
        got = [(int(j), float(w)) for j, w in zip(neighbours[track], weights[track]) if j > 0]
        assert [j for j, _ in got] == [j for j, _ in row], track
        np.testing.assert_allclose([w for _, w in got], [s for _, s in row], rtol=1e-6)
    assert 6 not in neighbours and (neighbours[6] == 0).all()  # only ever skipped


def naive_memory(history: list[int], similarity, share: float, window: int, decay: float):
    """``share * P_c(j | h)`` over tracks 1..V, summed from the last ``window`` tracks."""
    mass = np.zeros(N_TRACKS)
    for age, track in enumerate(reversed([t for t in history if t > 0][-window:])):
        for (a, b), s in similarity.items():
            if a == track:
                mass[b - 1] += decay**age * s
    return share * mass / mass.sum() if mass.sum() > 0 else mass


def blended(base: TrackTransformer, weight: float, cooccurrence: float) -> TrackTransformer:
    config = dataclasses.replace(
        base.config,
        blend_weight=weight,
        blend_successors=N_TRACKS,  # every successor and neighbour: nothing cut
        blend_cooccurrence=cooccurrence,
        blend_neighbours=N_TRACKS,
        blend_history=3,
        blend_decay=0.5,
    )
    out = TrackTransformer(config)
    out.load_state_dict(base.state_dict(), strict=False)
    assert out.blend is not None
    out.blend.fit_table(LOG_TRACKS, LOG_GROUPS, LOG_SKIPS)
    return out.eval()


def plain_model() -> TrackTransformer:
    model = sasrec(N_TRACKS, d_model=16, n_layers=1, max_len=8, dropout=0.0, seed=1)
    spread_weights(model, 4)
    return model.eval()


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize(("weight", "cooccurrence"), [(0.0, 0.3), (0.2, 0.3), (0.1, 0.85)])
def test_blended_scores_are_the_log_of_the_two_memory_mixture(with_prior, weight, cooccurrence):
    base = prior_model(N_TRACKS, 8, combine="mixture") if with_prior else plain_model()
    model = blended(base, weight, cooccurrence)
    similarity = naive_similarity(LOG_TRACKS, LOG_GROUPS, LOG_SKIPS)
    tracks = torch.tensor([[0, 0, 5, 1], [0, 3, 3, 2], [0, 0, 0, 9], [0, 8, 4, 6], [1, 2, 3, 7]])
    with torch.no_grad():
        hidden = base.last_hidden(SequenceBatch(tracks))
        plain = base.score(hidden, tracks).double()
        got = model.score(hidden, tracks).double()
    for row in range(len(tracks)):
        softmax = torch.softmax(plain[row, 1:], dim=0).numpy()
        table = np.zeros(N_TRACKS)
        if weight > 0:
            for j, share in _table_shares(tracks[row], LOG_TRACKS, LOG_GROUPS, LOG_SKIPS).items():
                table[j - 1] = share
        memory = naive_memory(tracks[row].tolist(), similarity, cooccurrence, 3, 0.5)
        mixture = (1 - weight - cooccurrence) * softmax + weight * table + memory
        normaliser = float(torch.logsumexp(plain[row, 1:], dim=0))
        shifted = got[row, 1:].numpy() - normaliser + math.log(1 - weight - cooccurrence)
        np.testing.assert_allclose(shifted, np.log(mixture), rtol=0, atol=2e-5)


def _table_shares(history, tracks, groups, skips) -> dict[int, float]:
    """The transition table's shares after ``history``'s last track, pairs into a skipped
    play left out (as :func:`segue.models.history_prior.fit_transition_table` leaves them)."""
    counts: Counter = Counter()
    last = int(history[-1])
    for i in range(len(tracks) - 1):
        if groups[i] == groups[i + 1] and not skips[i + 1] and tracks[i] == last:
            counts[int(tracks[i + 1])] += 1
    total = sum(counts.values())
    return {j: n / total for j, n in counts.items()}


def test_the_numpy_port_adds_the_same_terms():
    model = blended(plain_model(), 0.2, 0.3)
    assert model.blend is not None
    arrays = BlendArrays(
        model.blend.successors.numpy().astype(np.int32),
        model.blend.successor_counts.numpy(),
        0.2,
        model.blend.neighbours.numpy().astype(np.int32),
        model.blend.neighbour_weights.numpy(),
        0.3,
        3,
        0.5,
    )
    rng = np.random.default_rng(3)
    tracks = torch.from_numpy(rng.integers(0, N_TRACKS + 1, size=(12, 8)))
    tracks[:, -1] = tracks[:, -1].clamp(min=1)
    with torch.no_grad():
        hidden = model.last_hidden(SequenceBatch(tracks))
        dense = model._dot_scores(hidden)
        expected = model.score(hidden, tracks)
    got = dense.numpy().copy()
    arrays.add_to(got, tracks.numpy())
    np.testing.assert_allclose(got[:, 1:], expected[:, 1:].numpy(), rtol=1e-5, atol=2e-5)


def test_settings_that_leave_the_softmax_no_mass_are_refused():
    ModelConfig(n_tracks=5, blend_cooccurrence=0.4)  # a memory without a transition table
    with pytest.raises(ValueError, match=r"blend_weight \+ blend_cooccurrence must be < 1"):
        ModelConfig(n_tracks=5, blend_weight=0.5, blend_cooccurrence=0.5)
    for key, bad in (
        ("blend_cooccurrence", -0.1),
        ("blend_cooccurrence", 1.0),
        ("blend_neighbours", 0),
        ("blend_history", 0),
        ("blend_decay", 0.0),
        ("blend_decay", 1.5),
    ):
        with pytest.raises(ValueError, match=key):
            ModelConfig(n_tracks=5, **{key: bad})
    with pytest.raises(ValueError, match="causal objective"):
        ModelConfig(n_tracks=5, blend_cooccurrence=0.2, objective="masked")


@pytest.fixture
def data(blend_data):
    return blend_data


def test_the_chosen_pair_is_the_best_of_the_grid_by_an_independent_evaluation(data):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=3)
    spread_weights(model, 5, std=0.1)
    model.eval()
    choice = choose_blend_weight(
        model, data, [0.2, 0.6], cooccurrence_weights=[0.3, 0.5], batch_size=64
    )
    assert set(choice.validation_ndcg) == {0.0, 0.2, 0.6}
    assert set(choice.cooccurrence_ndcg) == {0.3, 0.5}
    assert set(choice.cooccurrence_ndcg[0.5]) == {0.0, 0.2}  # 0.6 + 0.5 >= 1: left out
    pairs = {(w, 0.0): v for w, v in choice.validation_ndcg.items()}
    for share, by_weight in choice.cooccurrence_ndcg.items():
        pairs.update({(w, share): v for w, v in by_weight.items()})
    for (weight, share), ndcg in pairs.items():
        scored = with_blend(model, weight, data.train.events, share)
        ranks = rank_points(scored, data.validation)
        assert ndcg == pytest.approx(metric_summary(ranks, ks=[10])["ndcg@10"], abs=1e-12)
    best = max(pairs, key=lambda pair: (pairs[pair], -pair[1], -pair[0]))
    assert (choice.weight, choice.cooccurrence) == best
    with pytest.raises(ValueError, match="co-occurrence weights"):
        choose_blend_weight(model, data, [0.2], cooccurrence_weights=[1.0])


def test_with_blend_counts_the_neighbours_from_the_training_rows(data):
    model = sasrec(data.vocab.n_tracks, d_model=16, n_layers=1, max_len=16, seed=3)
    out = with_blend(model, 0.0, data.train.events, 0.4)
    assert out.blend is not None and out.config.blend_cooccurrence == 0.4
    events = data.train.events
    expected = fit_neighbour_table(
        events.tracks, events.group_start, data.vocab.n_tracks, 64, events.is_skip
    )
    assert torch.equal(out.blend.neighbours, torch.from_numpy(expected[0]))
    assert torch.equal(out.blend.neighbour_weights, torch.from_numpy(expected[1]))
    # The baseline's own similarity, read back for one track: the table is its top row.
    sequences = _sequences(events)
    baseline = ItemCooccurrence().fit(sequences, data.vocab.n_tracks).similarity_
    track = int(np.argmax((expected[0] > 0).sum(axis=1)))
    row = baseline.getrow(track).toarray()[0]
    top = expected[0][track][expected[0][track] > 0]
    np.testing.assert_allclose(expected[1][track][: len(top)], row[top], rtol=1e-6)
    assert row[top].min() >= np.sort(row)[-len(top)]


def _sequences(events) -> list[np.ndarray]:
    plays = ~np.asarray(events.is_skip, dtype=bool) if events.is_skip is not None else None
    tracks, groups = events.tracks, events.group_start
    if plays is not None:
        tracks, groups = tracks[plays], groups[plays]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.split(tracks, starts[1:])


def test_a_checkpoint_keeps_the_memory_and_refuses_a_tampered_table(tmp_path):
    model = blended(plain_model(), 0.2, 0.3)
    tampered = [
        ("blend.neighbours", N_TRACKS + 1, "outside 0..30"),
        ("blend.neighbour_weights", -1.0, "not finite >= 0"),
        ("blend.neighbour_weights", float("nan"), "not finite >= 0"),
    ]
    loaded = checkpoint_round_trip(model, tampered, tmp_path)
    assert loaded.blend is not None and loaded.blend.cooccurrence == 0.3
    vocab = prior_vocab(N_TRACKS)
    no_memory = {k: v for k, v in model.state_dict().items() if "neighbour" not in k}
    bad = save_checkpoint(Checkpoint(model.config, no_memory, vocab), tmp_path / "bad.pt")
    # Its config claims the memory's (31, 30) tables: more weights than the file holds.
    with pytest.raises(CheckpointError, match=r"needs at least 5,896 weights"):
        load_checkpoint(bad)
