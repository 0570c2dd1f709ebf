"""A bounded, iterative walk over plain data read from a file (lists, dicts and scalars).

Why bounded: a pickle (and so a ``weights_only`` checkpoint) stores a container met twice as a
two-byte reference to the first, so ``a = [a, a]`` sixty times over is a few hundred bytes on
disk but 2**60 values to a walk that follows every reference; and 200,000 nested lists are
200 kB that overflow any recursive walk (``RecursionError``). The walks over such data (the
checkpoint loader's check of data settings, :func:`segue.data.settings.check_plain`, and
``segue info``'s copy of every plain part) go through :func:`plain_nodes`, which visits at
most :data:`MAX_PLAIN_NODES` values no deeper than :data:`MAX_PLAIN_DEPTH`, and refuses the
rest with a ``ValueError`` naming where. The reload child's encoder
(:mod:`segue.serve.staging`), which must carry whole vocabularies, refuses shared containers
instead and shares only the depth limit.

This module imports nothing from segue, torch or numpy, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_PLAIN_DEPTH = 100
"""Containers nested deeper than this are refused; settings and metrics nest a few levels."""

MAX_PLAIN_NODES = 100_000
"""Values (containers and scalars, a shared container counted each time it is reached) one walk
visits at most: a few tenths of a second of Python for an adversarial file, and far above any
real data settings (tens of values) or metrics (a few thousand after hundreds of epochs)."""

MAX_NAME_CHARS = 80
"""Where a message points (``reader_options.a[0][1]...``) is cut to this many characters."""


def short(text: str, width: int = MAX_NAME_CHARS) -> str:
    """``text`` cut to ``width`` characters, the cut marked, so messages stay one short line.

    >>> short("abcdef", 4)
    'abc…'
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def plain_nodes(
    name: str,
    value: object,
    *,
    max_depth: int = MAX_PLAIN_DEPTH,
    max_nodes: int = MAX_PLAIN_NODES,
) -> Iterator[tuple[str, object]]:
    """Every value inside ``value`` (itself first, then depth first in order), with where it is.

    Lists and tuples are entered by index (``name[0]``), dicts by key (``name.key``); anything
    else is yielded and not entered. The caller checks each value's type.

    Raises:
        ValueError: Past ``max_depth`` nested containers or ``max_nodes`` values, naming where.

    >>> [where for where, _ in plain_nodes("o", {"a": [1, 2], "b": None})]
    ['o', 'o.a', 'o.a[0]', 'o.a[1]', 'o.b']
    >>> list(plain_nodes("o", [[[1]]], max_depth=2))
    Traceback (most recent call last):
    ValueError: o[0][0]: nested more than 2 containers deep
    """
    stack: list[tuple[str, object, int]] = [(name, value, 0)]
    visited = 0
    while stack:
        where, item, depth = stack.pop()
        visited += 1
        if visited > max_nodes:
            raise ValueError(
                f"{short(name)}: more than {max_nodes:,} values (shared or repeated "
                "containers count each time they are reached)"
            )
        yield where, item
        if isinstance(item, (list, tuple, dict)) and item:
            if depth >= max_depth:
                raise ValueError(f"{short(where)}: nested more than {max_depth} containers deep")
            if isinstance(item, dict):
                children = [(f"{where}.{key}", child) for key, child in item.items()]
            else:
                children = [(f"{where}[{i}]", child) for i, child in enumerate(item)]
            stack.extend((w, child, depth + 1) for w, child in reversed(children))
