"""``segue.evaluate``: rank every prediction point's target over the whole catalogue.

One call evaluates any number of models and baselines on the same points and returns a tidy
per-point table (for breakdowns and significance tests) and a summary with one row per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segue.checks import check_cut_offs, check_flag, check_integer
from segue.columns import Columns, EventTypes
from segue.data.pipeline import PreparedData
from segue.evaluation.beyond_accuracy import (
    coverage,
    intra_list_artist_diversity,
    mean_log_popularity,
    repeat_share,
)
from segue.evaluation.ranking import MISS
from segue.evaluation.scoring import Scorer, rank_and_list
from segue.evaluation.summary import metric_summary
from segue.io.checkpoint import load_checkpoint
from segue.models.transformer import TrackTransformer

ModelLike = Scorer | str | Path


@dataclass
class Evaluation:
    """Per-point ranks and per-model summaries.

    Args:
        points: One row per (model, prediction point): ``model``, ``query``, ``user_id``,
            ``session_id``, ``position``, ``track_id`` (the target), ``rank`` (``MISS`` when the
            target is unknown at training time), ``history_length``, ``target_popularity``
            (train plays), ``target_known``, ``is_repeat`` (the listener played the target's
            track before the point, in the vocabulary or not) and ``after_skip`` (the last
            event before the point was a skipped play).
        summary: One row per model: NDCG/HR/MRR at each K, coverage@K, artist diversity@10,
            mean log-popularity@10, repeat share@10, point counts.
        top_k: Per model, the recommended indices at each point, (N, max K).
    """

    points: pd.DataFrame
    summary: pd.DataFrame
    top_k: dict[str, np.ndarray]

    def to_markdown(self, columns: Sequence[str] | None = None) -> str:
        table = self.summary if columns is None else self.summary[list(columns)]
        header = "| " + " | ".join(table.columns) + " |"
        rule = "|" + "|".join("---" for _ in table.columns) + "|"
        rows = [
            "| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)
        ]
        return "\n".join([header, rule, *rows])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _as_scorer(model: ModelLike, data: PreparedData) -> Scorer:
    if not isinstance(model, (str, Path)):
        return model
    checkpoint = load_checkpoint(model)
    if checkpoint.vocab.track_ids != data.vocab.track_ids:
        raise ValueError(
            f"{model} was trained with another track vocabulary than this data's "
            f"({checkpoint.vocab.n_tracks} vs {data.vocab.n_tracks} tracks): prepare the data "
            "with the same source, split, min_count and catalogue as the training run"
        )
    return checkpoint.build_model()


def _name_of(model: ModelLike) -> str:
    if isinstance(model, (str, Path)):
        return Path(model).stem
    if isinstance(model, TrackTransformer):
        return "transformer"
    return str(getattr(model, "name", type(model).__name__))


def point_table(data: PreparedData, fold: str) -> pd.DataFrame:
    """Descriptive columns of the prediction points of ``fold`` (same order as the dataset)."""
    points = data.points(fold)
    events = data.split.events.iloc[points.rows]
    popularity = data.vocab.popularity()
    last_type = np.where(
        points.ends > points.history_starts,
        data.encoded.event_types[np.maximum(points.ends - 1, 0)],
        0,
    )
    is_repeat = _played_before(data.split.events)[points.rows]
    table = pd.DataFrame(
        {
            "query": np.arange(len(points)),
            Columns.USER: events[Columns.USER].to_numpy(),
            Columns.SESSION: events[Columns.SESSION].to_numpy(),
            Columns.POSITION: events[Columns.POSITION].to_numpy(),
            Columns.TRACK: events[Columns.TRACK].to_numpy(),
            "history_length": points.ends - points.history_starts,
            "target_popularity": popularity[points.targets],
            "target_known": points.targets > 0,
            "is_repeat": is_repeat,
            "after_skip": last_type == EventTypes.index(EventTypes.SKIP),
        }
    )
    return table


def _played_before(events: pd.DataFrame) -> np.ndarray:
    """True where the user already had an event of the same track earlier in ``events``, (N,).

    Read from the track ids, not the vocabulary indices: a track outside the training
    catalogue (index 0, always a miss) that the listener heard in validation and replays in
    test is still a repeat, or the "new track" bucket would hold every such replay.

    >>> _played_before(pd.DataFrame({"user_id": list("uuuv"), "track_id": list("abab")})).tolist()
    [False, False, True, False]
    """
    return events.groupby([Columns.USER, Columns.TRACK], sort=False).cumcount().to_numpy() > 0


def evaluate(
    models: ModelLike | Mapping[str, ModelLike],
    data: PreparedData,
    *,
    fold: str = "test",
    ks: Sequence[int] = (10, 20, 50),
    exclude_seen: bool = False,
    discovery: bool = False,
    batch_size: int = 256,
) -> Evaluation:
    """Evaluate models (transformers, checkpoint paths or baselines) on the same points.

    Args:
        models: One model, or a mapping name -> model. A path loads a checkpoint, which must
            share ``data``'s vocabulary.
        data: Prepared data (:func:`segue.prepare_data`); its split defines the points.
        fold: "validation" or "test".
        ks: Cut-offs of the metrics.
        exclude_seen: Remove tracks the listener already played from every ranking (the
            target itself is always ranked). Right for MovieLens, wrong for music, where
            replays are a large share of listening. A target the listener already played is
            still ranked, against the unplayed rest: on music logs that *raises* the metrics
            (a replayed target competes with fewer tracks), so it is no discovery measure.
        discovery: Score the discovery setting: seen tracks excluded from every list (implies
            ``exclude_seen``) and a target the listener already played counts as a miss, since
            no list can hold it. The metrics then measure how often the next play is found
            among tracks new to the listener; the drop from ``exclude_seen=False`` is the
            accuracy cost of recommending only new tracks.
        batch_size: Points scored at once.

    Returns:
        An :class:`Evaluation`.
    """
    # Checked before any model is loaded or scored (a bad cut-off once failed after scoring);
    # the fold by data.points, which point_table calls first.
    ks = check_cut_offs("ks", ks)
    check_flag("exclude_seen", exclude_seen)
    check_flag("discovery", discovery)
    check_integer("batch_size", batch_size, minimum=1)
    named = dict(models) if isinstance(models, Mapping) else {_name_of(models): models}
    base = point_table(data, fold)
    points = data.points(fold)
    if len(points) == 0:  # a refit split has no validation fold: no metric has a value
        raise ValueError(
            f"the {fold} fold has no prediction points to evaluate (a refit split has no "
            "validation fold); evaluate another fold or prepare the data with one"
        )
    histories = [points.full_history(i) for i in range(len(points))]
    artist_of = data.vocab.artist_index(np.arange(data.vocab.n_tracks + 1))
    counts = data.vocab.popularity()
    tables, rows, lists = [], [], {}
    for name, model in named.items():
        ranked = rank_and_list(
            _as_scorer(model, data),
            points,
            k=max(ks),
            exclude_seen=exclude_seen or discovery,
            batch_size=batch_size,
        )
        ranks = ranked.ranks
        if discovery:  # no list can hold a track already played: a replayed target is missed
            ranks = np.where(base["is_repeat"].to_numpy(), MISS, ranks)
        tables.append(base.assign(model=name, rank=ranks))
        lists[name] = ranked.top_k
        top10 = ranked.top_k[:, : min(10, max(ks))]
        row = {"model": name, **metric_summary(ranks, ks)}
        row.update(
            {f"coverage@{k}": coverage(ranked.top_k[:, :k], data.vocab.n_tracks) for k in ks}
        )
        row["artist_diversity@10"] = intra_list_artist_diversity(top10, artist_of)
        row["mean_log_popularity@10"] = mean_log_popularity(top10, counts)
        row["repeat_share@10"] = repeat_share(top10, histories)
        row["unknown_targets"] = int((ranked.ranks == MISS).sum())
        if discovery:
            row["repeat_targets_missed"] = int(base["is_repeat"].sum())
        rows.append(row)
    columns = ["model", *[c for c in base.columns], "rank"]
    return Evaluation(
        points=pd.concat(tables, ignore_index=True)[columns],
        summary=pd.DataFrame(rows),
        top_k=lists,
    )
