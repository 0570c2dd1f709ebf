"""The bounded walk over plain data read from files: order, depth, budget, short messages."""

from __future__ import annotations

import time

import pytest

from segue.data.settings import check_plain
from segue.io.plain_data import MAX_PLAIN_DEPTH, MAX_PLAIN_NODES, plain_nodes


def _shared(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = [value, value]
    return value


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


def test_every_value_is_visited_in_order_with_where_it_is():
    got = list(plain_nodes("o", {"a": [1, (2, 3)], "b": {}}))
    assert [where for where, _ in got] == [
        "o",
        "o.a",
        "o.a[0]",
        "o.a[1]",
        "o.a[1][0]",
        "o.a[1][1]",
        "o.b",
    ]


def test_nesting_at_the_limit_is_walked_and_past_it_refused():
    list(plain_nodes("o", _nested(MAX_PLAIN_DEPTH // 2)))  # 100 containers: the limit
    with pytest.raises(ValueError, match="nested more than 100"):
        list(plain_nodes("o", [_nested(MAX_PLAIN_DEPTH // 2)]))  # one more
    with pytest.raises(ValueError, match="nested more than 100 containers deep") as caught:
        list(plain_nodes("o", _nested(200_000)))  # no RecursionError: the walk is iterative
    assert len(str(caught.value)) < 200  # where it is, cut short


def test_shared_lists_are_refused_after_the_budget_not_walked_for_ever():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"more than {MAX_PLAIN_NODES:,} values"):
        list(plain_nodes("o", _shared(60)))  # 2**60 values, 60 lists in memory
    assert time.perf_counter() - start < 10
    assert len(list(plain_nodes("o", _shared(10)))) == 2**11 - 1  # small sharing is fine


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (_nested(200_000), ValueError, "nested more than 100"),
        (_shared(60), ValueError, "more than 100,000 values"),
        ({"a": [{"_target_": "os.system"}]}, ValueError, r"o.a\[0\]._target_: keys starting"),
        ({"a": [{1: 2}]}, TypeError, r"o.a\[0\]: keys must be strings"),
        ({"a": (1, 2)}, TypeError, "o.a must be plain data"),
        ({"a": [float("nan")]}, ValueError, r"o.a\[0\] must be finite"),
    ],
)
def test_check_plain_names_the_first_value_at_fault(value, error, match):
    with pytest.raises(error, match=match):
        check_plain("o", value)


def test_check_plain_accepts_plain_data():
    check_plain("o", {"source": ["a.csv", "b.csv"], "columns": {"user_id": "u"}, "n": 1.5})
