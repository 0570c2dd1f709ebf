"""Damage found anywhere -- detection, a later record, a .zip member -- is a DataError naming
the file, never a parser's own exception; .zip bombs are refused before they fill memory."""

import json
import zipfile

import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log, sources

RECORD = {"endTime": "2023-01-05 14:03", "artistName": "A", "trackName": "T", "msPlayed": 1000}
DEEP = "[" * 100_000 + "]" * 100_000


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("name", "text", "row"),
    [
        ("deep.json", DEEP, None),  # found by format detection
        ("StreamingHistory_music_0.json", f"[{json.dumps(RECORD)}, {DEEP}]", None),
        ("listens.jsonl", '{"listened_at": 1, "track_metadata": {}}\n' + DEEP + "\n", 1),
    ],
)
def test_deeply_nested_json_is_a_data_error(tmp_path, name, text, row):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match="nested too deeply") as error:
        read_log(path)
    assert (error.value.file, error.value.row) == (str(path), row)


@pytest.mark.parametrize(
    ("name", "text"),
    [("Userdata.json", DEEP), ("YourLibrary.json", DEEP), ("YourLibrary.json", '{"shows": 5}')],
)
def test_a_broken_userdata_or_library_is_passed_over(tmp_path, name, text):
    (tmp_path / "StreamingHistory0.json").write_text(json.dumps([RECORD]))
    (tmp_path / name).write_text(text)
    assert read_log(tmp_path).report.rows_kept == 1


def _damage(path, old, new):
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))


def test_a_member_with_a_bad_crc_is_a_data_error(tmp_path):
    path = _zip(tmp_path / "export.zip", {"StreamingHistory0.json": json.dumps([RECORD])})
    _damage(path, b"2023-01-05", b"2923-01-05")
    with pytest.raises(DataError, match="Bad CRC-32") as error:
        read_log(path)
    assert error.value.file == f"{path}/StreamingHistory0.json"


def test_damaged_deflate_data_is_a_data_error(tmp_path):
    text = json.dumps([RECORD] * 200)
    path = _zip(tmp_path / "export.zip", {"StreamingHistory0.json": text}, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename)
    data[start : start + 8] = b"\xff" * 8  # the deflate stream's first block header
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="damaged compressed data") as error:
        read_log(path)
    assert str(path) in str(error.value.file)


def _padded(size):
    """One account-data record padded with spaces to ``size`` bytes: packs over 1000:1."""
    head = "[" + json.dumps(RECORD)
    return head + " " * (size - len(head) - 1) + "]"


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RATIO_FROM_BYTES", 1 << 16)
    member = "Spotify Account Data/StreamingHistory_music_0.json"
    path = _zip(tmp_path / "bomb.zip", {member: _padded(4 << 20)}, zipfile.ZIP_DEFLATED)
    with pytest.raises(DataError, match=r"possible \.zip bomb") as error:
        read_log(path)
    assert error.value.file == str(path) and repr(member) in str(error.value)


def test_the_read_itself_is_capped_whatever_the_header_says(tmp_path, monkeypatch):
    # The listing trusts the declared size; the read counts the bytes that come out.
    path = _zip(tmp_path / "big.zip", {"StreamingHistory0.json": _padded(2 << 20)})
    (member,) = sources.expand(path)
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1 << 20)
    with pytest.raises(DataError, match="more than 1,048,576 bytes"):
        member.readable()


def test_real_sized_members_read(tmp_path):
    text = json.dumps([RECORD] * 2000, indent=4)  # indented JSON packs about 30:1 at most
    path = _zip(tmp_path / "export.zip", {"StreamingHistory0.json": text}, zipfile.ZIP_DEFLATED)
    assert read_log(path).report.rows_in == 2000
