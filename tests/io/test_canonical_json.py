"""Canonical JSON in pieces: the pieces join to exactly ``json.dumps``'s canonical text, so a
digest of them is the digest checkpoints already store."""

from __future__ import annotations

import hashlib
import json
import math
import random

import pytest
import torch

from segue.io.canonical_json import canonical_pieces, dumps
from segue.io.safe_load import content_digest


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _random_value(rng: random.Random, depth: int = 0):
    leaves = [
        lambda: rng.randint(-(10**12), 10**12),
        lambda: rng.random() * 10 ** rng.randint(-5, 20),
        lambda: rng.choice(["", "é", 'a"b\\c', "\n\t", "日本", "\u2028", "x" * 40]),
        lambda: rng.choice([None, True, False, math.inf, -math.inf]),
    ]
    if depth > 3 or rng.random() < 0.4:
        return rng.choice(leaves)()
    kind = rng.randrange(3)
    size = rng.choice([0, 1, 2, 3, 4, 7, 20])
    if kind == 0:
        return {
            rng.choice(["b", "a", "é", "A", "", "z1", "z10"]) + str(i): _random_value(
                rng, depth + 1
            )
            for i in range(size)
        }
    items = [_random_value(rng, depth + 1) for _ in range(size)]
    return items if kind == 1 else tuple(items)


@pytest.mark.parametrize("rows", [1, 2, 3, 4096])
def test_the_pieces_join_to_the_canonical_text(rows):
    rng = random.Random(rows)
    for _ in range(300):
        value = _random_value(rng)
        assert "".join(canonical_pieces(value, rows)) == _canonical(value) == dumps(value)


def test_long_lists_are_written_in_bounded_pieces():
    vocab = {"track_ids": [f"t{i}" for i in range(10_000)], "counts": list(range(10_000))}
    pieces = list(canonical_pieces({"vocab": vocab, "n": 3}, rows=1000))
    assert "".join(pieces) == _canonical({"vocab": vocab, "n": 3})
    assert max(map(len, pieces)) <= 1000 * len('"t9999",') + 1  # 1,000 items at most
    assert len(pieces) > 20


def test_dicts_json_orders_itself_and_what_json_refuses_behave_as_json_dumps():
    mixed = {2: "b", 1: "a"}  # non-string keys: json converts and sorts them, left to it
    assert "".join(canonical_pieces({"k": mixed})) == _canonical({"k": mixed})
    with pytest.raises(TypeError):
        "".join(canonical_pieces({"k": [object()] * 5}, rows=2))
    with pytest.raises(TypeError):
        "".join(canonical_pieces({"k": {1, 2}}))


def test_the_content_digest_is_the_digest_of_the_whole_text():
    tensors = {"w": torch.arange(6, dtype=torch.float32)}
    plain = {"vocab": {"track_ids": [f"t{i}" for i in range(9000)]}, "config": {"d": 64}}
    want = hashlib.sha256()
    want.update(f"w|{torch.float32}|(6,)|".encode())
    want.update(tensors["w"].numpy().tobytes())
    want.update(_canonical(plain).encode())
    assert content_digest(tensors, plain) == want.hexdigest()
