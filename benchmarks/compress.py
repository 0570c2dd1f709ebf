"""Float32 vs int8 vs ONNX: size, memory, accuracy and latency of the deployment formats.

Run: python -m benchmarks.compress --checkpoint outputs/<run>/best.pt
     python -m benchmarks.compress --checkpoint outputs/<run>/best.pt --tracks 100000 \
         --threads 1 --json compress.json

Two parts:

* **Accuracy**, on the test points of the checkpoint's own protocol (its data settings are
  stored in it): NDCG@10 of the float model, the int8 model (:mod:`segue.compress`), the ONNX
  bundle and the ONNX bundle with an int8 catalogue, and the share of points whose ONNX top-10
  list equals the float model's (same order).
* **Scale**, on untrained ``sasrec(n_tracks, d_model=64, n_layers=2, max_len=200)`` models with
  synthetic catalogues: size on disk and resident memory (RSS of a fresh process after loading
  and one request, minus the RSS after imports) of the float checkpoint, the int8 artefact and
  both bundles, and the median latency of one request with a 50-event history: the torch
  ``Recommender``, the int8 model (encode + int8 scores + top-k), and ``OnnxRecommender``.
  Latency does not depend on the weights.

The machine's load average is printed: timings on a busy machine are slower and noisier.
numpy's BLAS runs single-threaded here (``OPENBLAS_NUM_THREADS=1`` unless set): waking its
threads for one GEMV costs milliseconds on a loaded machine, more than the GEMV itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported; see above

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segue.api import Recommender
from segue.compress import int8_scores, load_int8, save_int8
from segue.compress.packed_vocab import PackedVocab
from segue.data.batch import SequenceBatch
from segue.data.sequences import PredictionSequences
from segue.data.settings import prepare_from_settings
from segue.data.vocab import TrackVocab
from segue.evaluation.ranking import target_ranks, top_k
from segue.evaluation.ranking_metrics import point_ndcg
from segue.export.onnx_export import export_onnx, write_bundle
from segue.export.runtime import OnnxRecommender
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.models import TrackTransformer, sasrec
from segue.models.mask_token import append_mask_token

REPO = Path(__file__).resolve().parents[1]
D_MODEL, N_LAYERS, MAX_LEN, HISTORY, K = 64, 2, 200, 50, 10
FORMATS = ("float", "int8", "onnx", "onnx_int8")
ScoreFn = Callable[[SequenceBatch], np.ndarray]


# --------------------------------------------------------------------------------------------
# Accuracy on a trained checkpoint


def test_points(checkpoint: Checkpoint, path: Path) -> tuple[PredictionSequences, bool]:
    """The checkpoint's test points, prepared as its training run did; and ``exclude_seen``.

    The stored data settings are plain data read through segue's own readers: nothing named
    in the checkpoint is imported or instantiated.
    """
    settings = checkpoint.require_data_settings(path)
    data = prepare_from_settings(settings)
    if data.vocab.track_ids != checkpoint.vocab.track_ids:
        raise ValueError(f"{path}: the prepared data's vocabulary differs from the checkpoint's")
    return data.test, settings.exclude_seen


def score_fns(checkpoint_path: Path, folder: Path) -> dict[str, ScoreFn]:
    """(B, V) float32 scores of a batch for each format, from the same checkpoint."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build_model()
    save_int8(model, checkpoint.vocab, folder / "model.int8.pt")
    int8 = load_int8(folder / "model.int8.pt").model
    bundles = {
        "onnx": OnnxRecommender.load(export_onnx(checkpoint_path, folder / "onnx")),
        "onnx_int8": OnnxRecommender.load(
            export_onnx(checkpoint_path, folder / "onnx_int8", int8_embeddings=True)
        ),
    }

    def onnx_fn(rec: OnnxRecommender) -> ScoreFn:
        return lambda b: rec.history_scores({n: getattr(b, n).numpy() for n in rec.inputs})

    return {  # the tracks feed a history prior, if the model has one
        "float": lambda b: model.score(model.last_hidden(b), b.tracks).numpy(),
        "int8": lambda b: int8_scores(int8, int8.last_hidden(b), b.tracks).numpy(),
        **{name: onnx_fn(rec) for name, rec in bundles.items()},
    }


@torch.no_grad()
def accuracy(checkpoint_path: Path, batch_size: int = 256) -> dict[str, Any]:
    """NDCG@10 per format and the share of points with the float model's exact top-10."""
    checkpoint = load_checkpoint(checkpoint_path)
    points, exclude_seen = test_points(checkpoint, checkpoint_path)
    config = checkpoint.model_config
    with tempfile.TemporaryDirectory() as tmp:
        fns = score_fns(checkpoint_path, Path(tmp))
        ranks: dict[str, list[np.ndarray]] = {name: [] for name in fns}
        lists: dict[str, list[np.ndarray]] = {name: [] for name in fns}
        for start in range(0, len(points), batch_size):
            idx = np.arange(start, min(start + batch_size, len(points)))
            batch = points.batch(idx)
            if config.objective == "masked":
                batch = append_mask_token(batch, config.mask_token, config.max_len)
            exclude = [points.full_history(int(i)) for i in idx] if exclude_seen else None
            for name, fn in fns.items():
                scores = fn(batch)
                ranks[name].append(target_ranks(scores, points.targets[idx], exclude))
                lists[name].append(top_k(scores, K, exclude).indices)
        sizes = {
            "float": size_on_disk(checkpoint_path),
            "int8": size_on_disk(Path(tmp) / "model.int8.pt"),
            "onnx": size_on_disk(Path(tmp) / "onnx"),
            "onnx_int8": size_on_disk(Path(tmp) / "onnx_int8"),
        }
    top = {name: np.concatenate(v) for name, v in lists.items()}
    ndcg = {name: float(point_ndcg(np.concatenate(r), K).mean()) for name, r in ranks.items()}
    return {
        "points": len(points),
        "ndcg@10": ndcg,
        "relative_loss": {
            n: 1 - v / ndcg["float"] if ndcg["float"] else 0.0 for n, v in ndcg.items()
        },
        "same_top10_as_float": {
            n: float((v == top["float"]).all(1).mean()) for n, v in top.items()
        },
        "top10_overlap": {n: overlap(v, top["float"]) for n, v in top.items()},
        "disk_mb": {n: b / 1e6 for n, b in sizes.items()},
        "disk_ratio_vs_float": {n: sizes["float"] / b for n, b in sizes.items()},
    }


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of the items of each row of ``b`` also in ``a``'s row, (N, k) each."""
    return float(np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a.tolist(), b.tolist())]))


# --------------------------------------------------------------------------------------------
# Size, memory and latency at catalogue scale


def synthetic_artefacts(n_tracks: int, folder: Path) -> dict[str, Path]:
    """Write the four formats of an untrained model with ``n_tracks`` tracks."""
    vocab = TrackVocab(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        counts=list(range(n_tracks, 0, -1)),
        artists=[f"a{i % 1000}" for i in range(n_tracks)],
    )
    model = sasrec(n_tracks, d_model=D_MODEL, n_layers=N_LAYERS, max_len=MAX_LEN).eval()
    paths = {
        "float": save_checkpoint(
            Checkpoint(model.config, model.state_dict(), vocab), folder / "f.pt"
        ),
        "int8": save_int8(model, vocab, folder / "q.int8.pt"),
        "onnx": write_bundle(model, vocab, folder / "onnx"),
        "onnx_int8": write_bundle(model, vocab, folder / "onnx_int8", int8_embeddings=True),
    }
    return paths


def size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def request_fn(fmt: str, path: Path, threads: int) -> Callable[[list[str]], object]:
    """Load ``path`` as format ``fmt``; return one request: history ids -> top-k."""
    if fmt == "float":
        rec = Recommender.load(path)
        return lambda h: rec.recommend(h, K)
    if fmt == "int8":
        artefact = load_int8(path)
        lookup = artefact.lookup
        artists = torch.as_tensor(lookup.artist_index(np.arange(lookup.n_tracks + 1)))
        return lambda h: int8_request(artefact.model, lookup, artists, h)
    rec_onnx = OnnxRecommender.load(path, num_threads=threads)
    return lambda h: rec_onnx.recommend(h, K)


@torch.inference_mode()
def int8_request(
    model: TrackTransformer, lookup: PackedVocab, artists: torch.Tensor, history: list[str]
) -> torch.Tensor:
    """Encode, score with the int8 catalogue, exclude the history, top-k (plays, no gaps)."""
    tracks = torch.as_tensor(lookup.encode(history))[None]  # (1, T)
    side = {
        "artists": artists[tracks] if model.config.n_artists else None,
        "event_types": torch.ones_like(tracks) if model.config.use_event_types else None,
        "gap_buckets": torch.full_like(tracks, 6) if model.config.use_gap_buckets else None,
    }
    batch = SequenceBatch(tracks, **side)  # its tracks feed a history prior, if any
    scores = int8_scores(model, model.last_hidden(batch), batch.tracks)  # (1, V)
    scores[0, tracks[0]] = float("-inf")
    return torch.topk(scores, K).indices


def measure_memory(fmt: str, path: Path) -> int:
    """RSS growth of a fresh process that loads ``path`` and serves one request."""
    code = (
        "import sys; sys.argv = sys.argv[:1]\n"
        "from pathlib import Path\n"
        "from benchmarks.compress import request_fn, rss_bytes\n"
        "before = rss_bytes()\n"
        f"fn = request_fn({fmt!r}, Path({str(path)!r}), 1)\n"
        "fn(['t1', 't2', 't3'])\n"
        "print(rss_bytes() - before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return int(out.stdout.strip().splitlines()[-1])


def median_ms(fn: Callable[[list[str]], object], history: list[str], reps: int) -> float:
    for _ in range(3):
        fn(history)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(history)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def scale(n_tracks: int, threads: int, reps: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = synthetic_artefacts(n_tracks, Path(tmp))
        history = [
            f"t{i}" for i in np.random.default_rng(0).choice(n_tracks, HISTORY, replace=False)
        ]
        rows = {}
        for fmt, path in paths.items():
            rows[fmt] = {
                "disk_mb": size_on_disk(path) / 1e6,
                "rss_mb": measure_memory(fmt, path) / 1e6,
                "latency_ms": median_ms(request_fn(fmt, path, threads), history, reps),
            }
        return rows


# --------------------------------------------------------------------------------------------


def print_tables(result: dict[str, Any]) -> None:
    if "accuracy" in result:
        acc = result["accuracy"]
        print(f"\naccuracy on {acc['points']} test points of {result['checkpoint']}")
        print(
            "| format | NDCG@10 | relative loss | same top-10 as float | top-10 overlap "
            "| disk MB | float / format on disk |"
        )
        print("|---|---|---|---|---|---|---|")
        for fmt in FORMATS:
            print(
                f"| {fmt} | {acc['ndcg@10'][fmt]:.4f} | {100 * acc['relative_loss'][fmt]:+.2f}% "
                f"| {100 * acc['same_top10_as_float'][fmt]:.1f}% "
                f"| {100 * acc['top10_overlap'][fmt]:.1f}% | {acc['disk_mb'][fmt]:.3f} "
                f"| {acc['disk_ratio_vs_float'][fmt]:.2f}x |"
            )
    for n_tracks, rows in result.get("scale", {}).items():
        print(f"\n{int(n_tracks):,} tracks, d_model={D_MODEL}, history {HISTORY}, k={K}")
        print("| format | disk MB | RSS MB | latency ms | float / format: disk, RSS |")
        print("|---|---|---|---|---|")
        base = rows["float"]
        for fmt, row in rows.items():
            disk, rss = base["disk_mb"] / row["disk_mb"], base["rss_mb"] / row["rss_mb"]
            print(
                f"| {fmt} | {row['disk_mb']:.1f} | {row['rss_mb']:.1f} | {row['latency_ms']:.2f} "
                f"| {disk:.2f}x, {rss:.2f}x |"
            )
    print(f"\nthreads {result['threads']}, load average {result['load_average']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="trained checkpoint for the accuracy part")
    parser.add_argument("--tracks", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"threads": args.threads, "checkpoint": str(args.checkpoint)}
    if args.checkpoint:
        result["accuracy"] = accuracy(args.checkpoint)
    result["scale"] = {str(n): scale(n, args.threads, args.reps) for n in args.tracks}
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print_tables(result)


if __name__ == "__main__":
    main()
