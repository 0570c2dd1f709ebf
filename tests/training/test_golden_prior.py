"""Golden numbers of the history-prior family, through the loop's own ``batch_loss``.

Deterministic init from the config seed, a transition table counted from fixed rows, one fixed
batch, three AdamW steps; the exact losses to 4 decimals, with the full and the sampled softmax.
Computed on 2026-12-05 when the prior was added. To recompute after a deliberate change, print
``golden_losses(name)`` and say why in the commit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.data.batch import SequenceBatch
from segue.data.vocab import TrackVocab
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table
from segue.models.builders import sasrec
from segue.training.batch_loss import batch_loss
from segue.training.losses import loss_for

N_TRACKS = 30
ROWS = torch.tensor(
    [
        [3, 7, 1, 9, 3, 7, 1, 2],
        [0, 0, 0, 14, 3, 3, 20, 11],
        [0, 0, 0, 0, 0, 27, 30, 1],
        [22, 18, 5, 7, 9, 13, 16, 24],
    ]
)
GOLDEN = {
    ("softmax", "sum"): [3.3542, 3.1814, 3.0668],
    ("sampled_softmax", "sum"): [3.424, 3.201, 3.08],
    ("softmax", "mixture"): [3.6084, 3.4685, 3.3283],  # added 2026-12-06 with the mixture
    ("sampled_softmax", "mixture"): [3.6443, 3.4632, 3.3195],
    # added 2026-12-06 with the album features (mixture, albums of five tracks, fresh 2)
    ("softmax", "mixture+album"): [3.7843, 3.6152, 3.4887],
    ("sampled_softmax", "mixture+album"): [3.8123, 3.613, 3.5085],
    # added 2026-12-06 with the artist feature (five artists, track number mod 5)
    ("softmax", "mixture+album+artist"): [3.8551, 3.6991, 3.5492],
    ("sampled_softmax", "mixture+album+artist"): [3.8737, 3.703, 3.5685],
    # added 2026-12-06 with the album_entry feature (entry counts from the same rows)
    ("softmax", "mixture+album+artist+entry"): [3.8711, 3.6764, 3.55],
    ("sampled_softmax", "mixture+album+artist+entry"): [3.888, 3.6824, 3.565],
    # added 2026-12-06 with the album_run feature (segue's default prior)
    ("softmax", "mixture+album+artist+entry+run"): [3.868, 3.7038, 3.5389],
    ("sampled_softmax", "mixture+album+artist+entry+run"): [3.8846, 3.6913, 3.5487],
}


def golden_losses(name: str, combine: str = "sum") -> list[float]:
    run = combine.endswith("+run")
    combine = combine.removesuffix("+run")
    entry = combine.endswith("+entry")
    combine = combine.removesuffix("+entry")
    artist = combine.endswith("+artist")
    combine = combine.removesuffix("+artist")
    album = combine.endswith("+album")
    combine = combine.removesuffix("+album")
    model = sasrec(
        N_TRACKS,
        d_model=16,
        n_heads=2,
        n_layers=2,
        max_len=8,
        seed=3,
        history_prior=True,
        prior_window=4,
        prior_successors=3,
        prior_combine=combine,
        prior_album=album,
        prior_album_tracks=3,
        prior_album_fresh=2,
        prior_artist=artist,
        prior_artist_tracks=3,
        prior_album_entry=entry,
        prior_album_run=run,
    )
    table_rows = np.tile(np.arange(1, N_TRACKS + 1), 3)
    model.prior.fit_table(table_rows, np.zeros_like(table_rows))
    if album:  # tracks 1-5, 6-10, ... are one album each
        ids = [f"t{i}" for i in range(N_TRACKS)]
        albums = TrackVocab(
            ids, [1] * N_TRACKS, ["x"] * N_TRACKS, [f"A{i // 5}" for i in range(N_TRACKS)]
        )
        model.prior.fit_albums(album_mates_table(albums, n_mates=3))
    if artist:  # five artists (track number mod 5), the later tracks played more
        ids = [f"t{i}" for i in range(N_TRACKS)]
        artists = TrackVocab(
            ids, list(range(1, N_TRACKS + 1)), [f"R{i % 5}" for i in range(N_TRACKS)]
        )
        model.prior.fit_artists(*artist_mates_table(artists, n_mates=3))
    if entry:  # each album's first track is entered from the previous album and goes on
        mates = model.prior.album_mates.numpy()
        model.prior.fit_album_entries(album_entry_counts(table_rows, 0 * table_rows, mates))
    loss = loss_for(name, n_tracks=N_TRACKS, n_negatives=8)
    inputs, targets = ROWS[:, :-1], ROWS[:, 1:]
    batch = SequenceBatch(inputs, targets=targets * (inputs != 0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(5)
    values = []
    for _ in range(3):
        value = batch_loss(model, model(batch), batch, loss, generator)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(round(float(value.detach()), 4))
    return values


@pytest.mark.parametrize(("name", "combine"), sorted(GOLDEN))
def test_prior_family_losses_are_the_golden_numbers(name, combine):
    torch.manual_seed(0)  # dropout draws from the global generator
    assert golden_losses(name, combine) == GOLDEN[name, combine]
