"""Row accounting for every data stage: rows in = rows kept + rows dropped, by reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Report:
    """What one stage (a reader, sessionisation, a vocabulary filter, a split) did to the rows.

    Args:
        stage: Name of the stage, e.g. ``"read spotify_extended"`` or ``"sessions"``.
        rows_in: Rows the stage received (for a reader: data rows in the files).
        rows_kept: Rows the stage passed on.
        dropped: Rows removed, by reason. Every removal has a reason.
        sources: Files the stage read, where it read files.
        stats: Other figures worth printing (sessions built, users, tracks...).

    >>> r = Report("demo", rows_in=10, rows_kept=7, dropped={"podcast episode": 3})
    >>> r.check() is r
    True
    >>> Report("bad", rows_in=10, rows_kept=9).check()
    Traceback (most recent call last):
    ...
    AssertionError: bad: 10 rows in but 9 kept + 0 dropped
    """

    stage: str
    rows_in: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: str, count: int) -> None:
        """Record ``count`` rows removed for ``reason`` (zero counts are not recorded)."""
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def check(self) -> Report:
        """Assert the accounting identity; every stage calls this before returning."""
        assert self.rows_in == self.rows_kept + self.rows_dropped, (
            f"{self.stage}: {self.rows_in} rows in but {self.rows_kept} kept + "
            f"{self.rows_dropped} dropped"
        )
        return self

    def merge(self, other: Report) -> Report:
        """Combine two reports of the same stage over different inputs (e.g. two files)."""
        merged = Report(
            self.stage,
            self.rows_in + other.rows_in,
            self.rows_kept + other.rows_kept,
            dict(self.dropped),
            self.sources + other.sources,
            {**self.stats, **other.stats},
        )
        for reason, count in other.dropped.items():
            merged.drop(reason, count)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "sources": list(self.sources),
            "stats": dict(self.stats),
        }

    def __str__(self) -> str:
        lines = [f"{self.stage}: {self.rows_in:,} rows in, {self.rows_kept:,} kept"]
        for reason, count in sorted(self.dropped.items(), key=lambda kv: -kv[1]):
            lines.append(f"  dropped {count:,}: {reason}")
        for key, value in self.stats.items():
            shown = f"{value:,}" if isinstance(value, int) else str(value)
            lines.append(f"  {key}: {shown}")
        return "\n".join(lines)
