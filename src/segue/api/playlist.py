"""Continue a playlist one track at a time, each pick fed back to the model as context.

Generation runs on a :class:`SessionState`, so with a causal model each step is one incremental
step of the model plus one scoring pass over the catalogue, not a re-encoding of the playlist.
At each step a :class:`PlaylistGuard` masks what may not come next (the request's
:class:`Constraints`, the no-repeat window and the per-artist cap as the playlist grows); the
pick is the best remaining track, or a sample from ``softmax(score / temperature)``.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import NEG_INF, resolve
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS, playlist_frame, warn_cold_start
from segue.api.session_state import SessionState
from segue.api.track_lists import TrackLists
from segue.checks import check_integer, check_number
from segue.constraints import Constraints
from segue.evaluation.ranking import Ranked
from segue.export.request_bounds import sampling_weights

MAX_SEED = 2**64 - 1
"""The largest seed ``torch.Generator.manual_seed`` takes."""


def continue_playlist(
    state: SessionState,
    n: int = 30,
    *,
    constraints: Constraints | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Append ``n`` tracks to the session's events; see :meth:`segue.Recommender.continue_playlist`.

    Args:
        state: A session holding the seed tracks; it is extended with the generated tracks.
        n: Tracks to add.
        constraints: What may be picked (``exclude_played`` is not read: repeats are set by
            ``no_repeat_window``); None applies none but the default no-repeat rule.
        temperature: None picks the best track; a value > 0 samples.
        seed: Seed of the sampling.

    Returns:
        ``position, track_id, score[, artist, track_name]``, positions 1..n after the seeds.
    """
    lists = generate_playlist(state, n, constraints=constraints, temperature=temperature, seed=seed)
    picks, scores = lists.row(0)
    cold = bool(lists.cold[0])
    if cold:
        warn_cold_start(lists.unknown_ids[0], stacklevel=4)
    frame = playlist_frame(state.catalogue, picks, scores)
    frame.attrs = {
        UNKNOWN_IDS: lists.unknown_ids[0],
        COLD_START: cold,
        EXHAUSTED: lists.exhausted,
    }
    return frame


def generate_playlist(
    state: SessionState,
    n: int = 30,
    *,
    constraints: Constraints | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> TrackLists:
    """:func:`continue_playlist` as arrays: one row of picks and scores, ``exhausted`` set
    when the constraints ran out of tracks; no table, no cold-start warning."""
    if not isinstance(state, SessionState):
        raise TypeError(
            f"state must be a SessionState (Recommender.session()), got {type(state).__name__}"
        )
    if constraints is None:
        constraints = Constraints()
    elif not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be a Constraints, got {type(constraints).__name__}")
    n = check_integer("n", n, minimum=0)
    if temperature is not None:
        temperature = check_number("temperature", temperature, low=0.0, low_open=True)
    if seed is not None:
        seed = check_integer("seed", seed, minimum=0)  # a plain int: numpy ints fail in torch
        if seed > MAX_SEED:
            raise ValueError(f"seed must be an integer in 0..2**64 - 1, got {seed}")
    with state.lock:  # the whole playlist is one step of a shared session
        return _generate(state, n, constraints, temperature, seed)


def _generate(
    state: SessionState,
    n: int,
    constraints: Constraints,
    temperature: float | None,
    seed: int | None,
) -> TrackLists:
    catalogue = state.catalogue
    guard = PlaylistGuard(catalogue, constraints, state.played)
    generator = torch.Generator(device=catalogue.device)
    if seed is None:
        generator.seed()  # non-deterministic
    else:
        generator.manual_seed(seed)
    cold = state.n_events == 0
    picks: list[int] = []
    scores: list[float] = []
    with torch.inference_mode():  # the scores are inference tensors, masked in place
        while len(picks) < n:
            found = _next_track(state, guard, temperature, generator)
            if found is None:
                break
            pick, score = found
            picks.append(pick)
            scores.append(score)
            guard.push(pick)
            if len(picks) < n:  # the last pick needs no encoding
                state.add(catalogue.track_ids[pick])
    ranked = Ranked(
        np.asarray(picks, dtype=np.int64)[None], np.asarray(scores, dtype=np.float32)[None]
    )
    return TrackLists(ranked, [list(state.unknown_ids)], np.array([cold]), len(picks) < n)


class PlaylistGuard:
    """What may come next in a playlist generated one track at a time.

    The request's bans are resolved once; the no-repeat window slides and the per-artist cap
    fills as tracks are pushed.

    Args:
        catalogue: The catalogue.
        constraints: The request's constraints (``no_repeat_window`` and ``max_per_artist``
            read as documented there: the window counts the seeds, the cap does not).
        context: Tracks already in the playlist (the seeds), oldest first, (n,) int64.
    """

    def __init__(self, catalogue: Catalogue, constraints: Constraints, context: np.ndarray) -> None:
        self.catalogue = catalogue
        self.window, self.cap = constraints.no_repeat_window, constraints.max_per_artist
        # The request's bans as one (V,) mask (None: no rule bans a track), and the other
        # permanently excluded tracks as indices: padding, capped artists' tracks, and every
        # played track when repeats are never allowed. A step then fills a few indices
        # instead of a whole (V,) mask when the request bans nothing.
        self.banned = resolve(constraints, catalogue).banned
        self.blocked: set[int] = {0}
        window = self.window
        recent = [] if window is None or window == 0 else context[-window:].tolist()
        self.recent: deque[int] = deque(recent, maxlen=window or 0)
        if window is None:
            self.blocked.update(context.tolist())
        self.per_artist: dict[int, int] = {}

    def apply(self, scores: torch.Tensor) -> None:
        """Set the scores of tracks that may not come next to -inf, in place, (V,)."""
        if self.banned is not None:
            scores.masked_fill_(self.banned, NEG_INF)
        indices = list(self.blocked)
        indices.extend(self.recent)
        scores.index_fill_(0, torch.tensor(indices, device=scores.device), NEG_INF)

    def push(self, index: int) -> None:
        """Record that track ``index`` was appended to the playlist."""
        if self.window is None:
            self.blocked.add(index)
        else:
            self.recent.append(index)
        artist = int(self.catalogue.artist_of_track[index])
        if self.cap is None or artist == 0:
            return
        self.per_artist[artist] = self.per_artist.get(artist, 0) + 1
        if self.per_artist[artist] >= self.cap:
            self.blocked.update(self.catalogue.tracks_of_artist(artist).tolist())


def _next_track(
    state: SessionState,
    guard: PlaylistGuard,
    temperature: float | None,
    generator: torch.Generator,
) -> tuple[int, float] | None:
    """The next track's index and score; None when no track is eligible.

    Greedy picks need only the best eligible track, which the session finds through the
    catalogue's int8 screen when it has one; sampling needs every track's score.
    """
    if temperature is None:
        return state.best_next(guard.apply)
    scores = state.scores()  # (V,), a fresh tensor
    guard.apply(scores)
    if not bool(torch.isfinite(scores).any()):
        return None
    # float64 with the best score subtracted first: scores / 1e-300 would overflow float32
    weights = torch.from_numpy(sampling_weights(scores.cpu().numpy(), temperature))  # (V,)
    weights = weights.to(scores.device)  # the generator lives on the catalogue's device
    pick = int(torch.multinomial(weights, 1, generator=generator))
    return pick, float(scores[pick])
