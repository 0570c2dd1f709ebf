"""The reader settings of the data configs this package owns name real read_log options."""

import inspect

import pytest
import yaml

from segue.data.readers import FORMATS, read_log

from .conftest import REPO

# Keys of a config's ``source`` block that are no read_log option.
_NOT_OPTIONS = {"reader"}


def _source(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / "data" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", ["spotify", "csv"])
def test_every_reader_key_is_a_read_log_argument_or_format_option(name):
    group = _source(name)
    block = group.get("source") or group.get("reader") or {}
    arguments = set(inspect.signature(read_log).parameters) - {"options"}
    options = {o for f in FORMATS.values() for o in f.options}
    unknown = set(block) - _NOT_OPTIONS - arguments - options
    assert not unknown, f"configs/data/{name}.yaml: {sorted(unknown)} are not read_log options"


def test_spotify_default_never_merges_people():
    assert _source("spotify")["user"] is None  # a folder of people keeps them apart
