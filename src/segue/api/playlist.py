"""Continue a playlist one track at a time, each pick fed back to the model as context.

Generation runs on a :class:`SessionState`, so with a causal model each step is one incremental
step of the model plus one scoring pass over the catalogue, not a re-encoding of the playlist.
At each step the constraints (:class:`PlaylistConstraints`) mask what may not come next; the
pick is the best remaining track, or a sample from ``softmax(score / temperature)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from segue.api.constraints import PlaylistConstraints, resolve_filters
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS, playlist_frame, warn_cold_start
from segue.api.session_state import SessionState
from segue.checks import check_integer, check_number

MAX_SEED = 2**64 - 1
"""The largest seed ``torch.Generator.manual_seed`` takes."""


def continue_playlist(
    state: SessionState,
    n: int = 30,
    no_repeat_window: int | None = None,
    max_per_artist: int | None = None,
    allow: Iterable[object] | None = None,
    block: Iterable[object] | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Append ``n`` tracks to the session's events; see :meth:`segue.Recommender.continue_playlist`.

    Args:
        state: A session holding the seed tracks; it is extended with the generated tracks.

    Returns:
        ``position, track_id, score[, artist, track_name]``, positions 1..n after the seeds.
    """
    if not isinstance(state, SessionState):
        raise TypeError(
            f"state must be a SessionState (Recommender.session()), got {type(state).__name__}"
        )
    n = check_integer("n", n, minimum=0)
    if temperature is not None:
        temperature = check_number("temperature", temperature, low=0.0, low_open=True)
    if seed is not None:
        seed = check_integer("seed", seed, minimum=0)  # a plain int: numpy ints fail in torch
        if seed > MAX_SEED:
            raise ValueError(f"seed must be an integer in 0..2**64 - 1, got {seed}")
    with state.lock:  # the whole playlist is one step of a shared session
        return _generate(
            state, n, no_repeat_window, max_per_artist, allow, block, temperature, seed
        )


def _generate(
    state: SessionState,
    n: int,
    no_repeat_window: int | None,
    max_per_artist: int | None,
    allow: Iterable[object] | None,
    block: Iterable[object] | None,
    temperature: float | None,
    seed: int | None,
) -> pd.DataFrame:
    catalogue = state.catalogue
    filters = resolve_filters(catalogue, allow, block)
    guard = PlaylistConstraints(catalogue, filters, state.played, no_repeat_window, max_per_artist)
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
            step_scores = state.scores()  # (V,), a fresh tensor
            guard.apply(step_scores)
            pick = _pick(step_scores, temperature, generator)
            if pick is None:
                break
            picks.append(pick)
            scores.append(float(step_scores[pick]))
            guard.push(pick)
            if len(picks) < n:  # the last pick needs no encoding
                state.add(catalogue.track_ids[pick])
    if cold:
        warn_cold_start(state.unknown_ids, stacklevel=5)
    frame = playlist_frame(catalogue, picks, scores)
    frame.attrs = {
        UNKNOWN_IDS: list(state.unknown_ids),
        COLD_START: cold,
        EXHAUSTED: len(picks) < n,
    }
    return frame


def _pick(
    scores: torch.Tensor, temperature: float | None, generator: torch.Generator
) -> int | None:
    """Index of the next track among the finite scores, (V,); None when none is eligible."""
    best = int(torch.argmax(scores))
    if not torch.isfinite(scores[best]):
        return None
    if temperature is None:
        return best
    probs = torch.softmax(scores / temperature, dim=0)  # -inf -> probability 0
    return int(torch.multinomial(probs, 1, generator=generator))
