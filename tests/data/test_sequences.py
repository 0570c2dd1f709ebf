import numpy as np
import pandas as pd
import torch

from segue.data.encoding import encode_events
from segue.data.sequences import PredictionSequences, SideInputs, TrainingSequences
from segue.data.sessions import build_sessions
from segue.data.vocab import TrackVocab
from tests.conftest import make_log


def _encoded(by="user"):
    log = make_log(
        [
            ("u", "a", 0),
            ("u", "b", 60),
            ("u", "zzz", 120),
            ("u", "c", 180),
            ("u", "d", 240),
            ("v", "a", 0),
            ("v", "c", 9000),
        ]
    )
    log["ms_played"] = pd.array([None, None, None, 10, None, None, None], dtype="Int64")
    events = build_sessions(log, gap="1h").events
    vocab, _ = TrackVocab.build(events[events.track_id != "zzz"])
    return events, vocab, encode_events(events, vocab, by=by)


def test_unknown_tracks_left_out_and_rows_mapped():
    _, vocab, enc = _encoded()
    assert vocab.decode(enc.tracks).tolist() == ["a", "b", "c", "d", "a", "c"]
    assert enc.rank_of_row.tolist() == [0, 1, 2, 2, 3, 4, 5]
    assert enc.group_start.tolist() == [0, 0, 0, 0, 4, 4]
    assert enc.event_types.tolist() == [1, 1, 2, 1, 1, 1]  # c was skipped
    assert enc.gap_buckets[0] == 1 and enc.gap_buckets[4] == 1  # first of each user


def test_causal_windows_left_padded_and_skips_never_targets():
    _, vocab, enc = _encoded()
    ds = TrainingSequences(enc, max_len=4, side=SideInputs(True, True, True))
    batch = ds.batch(np.arange(len(ds)))
    tracks = [vocab.decode(row[row > 0]).tolist() for row in batch.tracks.numpy()]
    assert tracks == [["a", "b", "c"], ["a"]]
    assert batch.tracks.shape == (2, 3)  # trimmed to the longest window
    assert batch.tracks[1, 0] == 0  # left padding
    targets = batch.targets.numpy()
    assert vocab.decode(targets[0][targets[0] > 0]).tolist() == ["b", "d"]  # c is a skip
    assert (targets[batch.tracks == 0] == 0).all()
    assert batch.artists is not None and batch.event_types.shape == (2, 3)


def test_long_histories_tile_into_windows_so_every_event_is_a_target_once():
    log = make_log([("u", str(i), i) for i in range(10)])
    events = build_sessions(log).events
    vocab, _ = TrackVocab.build(events)
    ds = TrainingSequences(encode_events(events, vocab), max_len=3)
    targets = ds.batch(np.arange(len(ds))).targets.numpy()
    predicted = sorted(vocab.decode(targets[targets > 0]).tolist(), key=int)
    assert predicted == [str(i) for i in range(1, 10)]


def test_batches_trimmed_to_their_longest_window_only():
    _, _, enc = _encoded()
    ds = TrainingSequences(enc, max_len=2)
    assert ds.batch(np.arange(len(ds))).tracks.shape[1] == 2


def test_collate_equals_vectorised_batch():
    _, _, enc = _encoded()
    ds = TrainingSequences(enc, max_len=3, causal=False, side=SideInputs(event_types=True))
    fast = ds.batch(np.arange(len(ds)))
    slow = ds.collate([ds[i] for i in range(len(ds))])
    for name in ("tracks", "event_types", "targets"):
        assert torch.equal(getattr(fast, name), getattr(slow, name))


def test_prediction_histories_are_strictly_before_the_point():
    events, vocab, enc = _encoded()
    rows = np.array([4, 6])  # u's "d", v's second "c"
    ds = PredictionSequences(enc, rows, vocab.encode(events.track_id.to_numpy()[rows]), max_len=2)
    batch = ds.batch(np.arange(2))
    assert [vocab.decode(r[r > 0]).tolist() for r in batch.tracks.numpy()] == [["b", "c"], ["a"]]
    assert vocab.decode(ds.full_history(0)).tolist() == ["a", "b", "c"]
    assert ds.targets.tolist() == vocab.encode(["d", "c"]).tolist()


def test_shuffle_ties_reorders_only_within_same_user_same_second():
    log = make_log(
        [
            ("u", "a", 0),
            ("u", "b", 5),
            ("u", "c", 5),
            ("u", "d", 5),
            ("u", "e", 9),
            ("v", "f", 5),
            ("v", "g", 5),
        ]
    )
    events = build_sessions(log).events
    vocab, _ = TrackVocab.build(events)
    enc = encode_events(events, vocab)
    assert enc.tie_group.tolist() == [0, 1, 1, 1, 2, 3, 3]
    ds = TrainingSequences(enc, max_len=10)
    seen = set()
    for seed in range(30):
        ds.shuffle_ties(seed)
        order = vocab.decode(ds.encoded.tracks).tolist()
        assert order[0] == "a" and order[4] == "e"
        assert sorted(order[1:4]) == ["b", "c", "d"] and sorted(order[5:]) == ["f", "g"]
        seen.add(tuple(order))
    assert len(seen) > 3  # orders really change
    ds.shuffle_ties(0)
    first = ds.encoded.tracks.copy()
    ds.shuffle_ties(0)
    assert np.array_equal(first, ds.encoded.tracks)  # seeded
