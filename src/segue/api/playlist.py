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
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS, playlist_frame
from segue.api.session_state import SessionState


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
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if temperature is not None and temperature <= 0:
        raise ValueError(f"temperature must be > 0 or None (greedy), got {temperature}")
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
