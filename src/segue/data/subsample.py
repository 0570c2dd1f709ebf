"""A smaller log with the same shape: whole listeners, chosen without bias, up to an event cap.

Used by quick runs (``debug=default`` caps any data group) so that a log of any source and size
can be tried in seconds. Listeners are kept whole, since splits and sessions need each user's
history from the start, and taken in the order of a hash of their id: a fixed pseudo-random
order that does not depend on the file's order or on which other users are present.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segue.checks import check_integer
from segue.columns import Columns
from segue.data.event_log import EventLog
from segue.data.report import Report


def cap_events(log: EventLog, max_events: int) -> EventLog:
    """At most ``max_events`` events: whole users in hash order while they fit.

    When even the first user in that order has more than ``max_events`` events (one listener's
    export), that user's most recent ``max_events`` events are kept. What is left out is counted.

    >>> from segue.data.synthetic import generate_listening_log
    >>> small = cap_events(generate_listening_log(n_users=20, n_events=2000, seed=0), 500)
    >>> len(small) <= 500, small.report.stage
    (True, 'event cap')
    """
    check_integer("max_events", max_events, minimum=1)
    events = log.events
    report = Report("event cap", rows_in=len(events), rows_kept=0)
    if len(events) <= max_events:
        report.rows_kept = len(events)
        return EventLog(events, [*log.reports, report.check()])
    users = events[Columns.USER]
    sizes = users.value_counts(sort=False)
    order = np.argsort(pd.util.hash_array(sizes.index.astype(str).to_numpy()), kind="stable")
    ordered = sizes.iloc[order]
    fits = ordered.cumsum().to_numpy() <= max_events
    if fits.any():
        chosen = set(ordered.index[fits])
        kept = events[users.isin(chosen).to_numpy()]
        report.drop("user beyond max_events", len(events) - len(kept))
        report.stats["users kept"] = len(chosen)
    else:
        first = events[(users == ordered.index[0]).to_numpy()]
        kept = first.sort_values(Columns.TIMESTAMP, kind="stable").iloc[-max_events:]
        report.drop("user beyond max_events", len(events) - len(first))
        report.drop("older event beyond max_events", len(first) - len(kept))
        report.stats["users kept"] = 1
    report.rows_kept = len(kept)
    return EventLog(kept.reset_index(drop=True), [*log.reports, report.check()])
