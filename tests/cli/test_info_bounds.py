"""``segue info`` on hostile files: deep or shared values and pickles, refused in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tests.adversarial.conftest import Canary, nested_lists, shared_lists


def _with(checkpoint: Path, out: Path, part: str, value: object) -> Path:
    values = torch.load(checkpoint, weights_only=True)
    values[part] = value
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # torch.save recurses once per nested list
    try:
        torch.save(values, out)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_shared_metrics_are_a_damaged_artefact_not_a_walk_for_ever(segue, artefacts, tmp_path):
    path = _with(artefacts["checkpoint"], tmp_path / "dag.pt", "metrics", {"x": shared_lists(60)})
    result = segue("info", path)
    assert result.code == 1 and "damaged segue artefact: metrics: more than 100,000" in result.err


def test_deep_data_settings_are_a_damaged_artefact(segue, artefacts, tmp_path):
    deep = {"reader_options": {"n": nested_lists(3000)}}
    path = _with(artefacts["checkpoint"], tmp_path / "deep.pt", "data_settings", deep)
    result = segue("info", path)
    assert result.code == 1 and "nested more than 100 containers deep" in result.err
    assert len(result.err) < 400


def test_a_deep_bundle_json_is_a_damaged_artefact(segue, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text("[" * 200_000 + "]" * 200_000)
    result = segue("info", bundle)
    assert result.code == 1 and "bundle.json is a damaged segue artefact: nested too deeply" in (
        result.err
    )


def test_pickled_objects_are_refused_in_the_loader_words(segue, tmp_path):
    path, canary = tmp_path / "evil.pt", tmp_path / "canary"
    torch.save({"format": "segue-checkpoint", "x": Canary(canary)}, path)
    result = segue("info", path)
    assert result.code == 1
    assert "refused: it holds pickled objects, which could run code" in result.err
    assert "weights_only" not in result.err  # torch's advice to turn the protection off
    assert not canary.exists()
