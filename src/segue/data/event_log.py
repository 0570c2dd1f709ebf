"""An event log: canonical events plus the reports of how they were obtained."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from segue.data.report import Report


@dataclass
class EventLog:
    """Events in canonical columns (see :class:`segue.columns.Columns`) and their reports.

    ``events`` is sorted by user, then timestamp, with ties kept in file order; after the
    canonical columns come the readers' extras (``track_key``, ``source_track_id``, ``source``,
    MBIDs... see :class:`segue.data.readers.extra_columns.Extra`). ``reports`` lists one
    :class:`Report` per stage applied so far, oldest first; logs read separately merge with
    :func:`segue.concat_logs`.
    """

    events: pd.DataFrame
    reports: list[Report] = field(default_factory=list)

    @property
    def report(self) -> Report:
        """The latest stage's report."""
        return self.reports[-1]

    def __len__(self) -> int:
        return len(self.events)

    def summary(self) -> str:
        return "\n".join(str(r) for r in self.reports)
