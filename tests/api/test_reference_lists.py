"""Ranked lists and greedy playlists against a naive reference built from ``model.score``.

The reference scores the whole catalogue with the model itself, drops what the rules ban with
Python loops, sorts by (score descending, index ascending) and fills the per-artist cap in that
order: what the README promises, without any of the serving code's masks and top-k.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from segue.api import Recommender
from segue.api.history import PLAY
from segue.data.batch import SequenceBatch
from segue.data.features import gap_buckets
from tests.api.conftest import N_TRACKS, tiny_recommender

# Cold histories (none, or only unknown ids) are among the random requests on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::segue.api.ColdStartWarning")

ARTISTS = ["a0", "a1", "a2", "a3", "a4", "nobody"]


def reference_scores(rec: Recommender, tracks: list[int], first_event: bool = True) -> np.ndarray:
    """``model.score`` after the last ``history_length`` of ``tracks``, (V,) float64; popularity
    log-probabilities when empty. ``first_event``: ``tracks[0]`` had no earlier event."""
    model, catalogue = rec.model, rec.catalogue
    if not tracks:
        counts = catalogue.popularity.double().numpy()[1:]
        return np.r_[-np.inf, np.log((counts + 1) / (counts.sum() + len(counts)))]
    gaps = np.full(len(tracks), 180.0)
    if first_event:
        gaps[0] = np.nan
    n = model.history_length
    window = torch.tensor([tracks[-n:]])  # (1, T)
    side = {}
    if model.config.use_event_types:
        side["event_types"] = torch.full_like(window, PLAY)
    if model.config.use_gap_buckets:
        side["gap_buckets"] = torch.from_numpy(gap_buckets(gaps)[-n:][None].astype(np.int64))
    if model.config.n_artists:
        side["artists"] = torch.from_numpy(catalogue.artist_of_track[window.numpy()])
    with torch.no_grad():
        hidden = model.next_hidden(SequenceBatch(tracks=window, **side))  # (1, D)
        return model.score(hidden, window)[0].double().numpy()


def reference_list(rec: Recommender, history: list[str], k: int, **rules) -> list[int]:
    """The list the README describes, by loops over the catalogue."""
    catalogue = rec.catalogue
    played = [catalogue.index[t] for t in history if t in catalogue.index]
    scores = reference_scores(rec, played)
    allow, block = rules.get("allow"), set(rules.get("block") or ())
    artists_out, cap = set(rules.get("exclude_artists") or ()), rules.get("max_per_artist")
    eligible = [
        j
        for j in range(1, catalogue.size)
        if (allow is None or catalogue.track_ids[j] in allow)
        and catalogue.track_ids[j] not in block
        and catalogue.artists[j] not in artists_out
        and not (rules.get("exclude_played", True) and j in played)
    ]
    eligible.sort(key=lambda j: (-scores[j], j))
    out: list[int] = []
    per_artist: dict[int, int] = {}
    for j in eligible:
        artist = int(catalogue.artist_of_track[j])
        if cap is not None and artist != 0:
            if per_artist.get(artist, 0) >= cap:
                continue
            per_artist[artist] = per_artist.get(artist, 0) + 1
        out.append(j)
    return out[:k]


def random_request(rng: random.Random) -> tuple[list[str], int, dict]:
    history = [f"t{rng.randrange(N_TRACKS)}" for _ in range(rng.choice([0, 1, 5, 8, 19]))]
    history += ["not-a-track"] * (rng.random() < 0.2)
    rules: dict = {}
    if rng.random() < 0.3:
        rules["allow"] = [f"t{rng.randrange(N_TRACKS)}" for _ in range(12)] + ["not-a-track"]
    if rng.random() < 0.3:
        rules["block"] = [f"t{rng.randrange(N_TRACKS)}" for _ in range(6)]
    if rng.random() < 0.3:
        rules["exclude_artists"] = rng.sample(ARTISTS, 2)
    if rng.random() < 0.3:
        rules["exclude_played"] = False
    if rng.random() < 0.4:
        rules["max_per_artist"] = rng.randrange(1, 4)
    return history, rng.choice([1, 7, 45]), rules  # 45: more than can be eligible


@pytest.mark.parametrize("kind", ["sasrec", "side", "bert4rec"])
def test_lists_equal_the_naive_reference(kind: str) -> None:
    rec = tiny_recommender(kind)
    rng = random.Random(0)
    for _ in range(30):
        history, k, rules = random_request(rng)
        expected = reference_list(rec, history, k, **rules)
        got = rec.recommend(history, k=k, **rules)
        assert [rec.catalogue.index[t] for t in got["track_id"]] == expected, (history, rules)
        assert got["rank"].tolist() == list(range(1, len(expected) + 1))
        assert bool(np.all(np.diff(got["score"].to_numpy()) <= 0))
        session = rec.session(history).recommend(k=k, **rules)
        assert session["track_id"].tolist() == got["track_id"].tolist()
        batch = rec.recommend_batch({"q": history, "other": ["t1", "t2"]}, k=k, **rules)
        assert batch[batch["query"] == "q"]["track_id"].tolist() == got["track_id"].tolist()


@pytest.mark.parametrize("kind", ["sasrec", "side"])
def test_greedy_playlists_equal_the_naive_reference(kind: str) -> None:
    """Each pick is the reference's best allowed track after the session's window (the last
    ``max_len`` events until the cache fills, then from ``keep`` on, as documented)."""
    rec = tiny_recommender(kind)
    catalogue, max_len = rec.catalogue, rec.model.config.max_len
    rng = random.Random(1)
    for _ in range(8):
        seeds = [f"t{rng.randrange(N_TRACKS)}" for _ in range(rng.choice([0, 3, 9]))]
        window, cap = rng.choice([None, 0, 1, 4]), rng.choice([None, 1, 3])
        playlist = rec.continue_playlist(seeds, n=20, no_repeat_window=window, max_per_artist=cap)
        tracks = [catalogue.index[t] for t in seeds]
        start, n_seeds, per_artist = max(0, len(tracks) - max_len), len(tracks), {}
        for got in playlist["track_id"]:
            if len(tracks) - start > max_len:  # the session re-encodes its last keep events
                start = len(tracks) - max_len // 2
            scores = reference_scores(rec, tracks[start:], first_event=start == 0).copy()
            recent = tracks if window is None else tracks[len(tracks) - window :] if window else []
            scores[recent] = -np.inf
            for j in range(1, catalogue.size):
                if cap and per_artist.get(int(catalogue.artist_of_track[j]), 0) >= cap:
                    scores[j] = -np.inf
            best = int(np.argmax(scores))
            assert catalogue.index[got] == best, (seeds, window, cap, len(tracks) - n_seeds)
            tracks.append(best)
            artist = int(catalogue.artist_of_track[best])
            if artist:
                per_artist[artist] = per_artist.get(artist, 0) + 1
