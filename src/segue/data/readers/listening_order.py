"""Files written newest first, turned round so that plays at equal times keep listening order.

lastfm-to-csv (like Last.fm-1K and the Last.fm API's pages) lists the newest play first, at
minute precision. The read's final sort is stable, so plays at equal times keep file order,
which in a newest-first file is the reverse of the order they were played in: two songs in
one minute would come out swapped. A file whose times never increase within a user, and
decrease at least once, is therefore reversed before files are combined; oldest-first files,
and files in no order, keep their order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segue.columns import Columns


def in_listening_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (one file's rows, users assigned) reversed when it is written newest first.

    >>> t = pd.to_datetime(["2021-01-31 20:15", "2021-01-31 20:15", "2021-01-31 20:10"])
    >>> newest_first = pd.DataFrame({"user_id": "u", "timestamp": t, "track_id": list("cba")})
    >>> in_listening_order(newest_first)["track_id"].tolist()
    ['a', 'b', 'c']
    >>> in_listening_order(newest_first.iloc[::-1])["track_id"].tolist()
    ['a', 'b', 'c']
    """
    users = pd.factorize(frame[Columns.USER])[0]
    times = frame[Columns.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    same_user = users[1:] == users[:-1]
    steps = np.diff(times)
    if (same_user & (steps > 0)).any() or not (same_user & (steps < 0)).any():
        return frame
    return frame.iloc[::-1]
