"""The API's output tables, built once per call from index arrays.

Every table has ``track_id`` and ``score``, then ``artist`` and ``track_name`` when the
vocabulary knows them. What a call wants to say besides the table lives in ``DataFrame.attrs``
under the keys below, always present:

* :data:`UNKNOWN_IDS`: history ids not in the vocabulary, dropped (``recommend``,
  ``continue_playlist``, ``session``): a list; for ``recommend_batch`` a dict query -> list, for
  the queries that had any.
* :data:`COLD_START`: whether the list came from popularity because no history event was
  known: a bool; for ``recommend_batch`` the list of such queries. Such a list is also announced
  by a :class:`ColdStartWarning`, and its scores are popularity log-probabilities, on the
  model's logit scale (see :func:`segue.api.ranking.popularity_logits`).
* :data:`EXHAUSTED` (``continue_playlist`` only): the constraints left no eligible track before
  ``n`` were generated.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from segue.api.catalogue import Catalogue
from segue.columns import Columns
from segue.evaluation.ranking import Ranked

UNKNOWN_IDS = "unknown_ids"
COLD_START = "cold_start"
EXHAUSTED = "exhausted"


class ColdStartWarning(UserWarning):
    """A list was ranked by popularity because its history held no known track.

    Silence it with ``warnings.simplefilter("ignore", ColdStartWarning)`` where cold starts are
    expected (a new listener's first request); ``attrs["cold_start"]`` still marks the list.
    """


def warn_cold_start(
    unknown_ids: Sequence[str], queries: Sequence[object] | None = None, stacklevel: int = 3
) -> None:
    """Warn that popularity stood in for the model, saying why (no history, or unknown ids)."""
    if queries is not None:
        what = f"{len(queries)} of the histories (queries {list(queries)[:5]}) hold"
    else:
        what = "the history holds"
    why = f" ({len(unknown_ids)} unknown ids, e.g. {list(unknown_ids)[:3]})" if unknown_ids else ""
    warnings.warn(
        f"{what} no track the model knows{why}: ranked by popularity (cold start), "
        f"marked in attrs[{COLD_START!r}]",
        ColdStartWarning,
        stacklevel=stacklevel,
    )


def track_columns(catalogue: Catalogue, indices: np.ndarray) -> dict[str, np.ndarray]:
    """``track_id`` (and ``artist`` / ``track_name`` when known) of track indices (>= 1)."""
    columns = {Columns.TRACK: catalogue.track_ids[indices]}
    if catalogue.artists is not None:
        columns[Columns.ARTIST] = catalogue.artists[indices]
    if catalogue.names is not None:
        columns[Columns.TRACK_NAME] = catalogue.names[indices]
    return columns


def recommendations_frame(
    catalogue: Catalogue, ranked: Ranked, queries: Sequence[object] | None = None
) -> pd.DataFrame:
    """``[query,] track_id, score, rank[, artist, track_name]``, one row per returned track.

    Args:
        catalogue: The catalogue.
        ranked: (B, k) indices and scores; entries with index 0 (no eligible track) are dropped.
        queries: One label per row, giving a ``query`` column; None for a single request.
    """
    valid = ranked.indices > 0  # (B, k); invalid entries only ever trail a row
    rows, cols = np.nonzero(valid)
    indices = ranked.indices[rows, cols]
    head: dict[str, object] = {}
    if queries is not None:
        head[Columns.QUERY] = np.asarray(list(queries), dtype=object)[rows]
    columns = track_columns(catalogue, indices)
    track_id = columns.pop(Columns.TRACK)
    data = {
        **head,
        Columns.TRACK: track_id,
        Columns.SCORE: ranked.scores[rows, cols],
        Columns.RANK: (cols + 1).astype(np.int64),
        **columns,
    }
    return pd.DataFrame(data, copy=False)


def playlist_frame(
    catalogue: Catalogue, indices: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> pd.DataFrame:
    """``position, track_id, score[, artist, track_name]`` of a generated playlist."""
    idx = np.asarray(indices, dtype=np.int64)
    columns = track_columns(catalogue, idx)
    data = {
        Columns.POSITION: np.arange(1, len(idx) + 1, dtype=np.int64),
        Columns.TRACK: columns.pop(Columns.TRACK),
        Columns.SCORE: np.asarray(scores, dtype=np.float32),
        **columns,
    }
    return pd.DataFrame(data, copy=False)
