"""``Recommender.load`` reads a file once, then builds what its ``format`` says it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segue.api import Recommender
from segue.compress import compress_checkpoint
from segue.io.safe_load import CheckpointError
from tests.export.conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("load")
    checkpoint = tiny_checkpoint("sasrec", folder)
    return {"float": checkpoint, "int8": compress_checkpoint(checkpoint, folder / "m.int8.pt")}


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_each_format_is_read_once(
    files: dict[str, Path], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    real_load = torch.load

    def counting_load(path: object, *args: object, **kwargs: object) -> object:
        reads.append(path)
        return real_load(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "load", counting_load)
    rec = Recommender.load(files[kind])
    assert reads == [files[kind]]
    assert len(rec.recommend(["t1", "t2"], k=5)) == 5


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_the_catalogue_is_a_view_of_the_moved_table(files: dict[str, Path], kind: str) -> None:
    """The table is moved to numpy memory (2 MB pages) once: the catalogue scores that copy,
    it is the model's own weight (nothing is held twice), and the scores are the weights'."""
    loaded = Recommender.load(files[kind])
    model, vocab = loaded.model, loaded.vocab
    before = model.track_emb.weight.detach().clone()
    rec = Recommender(model, vocab)
    weight = model.track_emb.weight
    assert rec.catalogue.embeddings.data_ptr() == weight.data_ptr()
    assert weight.untyped_storage().data_ptr() == weight.data_ptr()  # owned from its start
    assert isinstance(weight, torch.nn.Parameter) and torch.equal(weight, before)
    hidden = torch.randn(2, before.shape[1], generator=torch.Generator().manual_seed(0))
    expected = hidden @ before[: rec.catalogue.size].T
    torch.testing.assert_close(rec.catalogue.score(hidden)[:, 1:], expected[:, 1:])


def test_another_format_fails_as_a_checkpoint_naming_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else", "version": 1}, other)
    with pytest.raises(CheckpointError, match=r"other\.pt.*segue checkpoint"):
        Recommender.load(other)
    with pytest.raises(FileNotFoundError, match="no segue checkpoint"):
        Recommender.load(tmp_path / "absent.pt")
