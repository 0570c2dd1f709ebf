"""Plays at equal times keep the order they were played in, whichever way a file is written."""

from segue.data.readers import read_log

# lastfm-to-csv: newest first, to the minute; "First" and "Second" share 20:15.
NEWEST_FIRST = [
    'C,Alb,Third,"31 Jan 2021, 20:20"',
    'B,Alb,Second,"31 Jan 2021, 20:15"',
    'A,Alb,First,"31 Jan 2021, 20:15"',
    'Z,Alb,Zero,"31 Jan 2021, 20:10"',
]
IN_ORDER = ["Zero", "First", "Second", "Third"]


def _read(tmp_path, lines):
    path = tmp_path / "lastfm.csv"
    path.write_text("\n".join(lines) + "\n")
    return read_log(path).events["track_name"].tolist()


def test_newest_first_file_breaks_ties_in_reverse_file_order(tmp_path):
    assert _read(tmp_path, NEWEST_FIRST) == IN_ORDER


def test_oldest_first_file_breaks_ties_in_file_order(tmp_path):
    assert _read(tmp_path, NEWEST_FIRST[::-1]) == IN_ORDER


def test_a_file_in_no_order_keeps_file_order_for_ties(tmp_path):
    lines = [NEWEST_FIRST[0], NEWEST_FIRST[3], NEWEST_FIRST[2], NEWEST_FIRST[1]]
    assert _read(tmp_path, lines) == ["Zero", "First", "Second", "Third"]
