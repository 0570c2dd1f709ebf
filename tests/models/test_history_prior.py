"""The history prior: its features against a naive reference, its table, and model scoring."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from segue.data.batch import SequenceBatch
from segue.data.vocab import TrackVocab
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table
from segue.models.config import ModelConfig
from segue.models.history_prior import HistoryPrior, fit_transition_table, prior_features
from segue.models.transformer import TrackTransformer
from segue.training.batch_loss import batch_loss
from segue.training.losses import loss_for

V = 12


def prior_model(
    window: int = 5,
    successors: int = 3,
    decay: float = 0.8,
    plays: bool = False,
    chain: bool = False,
    chain_rule: str = "known",
    plays_outside_chain: bool = False,
    combine: str = "sum",
    album: bool = False,
    album_fresh: int = 0,
    artist: bool = False,
    album_entry: bool = False,
    album_run: bool = False,
) -> TrackTransformer:
    config = ModelConfig(
        n_tracks=V,
        d_model=8,
        n_heads=2,
        max_len=16,
        dropout=0.0,
        history_prior=True,
        prior_window=window,
        prior_successors=successors,
        prior_decay=decay,
        prior_plays=plays,
        prior_chain=chain,
        prior_chain_rule=chain_rule,
        prior_plays_outside_chain=plays_outside_chain,
        prior_combine=combine,
        prior_album=album,
        prior_album_tracks=3,
        prior_album_fresh=album_fresh,
        prior_artist=artist,
        prior_artist_tracks=3,
        prior_album_entry=album_entry,
        prior_album_run=album_run,
    )
    model = TrackTransformer(config)
    rng = np.random.default_rng(0)
    tracks = rng.integers(1, V + 1, size=300)
    group_start = np.repeat(np.arange(0, 300, 30), 30)
    model.prior.fit_table(tracks, group_start)
    if album:  # albums of four tracks: 1-4, 5-8, 9-12
        model.prior.fit_albums(album_mates_table(ALBUMS, n_mates=3))
    if artist:  # artists of four tracks: 1, 4, 7, 10 / 2, 5, 8, 11 / 3, 6, 9, 12
        model.prior.fit_artists(*artist_mates_table(ARTISTS, n_mates=3))
    if album_entry:
        mates = model.prior.album_mates.numpy()
        model.prior.fit_album_entries(album_entry_counts(tracks, group_start, mates))
    return model.eval()


ALBUMS = TrackVocab(
    [f"t{i}" for i in range(V)],
    counts=[1] * V,
    artists=["x"] * V,
    albums=[f"A{i // 4}" for i in range(V)],
)
"""The album metadata of :func:`prior_model`'s tracks."""

ARTISTS = TrackVocab(
    [f"t{i}" for i in range(V)],
    counts=[5, 1, 3, 2, 8, 1, 4, 6, 2, 7, 3, 1],
    artists=[f"R{i % 3}" for i in range(V)],
)
"""The artist metadata and plays of :func:`prior_model`'s tracks (its artist feature)."""


def naive_features(model: TrackTransformer, history: list[int], target: int | None) -> dict:
    """Per candidate: [repeat, sequel, transition(, plays)(, chain)(, album, album_chain)
    (, artist)(, album_entry)(, album_run)], from the definitions."""
    prior = model.prior
    column = {name: k for k, name in enumerate(prior.features)}
    recent = history[-prior.window :]
    last = history[-1]
    out: dict[int, list[float]] = defaultdict(lambda: [0.0] * len(prior.features))
    for lag, item in enumerate(reversed(recent)):
        out[item][0] += prior.decay**lag
    for s in range(len(recent) - 1):
        if recent[s] == last:
            out[recent[s + 1]][1] += 1
    # In a chain: the step into the last track was counted in the table (other than itself).
    table = (
        dict(
            zip(
                prior.successors[history[-2]].tolist(), prior.successor_counts[history[-2]].tolist()
            )
        )
        if len(history) > 1
        else {}
    )
    # The query's own step is in the table once more during training: counted out.
    own = {item: count - (item == last and target is not None) for item, count in table.items()}
    in_chain = own.get(last, 0.0) > 0
    if prior.chain_rule == "strongest":  # and no successor of x_{t-1} was counted more
        in_chain = in_chain and own[last] >= max(own.values())
    if prior.plays and not (prior.plays_outside_chain and in_chain):
        for item in recent:
            out[item][column["plays"]] += 1.0
    for item, count in zip(prior.successors[last].tolist(), prior.successor_counts[last].tolist()):
        if item > 0:
            out[item][2] += max(0.0, count - (item == target))
            if prior.chain and in_chain:
                out[item][column["chain"]] += max(0.0, count - (item == target))
    if prior.album:  # the other tracks of the last track's album, unless among the freshest
        freshest = list(reversed(recent))[: prior.album_fresh]

        def album_of(track: int) -> str:
            return ALBUMS.albums[track - 1]

        on_album = (
            len(history) > 1 and history[-2] != last and album_of(history[-2]) == album_of(last)
        )
        for item in range(1, V + 1):
            if album_of(item) == album_of(last) and item != last and item not in freshest:
                out[item][column["album"]] += 1.0
                out[item][column["album_chain"]] += float(on_album)
    if prior.artist:  # the artist's other tracks, at their share of plays (the target's own out)
        mates = [j for j in range(1, V + 1) if j != last and (j - last) % 3 == 0]
        plays = {j: ARTISTS.counts[j - 1] - (j == target) for j in mates}
        for item in mates:
            out[item][column["artist"]] += plays[item] / sum(plays.values())
    if prior.album_entry and not on_album:  # the album's successors, at the last track's rate
        entered, went_on = prior.album_entry_counts[last].tolist()
        if target is not None:  # the query's own play: entered, and went on to a mate or not
            entered -= 1
            went_on -= target != last and album_of(target) == album_of(last)
        rate = max(went_on, 0.0) / (max(entered, 0.0) + 1)
        for item, count in zip(
            prior.successors[last].tolist(), prior.successor_counts[last].tolist(), strict=True
        ):
            if item not in (0, last) and album_of(item) == album_of(last):
                out[item][column["album_entry"]] += max(0.0, count - (item == target)) * rate
    if prior.album_run and on_album:  # the album's successors, inside a play-through
        for item, count in zip(
            prior.successors[last].tolist(), prior.successor_counts[last].tolist(), strict=True
        ):
            if item not in (0, last) and album_of(item) == album_of(last):
                out[item][column["album_run"]] += max(0.0, count - (item == target))
    return {item: values for item, values in out.items() if any(values)}


@pytest.mark.parametrize(
    ("plays", "chain", "rule", "outside", "album", "fresh", "artist", "entry", "run"),
    [
        (False, False, "known", False, False, 0, False, False, False),
        (True, False, "known", False, False, 0, False, False, False),
        (True, True, "known", False, False, 0, False, False, False),
        (True, True, "strongest", False, False, 0, False, False, False),
        (True, True, "known", True, False, 0, False, False, False),
        (True, True, "strongest", True, False, 0, False, False, False),
        (False, False, "known", False, True, 0, False, False, False),
        (True, True, "strongest", True, True, 0, False, False, False),
        (True, True, "strongest", True, True, 2, False, False, False),
        (False, False, "known", False, True, 9, False, False, False),  # beyond the window
        (False, False, "known", False, False, 0, True, False, False),
        (True, True, "strongest", True, True, 2, True, False, False),  # segue's default model
        (False, False, "known", False, True, 0, False, True, False),
        (False, False, "known", False, True, 0, False, False, True),
        (True, True, "strongest", True, True, 2, True, True, True),  # experiment=synthetic
    ],
)
def test_features_equal_the_naive_definitions_at_every_position(
    plays, chain, rule, outside, album, fresh, artist, entry, run
):
    model = prior_model(
        plays=plays,
        chain=chain,
        chain_rule=rule,
        plays_outside_chain=outside,
        album=album,
        album_fresh=fresh,
        artist=artist,
        album_entry=entry,
        album_run=run,
    )
    gen = torch.Generator().manual_seed(1)
    tracks = torch.randint(1, 5, (3, 9), generator=gen)  # few tracks: many repeats
    tracks[0, :4] = 0  # left padding
    targets = torch.randint(1, V + 1, (3, 9), generator=gen)
    queries = tracks > 0
    raw = prior_features(tracks, queries, model.prior, targets[queries])
    got: dict[tuple[int, int], list[float]] = {
        (int(r), int(i)): f.tolist() for r, i, f in zip(raw.rows, raw.items, raw.features)
    }
    expected = {}
    for n, (b, t) in enumerate(queries.nonzero().tolist()):
        history = [x for x in tracks[b, : t + 1].tolist() if x > 0]
        for item, values in naive_features(model, history, int(targets[b, t])).items():
            expected[(n, item)] = values
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-6), key


@pytest.mark.parametrize("plays", [False, True])
def test_left_padding_changes_nothing(plays):
    model = prior_model(plays=plays, chain=plays)
    history = torch.tensor([[3, 4, 3, 5, 3]])
    padded = torch.cat((torch.zeros(1, 4, dtype=torch.long), history), dim=1)
    hidden = torch.randn(1, 8)
    a = model.score(hidden, history)
    b = model.score(hidden, padded)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("plays", "chain"), [(False, False), (True, False), (False, True)])
def test_score_adds_the_gated_log_counts_to_the_dot_products(plays, chain):
    model = prior_model(plays=plays, chain=chain)
    history = torch.tensor([[0, 2, 7, 2, 9, 2]])
    hidden = torch.randn(1, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        scores = model.score(hidden, history)[0]
    weights = model.prior.weights(hidden)[0].detach()
    plain = hidden[0] @ model.catalogue_embeddings().T
    features = naive_features(model, [2, 7, 2, 9, 2], target=None)
    assert len(weights) == 3 + plays + chain
    for item in range(1, V + 1):
        counts = features.get(item, [0.0] * len(weights))
        extra = sum(float(w) * math.log1p(f) for w, f in zip(weights, counts, strict=True))
        assert float(scores[item]) == pytest.approx(float(plain[item]) + extra, abs=1e-5)
    assert scores[0] == float("-inf")


def mixture_model(plays: bool = False, chain: bool = False) -> TrackTransformer:
    """A mixture prior with a gate and exponents far from their start values, so that a
    term that ignored either would be caught."""
    model = prior_model(plays=plays, chain=chain, combine="mixture")
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        model.prior.gate.weight.copy_(torch.randn(model.prior.gate.weight.shape, generator=gen))
        model.prior.gate.bias.copy_(torch.randn(model.prior.gate.bias.shape, generator=gen))
        model.prior.count_power.copy_(torch.randn(model.prior.count_power.shape, generator=gen))
    return model


@pytest.mark.parametrize(("plays", "chain"), [(False, False), (True, True)])
def test_a_mixture_prior_scores_the_naive_mixture(plays, chain):
    """score_j = log(exp(h.e_j) + sum_k exp(g_k) F_k(j) ** softplus(c_k)), from the definitions."""
    model = mixture_model(plays, chain)
    history = torch.tensor([[0, 2, 7, 2, 9, 2]])
    hidden = torch.randn(1, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        scores = model.score(hidden, history)[0]
        gate = model.prior.gate(hidden)[0]
        power = torch.nn.functional.softplus(model.prior.count_power)
    plain = hidden[0] @ model.catalogue_embeddings().T
    features = naive_features(model, [2, 7, 2, 9, 2], target=None)
    assert len(features) > 3
    for item in range(1, V + 1):
        counts = features.get(item, [0.0] * len(gate))
        mass = sum(
            math.exp(float(g)) * f ** float(a)
            for g, f, a in zip(gate, counts, power, strict=True)
            if f > 0
        )
        expected = math.log(math.exp(float(plain[item])) + mass)
        assert float(scores[item]) == pytest.approx(expected, abs=1e-5), item


def test_a_mixture_prior_is_a_mixture_of_the_model_and_each_feature():
    """The softmax of the scores puts on every track the model's mass exp(h.e_j) plus the
    features' masses, over one normaliser: the model's own softmax, rescaled, outside the
    tracks with a count."""
    model = mixture_model(plays=True)
    history = torch.tensor([[3, 5, 3, 8]])
    hidden = torch.randn(1, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        p = torch.softmax(model.score(hidden, history)[0, 1:], dim=0)
        plain = torch.softmax((hidden[0] @ model.catalogue_embeddings().T)[1:], dim=0)
    counted = set(naive_features(model, [3, 5, 3, 8], target=None))
    rest = [j for j in range(1, V + 1) if j not in counted]
    ratio = p[[j - 1 for j in rest]] / plain[[j - 1 for j in rest]]
    torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio))  # one factor < 1
    assert float(ratio[0]) < 1.0
    for j in counted:  # a counted track gains mass
        assert float(p[j - 1]) > float(plain[j - 1]) * float(ratio[0])


def test_a_mixture_prior_trains_its_gate_and_exponents_with_finite_gradients():
    model = mixture_model(plays=True, chain=True).train()
    batch = SequenceBatch(
        torch.tensor([[0, 2, 7, 2, 9], [4, 4, 5, 6, 4]]),
        targets=torch.tensor([[0, 7, 2, 9, 2], [4, 5, 6, 4, 4]]),
    )
    loss = batch_loss(model, model(batch), batch, loss_for("softmax", n_tracks=V))
    loss.backward()
    for name in ("gate.weight", "gate.bias", "count_power"):
        grad = dict(model.prior.named_parameters())[name].grad
        assert grad is not None and bool(torch.isfinite(grad).all()) and grad.abs().sum() > 0
    assert model.track_emb.weight.grad.abs().sum() > 0


def test_an_unknown_prior_combine_is_refused():
    with pytest.raises(ValueError, match="prior_combine must be one of"):
        ModelConfig(n_tracks=5, history_prior=True, prior_combine="product")


def test_a_prior_model_refuses_to_score_without_its_histories():
    model = prior_model()
    with pytest.raises(ValueError, match="score\\(hidden, history\\)"):
        model.score(torch.randn(2, 8))


def test_an_empty_history_row_gets_no_prior_terms():
    model = prior_model()
    history = torch.tensor([[0, 0, 0], [0, 4, 5]])
    hidden = torch.randn(2, 8)
    entries = model.prior_entries(hidden, history)
    assert set(entries.rows.tolist()) == {1}


@pytest.mark.parametrize("plays", [False, True])
def test_the_prior_is_causal_at_training_positions(plays):
    # Changing a later track never changes the terms at an earlier position.
    model = prior_model(plays=plays, chain=plays)
    tracks = torch.tensor([[1, 2, 1, 3, 1, 2]])
    changed = tracks.clone()
    changed[0, 4:] = torch.tensor([7, 8])
    queries = torch.zeros_like(tracks, dtype=torch.bool)
    queries[0, :4] = True
    a = prior_features(tracks, queries, model.prior)
    b = prior_features(changed, queries, model.prior)
    for field in ("rows", "items", "features"):
        torch.testing.assert_close(getattr(a, field), getattr(b, field))


def test_transition_table_keeps_the_most_frequent_successors_within_groups():
    tracks = np.array([1, 2, 1, 2, 1, 3, 4, 1, 4])
    groups = np.array([0, 0, 0, 0, 0, 0, 6, 6, 6])  # 3 -> 4 crosses groups: never counted
    successors, counts = fit_transition_table(tracks, groups, n_tracks=4, n_successors=1)
    assert successors[1].tolist() == [2] and counts[1].tolist() == [2.0]
    assert successors[3].tolist() == [0] and counts[3].tolist() == [0.0]
    pairs = Counter(itertools.pairwise(tracks.tolist()))
    assert pairs[(3, 4)] == 1  # the pair exists in the rows, but across two groups


def test_transition_table_never_counts_a_pair_into_a_skipped_play():
    tracks = np.array([1, 2, 1, 3, 1, 2])
    skipped = np.array([False, True, False, False, False, False])  # the first 1 -> 2 is skipped
    successors, counts = fit_transition_table(
        tracks, np.zeros(6, dtype=np.int64), n_tracks=3, n_successors=2, is_skip=skipped
    )
    assert successors[1].tolist() == [2, 3] and counts[1].tolist() == [1.0, 1.0]
    assert successors[2].tolist() == [1, 0]  # a skipped play may still be followed


def test_history_prior_needs_the_causal_objective():
    with pytest.raises(ValueError, match="causal"):
        ModelConfig(n_tracks=5, objective="masked", history_prior=True)


def test_batch_of_a_prior_model_trains_through_forward_and_score():
    model = prior_model().train()
    batch = SequenceBatch(tracks=torch.tensor([[0, 1, 2, 1]]))
    hidden = model.last_hidden(batch)
    scores = model.score(hidden, batch.tracks)
    scores[0, 1:].logsumexp(0).backward()
    assert model.prior.gate.weight.grad is not None


def test_plays_counts_every_replay_in_the_window_without_decay():
    # 3 was played 3 times, the oldest 5 events back; 2 once, just now: the decayed repeat
    # feature ranks 2 first, the plays feature 3. Outside the window nothing counts.
    model = prior_model(window=6, decay=0.5, plays=True)
    tracks = torch.tensor([[3, 3, 4, 3, 5, 6, 2]])  # the first 3 is 7 events back: out
    queries = torch.zeros_like(tracks, dtype=torch.bool)
    queries[0, -1] = True
    raw = prior_features(tracks, queries, model.prior)
    plays = dict(zip(raw.items.tolist(), raw.features[:, 3].tolist()))
    repeat = dict(zip(raw.items.tolist(), raw.features[:, 0].tolist()))
    assert plays[3] == 2.0 and plays[2] == 1.0 and plays[4] == 1.0
    assert repeat[2] > repeat[3]


def test_a_prior_without_plays_keeps_the_three_feature_gate_of_older_checkpoints():
    old, new = prior_model(), prior_model(plays=True)
    assert old.prior.gate.out_features == 3 and new.prior.gate.out_features == 4
    assert old.prior.features == ("repeat", "sequel", "transition")
    # The state dict of a three-feature model does not fit a four-feature one: refused loudly.
    with pytest.raises(RuntimeError, match="gate"):
        new.load_state_dict(old.state_dict())


def test_a_config_stored_before_plays_existed_loads_as_the_three_feature_prior():
    old = prior_model()
    stored = old.config.to_dict()
    del stored["prior_plays"]  # what a checkpoint written before the field holds
    again = TrackTransformer(ModelConfig.from_dict(stored))
    again.load_state_dict(old.state_dict())
    history = torch.tensor([[0, 2, 7, 2, 9, 2]])
    hidden = torch.randn(1, 8)
    torch.testing.assert_close(again.score(hidden, history), old.score(hidden, history))


def test_chain_repeats_the_transition_counts_only_after_a_step_of_the_table():
    model = prior_model(successors=2, plays=False, chain=True)
    prior = model.prior
    tracks = np.array([1, 2, 3, 1, 2, 3, 1, 2, 4, 5, 6, 5])
    prior.fit_table(tracks, np.zeros(len(tracks), dtype=np.int64))
    # 1 -> 2 is in the table (3 times): inside a chain; 6 -> 2 never happened: outside.
    tracks_in = torch.tensor([[1, 2], [6, 2]])
    queries = torch.tensor([[False, True], [False, True]])
    raw = prior_features(tracks_in, queries, prior)
    chain = raw.features[:, prior.features.index("chain")]
    transition = raw.features[:, prior.features.index("transition")]
    assert torch.equal(chain[raw.rows == 0], transition[raw.rows == 0])
    assert transition[raw.rows == 0].sum() == 3.0  # 2 -> 3 twice, 2 -> 4 once
    assert chain[raw.rows == 1].sum() == 0.0 and transition[raw.rows == 1].sum() == 3.0
    # During training the step itself is counted out: 5 -> 6 happened once, so at the query
    # after [5, 6] the model is not told "chain" by its own training pair.
    raw = prior_features(torch.tensor([[5, 6]]), queries[:1], prior, torch.tensor([5]))
    assert raw.features[:, prior.features.index("chain")].sum() == 0.0
    raw = prior_features(torch.tensor([[5, 6]]), queries[:1], prior)
    assert raw.features[:, prior.features.index("chain")].sum() == 1.0  # 6 -> 5 once


def test_the_strongest_rule_counts_only_steps_to_the_most_counted_successor():
    model = prior_model(successors=3, plays=False, chain=True, chain_rule="strongest")
    prior = model.prior
    # 1 -> 2 three times, 1 -> 4 once; 2 -> 3 twice, 2 -> 4 once.
    tracks = np.array([1, 2, 3, 1, 2, 3, 1, 2, 4, 1, 4])
    prior.fit_table(tracks, np.zeros(len(tracks), dtype=np.int64))
    queries = torch.tensor([[False, True], [False, True]])
    raw = prior_features(torch.tensor([[1, 2], [1, 4]]), queries, prior)
    chain = raw.features[:, prior.features.index("chain")]
    transition = raw.features[:, prior.features.index("transition")]
    assert torch.equal(chain[raw.rows == 0], transition[raw.rows == 0])  # 2: 1's strongest
    assert chain[raw.rows == 1].sum() == 0.0  # 1 -> 4 is known, but not 1's strongest step
    known = prior_model(successors=3, plays=False, chain=True)
    known.prior.fit_table(tracks, np.zeros(len(tracks), dtype=np.int64))
    raw = prior_features(torch.tensor([[1, 4]]), queries[:1], known.prior)
    assert raw.features[:, known.prior.features.index("chain")].sum() > 0  # "known": inside
    # Training: the query's own step is counted out first. With 1 -> 2 three times and
    # 1 -> 4 once, a training step 1 -> 2 still leads (2 against 1).
    raw = prior_features(torch.tensor([[1, 2]]), queries[:1], prior, torch.tensor([3]))
    assert raw.features[:, prior.features.index("chain")].sum() > 0


def test_an_unknown_chain_rule_is_refused():
    with pytest.raises(ValueError, match="prior_chain_rule must be one of"):
        prior_model(chain=True, chain_rule="loudest")
    with pytest.raises(ValueError, match="prior_plays_outside_chain needs"):
        prior_model(plays=True, chain=False, plays_outside_chain=True)


def test_plays_outside_chain_is_zero_inside_a_chain_only():
    model = prior_model(successors=3, plays=True, chain=True, plays_outside_chain=True)
    prior = model.prior
    tracks = np.array([1, 2, 3, 1, 2, 3, 1, 2, 4, 1, 4])  # 1 -> 2 is in the table
    prior.fit_table(tracks, np.zeros(len(tracks), dtype=np.int64))
    histories = torch.tensor([[2, 1, 2], [2, 6, 2]])  # ends 1 -> 2 (a chain), 6 -> 2 (none)
    queries = torch.tensor([[False, False, True], [False, False, True]])
    raw = prior_features(histories, queries, prior)
    plays = raw.features[:, prior.features.index("plays")]
    assert plays[raw.rows == 0].sum() == 0.0  # inside the chain: no favourites
    assert plays[(raw.rows == 1) & (raw.items == 2)].item() == 2.0  # outside: 2 played twice


def test_a_checkpoint_whose_gate_does_not_match_its_features_is_refused(tmp_path):
    old = prior_model()  # three features
    claimed = dataclasses.replace(old.config, prior_plays=True)  # four, by its config
    vocab = TrackVocab(track_ids=[f"t{i}" for i in range(V)], counts=[1] * V)
    path = save_checkpoint(Checkpoint(claimed, old.state_dict(), vocab), tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"prior\.gate\.weight.*\(4, 8\)"):
        load_checkpoint(path)


def test_a_checkpoint_whose_combine_does_not_match_its_weights_is_refused(tmp_path):
    vocab = TrackVocab(track_ids=[f"t{i}" for i in range(V)], counts=[1] * V)
    summed = prior_model()
    claimed = dataclasses.replace(summed.config, prior_combine="mixture")  # no exponents
    path = save_checkpoint(Checkpoint(claimed, summed.state_dict(), vocab), tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match=r"prior\.count_power"):
        load_checkpoint(path)
    mixed = mixture_model()
    as_sum = dataclasses.replace(mixed.config, prior_combine="sum")  # exponents left over
    path = save_checkpoint(Checkpoint(as_sum, mixed.state_dict(), vocab), tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"prior\.count_power"):
        load_checkpoint(path)
    good = save_checkpoint(Checkpoint(mixed.config, mixed.state_dict(), vocab), tmp_path / "c.pt")
    loaded = load_checkpoint(good).build_model().eval()
    history, hidden = torch.tensor([[1, 4, 1]]), torch.randn(1, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(hidden, history), mixed.score(hidden, history))


def test_the_album_feature_ranks_an_unplayed_album_mate_where_the_table_has_no_count():
    """The case it is for: the next track of a rare album, never seen after the current one."""
    model = prior_model(album=True, album_fresh=4, combine="mixture")
    prior = model.prior
    prior.fit_table(np.array([1, 2, 1, 2]), np.zeros(4, dtype=np.int64))  # only 1 -> 2 known
    history = torch.tensor([[9, 5, 6]])  # album A1 = 5..8: 5 and 6 heard, 7 and 8 not yet
    raw = prior_features(history, history > 0, prior)
    album = raw.features[:, prior.features.index("album")]
    last_query = raw.rows == 2
    assert sorted(raw.items[last_query & (album > 0)].tolist()) == [7, 8]
    with torch.no_grad():
        hidden = torch.zeros(1, 8)  # no preference of its own: the prior decides
        scores = model.score(hidden, history)[0]
    assert scores[7] == scores[8] and scores[7] > scores[3]  # album-mates over the rest


def test_an_album_table_is_checked_against_its_prior():
    with pytest.raises(ValueError, match="no album feature"):
        prior_model().prior.fit_albums(np.zeros((V + 1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"album table of shape \(13, 2\)"):
        prior_model(album=True).prior.fit_albums(np.zeros((V + 1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="prior_album_tracks must be an integer >= 1"):
        dataclasses.replace(prior_model(album=True).config, prior_album_tracks=0)
    with pytest.raises(ValueError, match="prior_album_fresh must be an integer >= 0"):
        dataclasses.replace(prior_model(album=True).config, prior_album_fresh=-1)


def test_a_checkpoint_keeps_the_album_table_and_scores_the_same(tmp_path):
    model = prior_model(plays=True, chain=True, album=True, album_fresh=2, combine="mixture")
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), ALBUMS), tmp_path / "a.pt")
    loaded = load_checkpoint(path).build_model().eval()
    assert torch.equal(loaded.prior.album_mates, model.prior.album_mates)
    assert loaded.prior.features[-2:] == ("album", "album_chain")
    history, hidden = torch.tensor([[1, 5, 6]]), torch.randn(1, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(hidden, history), model.score(hidden, history))


def test_the_artist_feature_shares_the_current_artist_plays_and_counts_the_target_out():
    model = prior_model(artist=True, combine="mixture")
    prior = model.prior
    history = torch.tensor([[2, 1]])  # the last track, 1, is artist R0's: 4, 7, 10 its mates
    raw = prior_features(history, history > 0, prior)
    column = raw.features[:, prior.features.index("artist")]
    last_query = raw.rows == 1
    shares = dict(zip(raw.items[last_query].tolist(), column[last_query].tolist(), strict=True))
    plays = {4: 2, 7: 4, 10: 7}  # ARTISTS.counts of tracks 4, 7, 10
    for track, count in plays.items():
        assert shares[track] == pytest.approx(count / 13)
    trained = prior_features(history, history > 0, prior, torch.tensor([3, 10]))
    column = trained.features[:, prior.features.index("artist")]
    at = (trained.rows == 1) & (trained.items == 10)
    assert float(column[at]) == pytest.approx(6 / 12)  # its own play is not evidence for it
    with torch.no_grad():  # at inference the most played mate ranks first among equals
        scores = model.score(torch.zeros(1, 8), history)[0]
    assert scores[10] > scores[7] > scores[4]


def test_an_artist_table_is_checked_against_its_prior():
    mates, plays = np.zeros((V + 1, 3), dtype=np.int64), np.zeros((V + 1, 3), np.float32)
    with pytest.raises(ValueError, match="no artist feature"):
        prior_model().prior.fit_artists(mates, plays)
    with pytest.raises(ValueError, match=r"artist plays of shape \(13, 2\)"):
        prior_model(artist=True).prior.fit_artists(mates, plays[:, :2])
    with pytest.raises(ValueError, match="prior_artist_tracks must be an integer >= 1"):
        dataclasses.replace(prior_model(artist=True).config, prior_artist_tracks=0)


def test_a_checkpoint_keeps_the_artist_and_album_entry_tables_and_scores_the_same(tmp_path):
    model = prior_model(
        plays=True,
        chain=True,
        album=True,
        artist=True,
        combine="mixture",
        album_entry=True,
        album_run=True,
    )
    path = save_checkpoint(Checkpoint(model.config, model.state_dict(), ARTISTS), tmp_path / "r.pt")
    loaded = load_checkpoint(path).build_model().eval()
    assert torch.equal(loaded.prior.artist_mates, model.prior.artist_mates)
    assert torch.equal(loaded.prior.artist_mate_plays, model.prior.artist_mate_plays)
    assert torch.equal(loaded.prior.album_entry_counts, model.prior.album_entry_counts)
    assert loaded.prior.album_entry_counts.sum() > 0
    assert loaded.prior.features[-3:] == ("artist", "album_entry", "album_run")
    history, hidden = torch.tensor([[1, 5, 6]]), torch.randn(1, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(hidden, history), model.score(hidden, history))


def test_album_entry_weighs_the_album_successors_by_the_entry_rate():
    model = prior_model(album=True, album_entry=True, combine="mixture")
    prior = model.prior
    log = np.array([5, 6, 7, 5, 6, 9, 5, 10])  # after 5: 6 twice (its album), 10 once
    prior.fit_table(log, np.zeros(len(log), dtype=int))
    counts = np.zeros((V + 1, 2), np.float32)
    counts[5] = [9.0, 6.0]  # 5 was entered from outside its album 9 times, went on 6 times
    prior.fit_album_entries(counts)
    column = prior.features.index("album_entry")

    def last_query(history: torch.Tensor, targets: torch.Tensor | None = None) -> dict:
        raw = prior_features(history, history > 0, prior, targets)
        at = raw.rows == raw.rows.max()
        return dict(zip(raw.items[at].tolist(), raw.features[at, column].tolist(), strict=True))

    entered = last_query(torch.tensor([[1, 5]]))  # 1 is on album A0: 5 was entered from outside
    assert entered[6] == pytest.approx(2 * 6 / (9 + 1))
    assert entered[10] == 0.0  # a successor on another album
    stayed = last_query(torch.tensor([[7, 5]]))  # 7 -> 5 stayed on album A1
    assert not any(stayed.values())
    trained = last_query(torch.tensor([[1, 5]]), torch.tensor([5, 6]))  # 6 is the target
    assert trained[6] == pytest.approx((2 - 1) * (6 - 1) / (9 - 1 + 1))  # its own play out


def test_the_album_entry_feature_needs_the_album_table_and_checks_its_counts():
    with pytest.raises(ValueError, match="prior_album_entry needs prior_album"):
        dataclasses.replace(prior_model().config, prior_album_entry=True)
    with pytest.raises(ValueError, match="needs the album feature"):
        HistoryPrior(8, V, window=5, n_successors=3, decay=0.9, album_entry=True)
    counts = np.zeros((V + 1, 2), np.float32)
    with pytest.raises(ValueError, match="no album_entry feature"):
        prior_model(album=True).prior.fit_album_entries(counts)
    with pytest.raises(ValueError, match=r"album-entry counts of shape \(13, 1\)"):
        prior_model(album=True, album_entry=True).prior.fit_album_entries(counts[:, :1])


def test_album_run_takes_the_album_successors_only_inside_a_play_through():
    model = prior_model(album=True, album_run=True, combine="mixture")
    prior = model.prior
    log = np.array([5, 6, 7, 5, 6, 9, 5, 10])  # after 5: 6 twice (its album), 10 once
    prior.fit_table(log, np.zeros(len(log), dtype=int))
    column = prior.features.index("album_run")

    def last_query(history: torch.Tensor, targets: torch.Tensor | None = None) -> dict:
        raw = prior_features(history, history > 0, prior, targets)
        at = raw.rows == raw.rows.max()
        return dict(zip(raw.items[at].tolist(), raw.features[at, column].tolist(), strict=True))

    inside = last_query(torch.tensor([[7, 5]]))  # 7 -> 5 stayed on album A1 (tracks 5-8)
    assert inside[6] == 2.0 and inside[10] == 0.0  # 10 is on another album
    assert not any(last_query(torch.tensor([[1, 5]])).values())  # entered from album A0
    assert last_query(torch.tensor([[7, 5]]), torch.tensor([5, 6]))[6] == 1.0  # target out
    with pytest.raises(ValueError, match="prior_album_run needs prior_album"):
        dataclasses.replace(prior_model().config, prior_album_run=True)
    with pytest.raises(ValueError, match="album_run feature needs the album feature"):
        HistoryPrior(8, V, window=5, n_successors=3, decay=0.9, album_run=True)
