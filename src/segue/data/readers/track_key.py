"""A track id from names, for sources without one: normalised ``artist|track``."""

from __future__ import annotations

import pandas as pd


def normalise(names: pd.Series) -> pd.Series:
    """Fold the ways one name is written into one: NFKC, casefold, trimmed, single spaces.

    NFKC first, so that full-width and compatibility characters (common in Japanese titles) fold to
    their plain forms before casefolding.

    >>> normalise(pd.Series(["  Sigur  Rós ", "ＢＥＹＯＮＣÉ", None])).tolist()
    ['sigur rós', 'beyoncé', <NA>]
    """
    text = names.astype("string").str.normalize("NFKC").str.casefold()
    return text.str.strip().str.replace(r"\s+", " ", regex=True)


def track_key(artist: pd.Series, track: pd.Series) -> pd.Series:
    """``artist|track`` from normalised names; null where the track name is missing or blank.

    A missing artist gives an empty artist part, so the key still names the track.

    >>> track_key(pd.Series(["Sigur Rós", None, "x"]), pd.Series(["Svefn-g-englar", "Intro", " "]))
    0    sigur rós|svefn-g-englar
    1                      |intro
    2                        <NA>
    dtype: string
    """
    name = normalise(track)
    name = name.mask(name == "")
    return normalise(artist).fillna("") + "|" + name
