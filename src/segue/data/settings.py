"""The data settings of a run, stored inside its checkpoint, and the one way to prepare data.

A checkpoint is shared and downloaded, so what it says about its data must be *data*: a reader
chosen by name from :data:`READERS` (segue's own readers, nothing else) and that reader's plain
options, never a ``_target_`` to import or a callable. :class:`DataSettings` holds everything
:func:`segue.prepare_data` needs; it travels as the plain dict of :meth:`DataSettings.to_dict`
(versioned, JSON-able), and :meth:`DataSettings.from_dict` refuses unknown keys, wrong types,
unknown readers and non-plain options with an error naming the key.

:func:`prepare_from_settings` is the "data recipe": training, evaluation, export benchmarks and
notebooks all prepare a run's data through it, so they see the same split and vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from segue.checks import check_choice, check_field_types, check_integer
from segue.data.event_log import EventLog
from segue.data.pipeline import CATALOGUES, SPLITS, PreparedData, SessionOptions, prepare_data
from segue.data.readers import read_log
from segue.data.sequences import SideInputs
from segue.data.sessions import SkipRule, check_session_settings
from segue.data.splits import check_split_options
from segue.data.subsample import cap_events
from segue.data.synthetic import SyntheticConfig, generate_listening_log
from segue.io.plain_data import plain_nodes, short
from segue.models.config import ModelConfig

SETTINGS_VERSION = 2
"""Version of :meth:`DataSettings.to_dict`; bump it when a field changes meaning. Version 2
added ``catalogue``; version 1 settings read as ``catalogue="train"``, what they did."""

READERS: dict[str, Callable[..., EventLog]] = {
    "read_log": read_log,
    "synthetic": generate_listening_log,
}
"""The only functions data settings can name: files in any known format, or the generator."""

GROUP_KEYS = (
    "name",
    "source",
    "sessions",
    "split",
    "split_options",
    "min_count",
    "train_by",
    "exclude_seen",
    "max_events",
    "catalogue",
)
"""Keys of a data config group that :func:`settings_from_group` reads; the others (``path``,
``columns``, ``user``) only feed interpolations."""

MAX_SYNTHETIC_EVENTS = 100_000_000
"""The most events stored settings may ask the generator for: ~21 GB of memory (measured at
~210 MB per million events). A larger claim in a downloaded checkpoint is refused, not drawn."""

SYNTHETIC_OPTIONS = tuple(f.name for f in dataclasses.fields(SyntheticConfig) if f.name != "habits")
"""Options of the ``synthetic`` reader: the scalar fields of :class:`SyntheticConfig`."""


@dataclass(frozen=True)
class DataSettings:
    """How a run read and prepared its data: plain values only (see the module docstring).

    Args:
        name: The data group's name (``movielens_100k``, ``synthetic``...), for reports.
        reader: A key of :data:`READERS`.
        reader_options: Keyword arguments of the reader: strings, numbers, booleans, None, and
            lists / dicts of those (e.g. ``{"source": "u.data", "format": "movielens"}``).
        sessions: Sessionisation options.
        split: A key of :data:`segue.data.pipeline.SPLITS`.
        split_options: Keyword arguments of the split (plain values).
        min_count: Tracks played fewer times in train are left out of the vocabulary.
        max_len: Length of model inputs (the model's ``max_len``).
        train_by: "user" or "session": what a training sequence is.
        exclude_seen: Whether evaluation leaves out tracks the user already played.
        causal: Windows for the causal objective, else for the masked one.
        side: Side inputs the batches carry (the model's).
        max_events: Keep at most this many events, whole users chosen by a hash of their id
            (:func:`segue.data.subsample.cap_events`); None keeps all. What quick runs
            (``debug=default``) use to shrink any data group.
        catalogue: "train" (rank the tracks learned from) or "log" (also the tracks first
            heard in validation or test, with 0 plays): see :func:`segue.data.prepare_data`.
    """

    name: str
    reader: str
    reader_options: dict[str, Any] = field(default_factory=dict)
    sessions: SessionOptions = field(default_factory=SessionOptions)
    split: str = "leave_last_out"
    split_options: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_len: int = 200
    train_by: Literal["user", "session"] = "user"
    exclude_seen: bool = False
    causal: bool = True
    side: SideInputs = field(default_factory=SideInputs)
    max_events: int | None = None
    catalogue: str = "train"

    def __post_init__(self) -> None:
        check_field_types(self)
        check_choice("reader", self.reader, READERS)
        check_choice("split", self.split, SPLITS)
        check_integer("min_count", self.min_count, minimum=1)
        check_choice("catalogue", self.catalogue, CATALOGUES)
        check_integer("max_len", self.max_len, minimum=1 if self.causal else 2)
        if self.max_events is not None:
            check_integer("max_events", self.max_events, minimum=1)
        if not isinstance(self.sessions, SessionOptions):
            raise TypeError(f"sessions must be SessionOptions, got {type(self.sessions).__name__}")
        if not isinstance(self.side, SideInputs):
            raise TypeError(f"side must be SideInputs, got {type(self.side).__name__}")
        check_plain("reader_options", self.reader_options)
        check_plain("split_options", self.split_options)
        # Values too, so stored settings fail here, not after their log has been read.
        check_split_options(self.split, self.split_options)
        rule = SkipRule(self.sessions.skip_min_ms, self.sessions.skip_min_fraction)
        check_session_settings(
            self.sessions.gap, rule, self.sessions.max_length, self.sessions.min_length
        )
        if self.reader == "synthetic":
            _check_synthetic_options(self.reader_options)
        else:
            _check_read_log_options(self.reader_options)

    def for_model(self, config: ModelConfig) -> DataSettings:
        """These settings with the sequence settings of a model: max_len, objective, inputs."""
        return dataclasses.replace(
            self,
            max_len=config.max_len,
            causal=config.objective == "causal",
            side=SideInputs.of_model(config),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with a ``version``, safe in a ``weights_only`` checkpoint.

        >>> options = {"n_users": 6, "n_events": 600}
        >>> DataSettings("s", "synthetic", options).to_dict()["reader_options"]
        {'n_users': 6, 'n_events': 600}
        """
        return {"version": SETTINGS_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DataSettings:
        """Inverse of :meth:`to_dict`, strict: every key present, none unknown, plain values.

        Raises:
            ValueError: Naming an unknown or missing key, an unknown reader or split, or a
                version this segue cannot read.
            TypeError: Naming a key whose value has the wrong type.

        >>> DataSettings.from_dict({**DataSettings("s", "synthetic").to_dict(), "x": 1})
        Traceback (most recent call last):
        ValueError: data settings: unknown key(s) ['x']
        """
        if isinstance(values, Mapping) and values.get("version") == 1 and "catalogue" not in values:
            values = {**values, "version": SETTINGS_VERSION, "catalogue": "train"}  # before it
        values = dict(_checked_keys("data settings", values, cls, extra=("version",)))
        version = values.pop("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError(f"data settings: version must be an integer, got {version!r}")
        if version != SETTINGS_VERSION:
            raise ValueError(
                f"data settings: version {version} is not readable (this segue reads "
                f"{SETTINGS_VERSION})"
            )
        sessions = _checked_keys("data settings: sessions", values["sessions"], SessionOptions)
        side = _checked_keys("data settings: side", values["side"], SideInputs)
        for key, flag in side.items():
            if not isinstance(flag, bool):
                raise TypeError(f"data settings: side.{key} must be true or false, got {flag!r}")
        values["sessions"] = SessionOptions(**sessions)
        values["side"] = SideInputs(**side)
        return cls(**values)


def settings_from_group(
    group: Mapping[str, Any], *, max_len: int, causal: bool, side: SideInputs
) -> DataSettings:
    """Data settings from a data config group (``configs/data/*.yaml``, resolved, as a dict).

    The group's ``source`` is ``{reader: <name>, <option>: <value>...}``; keys of the group
    that only feed interpolations (``path``, ``columns``, ``user``) are not settings.

    Args:
        group: The resolved group.
        max_len: The model's input length.
        causal: Whether the model is causal.
        side: The model's side inputs.
    """
    if not isinstance(group, Mapping):
        raise TypeError(f"the data group must be a mapping, got {type(group).__name__}")
    missing = [
        k for k in ("name", "split", "min_count", "train_by", "exclude_seen") if k not in group
    ]
    if missing:
        raise ValueError(f"the data group has no {', '.join(f'data.{k}' for k in missing)}")
    source = group.get("source") or {}
    if not isinstance(source, Mapping):
        raise TypeError(
            f"data.source must be a mapping with a reader (data.source.reader: one of "
            f"{sorted(READERS)}), got {source!r}"
        )
    source = dict(source)
    if "reader" not in source:
        raise ValueError(
            f"data.source must name a reader (data.source.reader: one of {sorted(READERS)}), "
            f"got keys {sorted(source)}"
        )
    reader = source.pop("reader")
    sessions = _checked_keys(
        "data.sessions", group.get("sessions") or {}, SessionOptions, all_=False
    )
    return DataSettings(
        name=group["name"],
        reader=reader,
        reader_options=source,
        sessions=SessionOptions(**sessions),
        split=group["split"],
        split_options=dict(group.get("split_options") or {}),
        min_count=group["min_count"],
        max_len=max_len,
        train_by=group["train_by"],
        exclude_seen=group["exclude_seen"],
        causal=causal,
        side=side,
        max_events=group.get("max_events"),
        catalogue=group.get("catalogue", "train"),
    )


def read_from_settings(settings: DataSettings) -> EventLog:
    """The event log, read by the named reader of :data:`READERS` with the stored options."""
    if not isinstance(settings, DataSettings):
        raise TypeError(f"settings must be DataSettings, got {type(settings).__name__}")
    log = READERS[settings.reader](**settings.reader_options)
    return log if settings.max_events is None else cap_events(log, settings.max_events)


def prepare_from_settings(settings: DataSettings) -> PreparedData:
    """Read and prepare the data exactly as ``settings`` say: the data recipe of a run."""
    return prepare_data(
        read_from_settings(settings),
        sessions=settings.sessions,
        split=settings.split,
        split_options=dict(settings.split_options),
        min_count=settings.min_count,
        max_len=settings.max_len,
        train_by=settings.train_by,
        causal=settings.causal,
        side=settings.side,
        catalogue=settings.catalogue,
    )


def _check_synthetic_options(options: Mapping[str, Any]) -> None:
    """Names, types and values of the synthetic reader's options, before anything is drawn."""
    unknown = sorted(set(options) - set(SYNTHETIC_OPTIONS))
    if unknown:
        raise ValueError(
            f"reader_options {unknown} are not options of the synthetic reader; "
            f"choose from {list(SYNTHETIC_OPTIONS)}"
        )
    try:
        config = SyntheticConfig(**options)
        check_field_types(config)
        config.validate()
    except (TypeError, ValueError) as error:
        raise type(error)(f"reader_options: {error}") from None
    if config.n_events > MAX_SYNTHETIC_EVENTS:
        raise ValueError(
            f"reader_options.n_events must be at most {MAX_SYNTHETIC_EVENTS:,}, got "
            f"{config.n_events:,}"
        )


def _check_read_log_options(options: Mapping[str, Any]) -> None:
    """``read_log``'s source: a path or a list of paths (its other options are the format's)."""
    source = options.get("source")
    if source is None:
        raise ValueError("reader_options of read_log need a 'source' (file, folder or .zip)")
    paths = source if isinstance(source, list) else [source]
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise TypeError(f"reader_options.source must be a path or a list of paths, got {source!r}")


def check_plain(name: str, value: object) -> None:
    """A ``TypeError`` naming the first value in ``value`` that is not plain JSON data.

    Plain: str, int, float (finite), bool, None, and lists / str-keyed dicts of those. Keys
    starting with ``_`` (``_target_``, ``_partial_``) are refused: nothing names code. The walk
    is iterative and bounded (:func:`segue.io.plain_data.plain_nodes`): data nested too deep, or
    whose shared lists (a pickle stores them once) would take too long to visit, is a
    ``ValueError`` rather than a ``RecursionError`` or a walk that never ends.

    >>> check_plain("options", {"source": "a.csv", "columns": {"user_id": "u"}})
    >>> check_plain("options", {"_target_": "os.system"})
    Traceback (most recent call last):
    ValueError: options._target_: keys starting with '_' are not allowed (nothing names code)
    """
    for where, item in plain_nodes(name, value):
        if item is None or isinstance(item, (str, bool, int, list)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{short(where)} must be finite, got {item}")
            continue
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise TypeError(f"{short(where)}: keys must be strings, got {short(repr(key))}")
                if key.startswith("_"):
                    raise ValueError(
                        f"{short(where)}.{short(key)}: keys starting with '_' are not allowed "
                        "(nothing names code)"
                    )
            continue
        raise TypeError(
            f"{short(where)} must be plain data (str, number, bool, null, list, dict), got "
            f"{type(item).__name__}"
        )


def _checked_keys(
    where: str, values: object, cls: type, *, extra: tuple[str, ...] = (), all_: bool = True
) -> dict[str, Any]:
    """``values`` as a dict whose keys are ``cls``'s fields (all of them when ``all_``)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)} | set(extra)
    unknown = sorted(str(k) for k in set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    missing = sorted(known - set(values))
    if all_ and missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    return dict(values)
