"""A checkpoint whose history-prior table was tampered with (and re-signed) is refused."""

import pandas as pd
import pytest
import torch

from segue.data.vocab import TrackVocab
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from segue.models import sasrec


def _saved(tmp_path, edit):
    model = sasrec(
        5,
        d_model=8,
        n_heads=2,
        n_layers=1,
        max_len=4,
        history_prior=True,
        prior_album=True,
        prior_artist=True,
        prior_album_entry=True,
    )
    state = {k: v.clone() for k, v in model.state_dict().items()}
    edit(state)
    vocab, _ = TrackVocab.build(pd.DataFrame({"track_id": [f"t{i}" for i in range(1, 6)]}))
    path = tmp_path / "tampered.pt"
    save_checkpoint(Checkpoint(model_config=model.config, state_dict=state, vocab=vocab), path)
    return path


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda s: s["prior.successors"].__setitem__((2, 0), 10**9), "outside 0..5"),
        (lambda s: s["prior.successors"].__setitem__((2, 0), -3), "outside 0..5"),
        (lambda s: s["prior.successor_counts"].__setitem__((1, 0), -1.0), "not finite >= 0"),
        (lambda s: s["prior.successor_counts"].__setitem__((1, 0), float("nan")), "not finite"),
        (lambda s: s["prior.album_mates"].__setitem__((3, 1), 6), "album_mates .*outside 0..5"),
        (lambda s: s["prior.album_mates"].__setitem__((3, 1), -1), "album_mates .*outside 0..5"),
        (lambda s: s["prior.artist_mates"].__setitem__((3, 1), 6), "artist_mates .*outside 0..5"),
        (lambda s: s["prior.artist_mate_plays"].__setitem__((1, 0), -2.0), "not finite >= 0"),
        (lambda s: s["prior.artist_mate_plays"].__setitem__((1, 0), float("inf")), "not finite"),
        (lambda s: s["prior.album_entry_counts"].__setitem__((2, 1), -1.0), "entry_counts .*>= 0"),
        (lambda s: s["prior.album_entry_counts"].__setitem__((2, 0), float("nan")), "not finite"),
    ],
)
def test_a_re_signed_checkpoint_with_a_bad_prior_table_is_refused(edit, named, tmp_path):
    with pytest.raises(CheckpointError, match=named):
        load_checkpoint(_saved(tmp_path, edit))


def test_an_untouched_prior_table_loads(tmp_path):
    loaded = load_checkpoint(_saved(tmp_path, lambda s: None))
    assert torch.equal(loaded.state_dict["prior.successors"], torch.zeros(6, 32, dtype=torch.long))
