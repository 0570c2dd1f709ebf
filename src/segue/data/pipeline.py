"""From an event log to what training and evaluation read: sessions, split, vocabulary, datasets.

One function, :func:`prepare_data`, so that the training script, the evaluation script, the
benchmarks and the notebooks all prepare data the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segue.checks import check_choice, check_field_types, check_integer
from segue.columns import TEST, TRAIN, VALIDATION, Columns
from segue.data.encoding import EncodedEvents, encode_events
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.report import Report
from segue.data.sequences import PredictionSequences, SideInputs, TrainingSequences
from segue.data.sessions import SkipRule, build_sessions
from segue.data.splits import (
    Split,
    check_split_options,
    global_temporal,
    held_out_sessions,
    leave_last_out,
)
from segue.data.vocab import TrackVocab

CATALOGUES = ("train", "log")
"""What :func:`prepare_data` may rank: the tracks learned from, or every track of the log."""

SPLITS: dict[str, Callable[..., Split]] = {
    "leave_last_out": leave_last_out,
    "global_temporal": global_temporal,
    "held_out_sessions": held_out_sessions,
}


@dataclass(frozen=True)
class SessionOptions:
    """Arguments of :func:`segue.build_sessions` (see there); plain values, stored in checkpoints.

    Types are checked here; values (a ``gap`` that does not parse...) by ``build_sessions``.
    """

    gap: str = "30min"
    skip_min_ms: int | None = 30_000
    skip_min_fraction: float | None = None
    drop_skips: bool = False
    collapse_repeats: bool = False
    max_length: int | None = None
    min_length: int = 1
    source_session_column: str | None = None

    def __post_init__(self) -> None:
        check_field_types(self)

    def apply(self, log: EventLog | pd.DataFrame) -> EventLog:
        return build_sessions(
            log,
            self.gap,
            skip_rule=SkipRule(self.skip_min_ms, self.skip_min_fraction),
            drop_skips=self.drop_skips,
            collapse_repeats=self.collapse_repeats,
            max_length=self.max_length,
            min_length=self.min_length,
            source_session_column=self.source_session_column,
        )


@dataclass
class PreparedData:
    """Everything a run needs, derived from one event log.

    Args:
        split: Events with folds and prediction points.
        vocab: Vocabulary of the training fold.
        train: Training windows over the train fold.
        validation: Validation prediction points (history = all earlier events of the user).
        test: Test prediction points.
        encoded: All events encoded per user (what the prediction points read).
        reports: Every stage's report, oldest first.
    """

    split: Split
    vocab: TrackVocab
    train: TrainingSequences
    validation: PredictionSequences
    test: PredictionSequences
    encoded: EncodedEvents
    reports: list[Report] = field(default_factory=list)

    def training_sequences(self, by: str = "user") -> list[np.ndarray]:
        """Train-fold plays as index arrays, one per user or per session, for the baselines.

        Skipped plays and tracks outside the vocabulary are left out: baselines learn from what
        listeners chose to hear, as the transformer's targets do.
        """
        train = self.split.train
        column = Columns.USER if by == "user" else Columns.SESSION
        tracks = self.vocab.encode(train[Columns.TRACK].to_numpy())
        keep = (tracks > 0) & ~train[Columns.IS_SKIP].to_numpy(dtype=bool)
        groups = pd.factorize(train[column])[0][keep]
        tracks = tracks[keep]
        bounds = np.r_[0, np.flatnonzero(np.diff(groups)) + 1, len(groups)]
        return [tracks[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    def points(self, fold: str) -> PredictionSequences:
        check_choice("fold", fold, [VALIDATION, TEST])  # anything else once meant test
        return self.validation if fold == VALIDATION else self.test

    def summary(self) -> str:
        return "\n".join(str(r) for r in self.reports)


def prepare_data(
    log: EventLog | pd.DataFrame,
    *,
    sessions: SessionOptions | None = None,
    split: str = "leave_last_out",
    split_options: dict[str, Any] | None = None,
    min_count: int = 1,
    max_len: int = 200,
    train_by: str = "user",
    causal: bool = True,
    side: SideInputs | None = None,
    catalogue: str = "train",
) -> PreparedData:
    """Sessionise, split, build the vocabulary on train, and encode the datasets.

    Args:
        log: The event log (from :func:`segue.read_log` or the synthetic generator).
        sessions: Sessionisation options (defaults: 30 min gap, skips below 30 s kept as skips).
        split: "leave_last_out", "global_temporal" or "held_out_sessions".
        split_options: Keyword arguments of the split function.
        min_count: Tracks played fewer times in train are left out of the vocabulary (counted).
        max_len: Length of model inputs.
        train_by: "user" (one history per user) or "session" (sessions as separate sequences).
        causal: Windows for the causal objective (else for the masked one).
        side: Side inputs the batches carry (default: none).
        catalogue: The tracks a model can rank. "train": those the vocabulary learned from
            (played in train, at least ``min_count`` times). "log": those plus every track of
            the validation and test folds that they lack, with 0 plays: never a training
            target, but rankable when a listener's history holds it (a replayed new track).
    """
    # Every setting is checked before the log is touched: sessionising a large log takes a while.
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be True or False, got {causal!r}")
    if side is not None and not isinstance(side, SideInputs):
        raise TypeError(f"side must be SideInputs or None, got {type(side).__name__}")
    side = side or SideInputs()
    check_choice("split", split, sorted(SPLITS))
    check_integer("min_count", min_count, minimum=1)
    check_integer("max_len", max_len, minimum=1 if causal else 2)
    check_choice("train_by", train_by, ["user", "session"])
    check_choice("catalogue", catalogue, CATALOGUES)
    if sessions is not None and not isinstance(sessions, SessionOptions):
        raise TypeError(f"sessions must be SessionOptions, got {type(sessions).__name__}")
    if split_options is not None and not isinstance(split_options, dict):
        raise TypeError(f"split_options must be a dict, got {type(split_options).__name__}")
    check_split_options(split, split_options)
    reports = list(log.reports) if isinstance(log, EventLog) else []
    sessionised = (sessions or SessionOptions()).apply(log)
    reports.append(sessionised.report)
    the_split = SPLITS[split](sessionised, **(split_options or {}))
    reports.append(the_split.report)
    train_events = the_split.train
    if len(train_events) == 0:
        raise DataError(
            f"the {split} split left no training events ({the_split.report.stats}); "
            "give the log a longer time span or change the split options"
        )
    vocab, vocab_report = TrackVocab.build(train_events, min_count=min_count)
    reports.append(vocab_report)
    if vocab.n_tracks == 0:
        most = int(train_events[Columns.TRACK].value_counts().max())
        raise DataError(
            f"min_count={min_count} leaves no track in the vocabulary: the most played track "
            f"of the training fold has {most} plays"
        )
    kept_train, filter_report = vocab.filter_events(train_events)
    reports.append(filter_report)
    if catalogue == "log":  # after the filter: the added tracks' train plays stay unlearned
        later = the_split.events[the_split.events[Columns.FOLD] != TRAIN]
        vocab, catalogue_report = vocab.extended(later)
        reports.append(catalogue_report)

    train_encoded = encode_events(kept_train, vocab, by=train_by)
    train = TrainingSequences(train_encoded, max_len, causal=causal, side=side)
    encoded = encode_events(the_split.events, vocab, by="user")
    # The masked model appends a [MASK] after the history, so it reads one event less.
    history_len = max_len if causal else max_len - 1
    folds = {}
    for fold in (VALIDATION, TEST):
        rows = np.flatnonzero(
            ((the_split.events[Columns.FOLD] == fold) & the_split.events["is_point"]).to_numpy()
        )
        targets = vocab.encode(the_split.events[Columns.TRACK].to_numpy()[rows])
        folds[fold] = PredictionSequences(encoded, rows, targets, history_len, side)
    return PreparedData(
        split=the_split,
        vocab=vocab,
        train=train,
        validation=folds[VALIDATION],
        test=folds[TEST],
        encoded=encoded,
        reports=reports,
    )
