"""Approximate retrieval and int8 exact scoring at catalogue scale (issue 16).

Run (the figures in README "Scale" came from these)::

    python benchmarks/retrieval.py --tracks 1000000 --kinds ivf_pq --sweep --profile
    nohup python benchmarks/retrieval.py --tracks 10000000 --kinds ivf_pq --queries 300 \
        --exact-timed 20 --sweep --sweep-factors 0.5 1 2 3 --profile > retrieval_10m.log &
    python benchmarks/retrieval.py --crossover --kinds ivf_pq        # exhaustive vs index
    python benchmarks/retrieval.py --tracks 1000000 --queries 0 --int8   # int8 scoring only

``--set nlist=8000`` (any :class:`segue.retrieval.IndexParams` field) replaces a sized default.

What is timed is one :meth:`segue.api.Recommender.recommend` call (history of 20 tracks, k=10,
played tracks excluded): history encoding, a 2-layer d=64 transformer forward, then either the
exhaustive GEMV + top-k or the index search + exact re-rank, and the output table. Torch and
FAISS run on one thread for the latency figures (the build uses ``--build-threads``). Each
figure is printed with the load average, and with the calling thread's CPU time beside the
wall clock: on a shared 2-core machine the wall clock's tail is time spent waiting for a core.
Recall@10 is the overlap of the returned list with the exhaustive list of the same request (same
model, same masks; computed 50 queries at a time by ``recommend_batch``, and checked against
single ``recommend()`` calls on the first ``--exact-timed`` queries), averaged over queries.

Embeddings ("trained-looking"): no trained 1M-track model exists here, so the track table is
drawn from a generator built to have the properties that make retrieval hard or easy on a
trained table, and the model's own track table is replaced by it:

* clusters (genres / scenes / artists): a mixture of ``N / 400`` Gaussians, with cluster sizes
  Zipf-distributed (a few huge genres, a long tail of niches), centres on a sphere of radius 1
  and within-cluster spread 0.6 per unit dimension-normalised, so neighbouring clusters overlap
  (IVF lists cut through clusters, as they do on real tables);
* popularity in the norm: a trained softmax table gives popular tracks larger norms (they must
  win more often), so norms are log-normal and rank-correlated with a Zipf play count. This is
  what makes maximum inner product search harder than cosine search: the top of a query's list
  mixes near tracks and loud tracks.

Listener vectors come from the real transformer reading 20 tracks of one cluster (its random
weights at d=64 keep the output close to the inputs' directions, so a query sits near a
cluster, as a trained listener state does near its taste).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import time
from dataclasses import dataclass, replace

import faiss
import numpy as np
import torch

from segue.api import Recommender
from segue.api.cpu_product import catalogue_product, set_num_threads, to_huge_pages
from segue.compress.int8 import Int8Rows
from segue.data.vocab import TrackVocab
from segue.models import sasrec
from segue.retrieval import build_index, default_params
from segue.retrieval.index import factory_string
from segue.retrieval.retriever import Retriever

TARGET_TRACKS = 150_000_000


@dataclass
class Table:
    """A generated catalogue: embeddings (N + 1, D) with padding row 0, cluster of each track."""

    embeddings: np.ndarray
    cluster: np.ndarray
    counts: np.ndarray


def clustered_table(n: int, dim: int, seed: int) -> Table:
    """The generator described in the module docstring; written in blocks to bound memory."""
    rng = np.random.default_rng(seed)
    n_clusters = max(8, n // 400)
    sizes = 1.0 / np.arange(1, n_clusters + 1) ** 0.8  # Zipf-ish genre sizes
    cluster = rng.choice(n_clusters, size=n, p=sizes / sizes.sum()).astype(np.int32)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    plays = rng.zipf(1.3, size=n).clip(max=10**7).astype(np.float64)
    # Norm grows with log plays (rank-correlated), with noise: popular tracks are louder.
    norms = np.exp(0.25 * np.log(plays) + 0.15 * rng.standard_normal(n)).astype(np.float32)
    table = np.zeros((n + 1, dim), dtype=np.float32)
    for start in range(0, n, 1 << 20):
        stop = min(n, start + (1 << 20))
        block = centres[cluster[start:stop]]
        block = block + rng.standard_normal(block.shape, dtype=np.float32) * (0.6 / math.sqrt(dim))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        table[start + 1 : stop + 1] = block * norms[start:stop, None]
    return Table(table, cluster, plays.astype(np.int64))


def make_recommender(table: Table, dim: int) -> Recommender:
    n = table.embeddings.shape[0] - 1
    model = sasrec(n, d_model=dim, n_layers=2, n_heads=2, max_len=50, seed=0)
    with torch.no_grad():
        model.track_emb.weight[: n + 1] = torch.from_numpy(table.embeddings)
    vocab = TrackVocab(track_ids=[str(i) for i in range(1, n + 1)], counts=table.counts.tolist())
    return Recommender(model, vocab)


def histories(table: Table, n_queries: int, seed: int) -> list[list[str]]:
    """Each query: 20 tracks of one cluster, the cluster drawn by popularity."""
    rng = np.random.default_rng(seed + 1)
    order = np.argsort(table.cluster, kind="stable")
    bounds = np.searchsorted(table.cluster[order], np.arange(table.cluster.max() + 2))
    out = []
    for track in rng.choice(len(table.cluster), size=n_queries):
        c = table.cluster[track]
        members = order[bounds[c] : bounds[c + 1]]
        out.append([str(int(t) + 1) for t in rng.choice(members, size=20)])
    return out


def load() -> str:
    """The 1 / 5 / 15-minute load averages, printed with every figure (2 shared cores here)."""
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Timings:
    """Per-query milliseconds: wall clock, and CPU time of the calling thread (what the call
    costs without the time it waited for a core: on 2 cores shared by several jobs the wall
    clock's tail is mostly waiting)."""

    wall: np.ndarray
    cpu: np.ndarray

    def __str__(self) -> str:
        w, c = self.wall, self.cpu
        return (
            f"p50 {np.median(w):6.2f} ms  p99 {np.percentile(w, 99):6.2f} ms"
            f"  (thread CPU p50 {np.median(c):5.2f} p99 {np.percentile(c, 99):5.2f})"
        )


def time_queries(rec: Recommender, queries: list[list[str]]) -> tuple[list[list[str]], Timings]:
    lists, wall, cpu = [], [], []
    for h in queries[:5]:
        rec.recommend(h, k=10)  # warm-up
    for h in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        frame = rec.recommend(h, k=10)
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
        lists.append(frame["track_id"].tolist())
    return lists, Timings(np.asarray(wall) * 1e3, np.asarray(cpu) * 1e3)


def exact_lists(rec: Recommender, queries: list[list[str]]) -> list[list[str]]:
    """The exhaustive path's lists of every query, 50 at a time through ``recommend_batch``
    (one GEMM per chunk instead of one GEMV per query: minutes at 10M)."""
    lists: list[list[str]] = []
    for start in range(0, len(queries), 50):
        frame = rec.recommend_batch(queries[start : start + 50], k=10)
        for q in range(min(50, len(queries) - start)):
            lists.append(frame.loc[frame["query"] == q, "track_id"].tolist())
    return lists


def recall(got: list[list[str]], exact: list[list[str]]) -> float:
    return float(np.mean([len(set(g) & set(e)) / max(1, len(e)) for g, e in zip(got, exact)]))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def bench_size(args: argparse.Namespace, n: int) -> None:
    dim = args.dim
    start = time.perf_counter()
    table = clustered_table(n, dim, args.seed)
    rec = make_recommender(table, dim)
    table.embeddings = np.empty((0, dim), np.float32)  # the model holds its copy: free this one
    gc.collect()
    loaded = time.perf_counter() - start
    print(f"\n== {n:,} tracks x {dim} dims (generated + loaded in {loaded:.0f} s)  {load()}")
    if args.queries == 0:  # int8 scoring only
        if args.int8:
            bench_int8(rec.catalogue.embeddings, args)
        return
    queries = histories(table, args.queries, args.seed)
    set_num_threads(1)  # torch and numpy BLAS: the catalogue product runs in numpy
    start = time.perf_counter()
    exact = exact_lists(rec, queries)
    print(f"exact lists of {len(queries)} queries in {time.perf_counter() - start:.0f} s")
    timed = queries[: args.exact_timed]
    same, ms = time_queries(rec, timed)
    agree = recall(same, exact[: len(timed)])
    print(
        f"exhaustive recommend() ({len(timed)} queries)  {ms}  "
        f"(agrees with the batch lists: {agree:.3f})  {load()}"
    )
    base = rec.catalogue
    for kind in args.kinds:
        if kind == "hnsw" and n > args.hnsw_max:
            print(f"hnsw                 skipped above {args.hnsw_max:,} tracks (build time)")
            continue
        faiss.omp_set_num_threads(args.build_threads)
        gc.collect()
        before = rss_mb()
        params = default_params(n, dim, kind, **args.overrides)
        index = build_index(base.embeddings.numpy(), params)
        grown = rss_mb() - before
        faiss.omp_set_num_threads(1)
        parts = index_bytes(index)
        total = sum(parts.values())
        print(
            f"{kind:<10} {factory_string(params)}  build {index.build_seconds:6.1f} s "
            f"({args.build_threads} threads, {params.train_rows:,} training rows)  "
            f"index {total / 2**20:8.1f} MiB (RSS +{grown:.0f} MiB)  {load()}"
        )
        print(
            "  bytes/track "
            + " + ".join(f"{name} {b / n:.2f}" for name, b in parts.items())
            + f" = {total / n:.2f} -> 150M: {total / n * TARGET_TRACKS / 2**30:.1f} GiB index"
            f" + {TARGET_TRACKS * dim * 4 / 2**30:.1f} GiB float table for the re-rank"
        )
        for value, candidates in sweep_values(params, args):
            tuned = _with_search(params, value)
            tuned = replace(tuned, candidates=candidates or tuned.candidates)
            rec.catalogue = base.with_retriever(
                Retriever(_reparam(index, tuned), exhaustive_below=0)
            )
            got, ms = time_queries(rec, queries)
            knob = {
                "ivf_flat": f"nprobe={tuned.nprobe}",
                "ivf_pq": f"nprobe={tuned.nprobe}",
                "hnsw": f"ef={tuned.ef_search}",
            }.get(kind, "exhaustive")
            sized = value is None and candidates is None and not args.overrides
            mark = " (default)" if sized else ""
            print(
                f"  {knob:<12} cand={tuned.candidates:<4} recall@10 {recall(got, exact):.3f}"
                f"  {ms}  {load()}{mark}"
            )
        if args.profile:
            rec.catalogue = base.with_retriever(Retriever(index, exhaustive_below=0))
            profile_stages(rec, queries)
        rec.catalogue = base
        del index
        gc.collect()
    if args.int8:
        bench_int8(base.embeddings, args)


def index_bytes(index) -> dict[str, int]:
    """Bytes of the index's arrays by part, counted without serializing a copy at 10M."""
    inner = faiss.downcast_index(index.index)
    n, d = index.n_tracks, index.dim
    p = index.params
    if p.kind == "flat":
        return {"vectors": n * d * 4}
    if p.kind == "hnsw":
        links = faiss.vector_to_array(inner.hnsw.neighbors).nbytes
        offsets = faiss.vector_to_array(inner.hnsw.offsets).nbytes
        return {"vectors": n * d * 4, "graph": links + offsets}
    ivf = faiss.extract_index_ivf(index.index)
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    sizes = np.array([lists.list_size(i) for i in range(ivf.nlist)], dtype=np.int64)
    if p.kind == "ivf_pq" and p.pq_bits == 4:  # fast scan: lists padded to blocks of 32 codes
        blocks = -(-sizes // lists.n_per_block)
        codes = int(blocks.sum()) * lists.block_size
    else:
        codes = int(sizes.sum()) * ivf.code_size
    return {"codes": codes, "ids": int(sizes.sum()) * 8, "centroids": p.nlist * d * 4}


def sweep_values(params, args: argparse.Namespace) -> list[tuple[int | None, int | None]]:
    """(nprobe or ef, candidates) pairs to time; None is the sized default."""
    if not args.sweep:
        return [(None, None)]
    if params.kind == "hnsw":
        values = [None, params.ef_search * 2]
    elif params.kind == "flat":
        values = [None]
    else:
        scaled = [max(1, min(params.nlist, round(params.nprobe * f))) for f in args.sweep_factors]
        values = [None if v == params.nprobe else v for v in scaled]
    counts = [None if c == params.candidates else c for c in args.sweep_candidates]
    return [(v, c) for v in values for c in counts or [None]]


def _with_search(params, value):
    if value is None:
        return params
    if params.kind == "hnsw":
        return replace(params, ef_search=value)
    return replace(params, nprobe=value)


def _reparam(index, params):
    return replace(index, params=params)


STAGES = {
    "history -> indices": ("segue.api.recommender", "encode_history"),
    "encoder forward": ("segue.api.recommender", "encode_queries"),
    "index search": ("segue.retrieval.index", "TrackIndex.search"),
    "exact re-rank": ("segue.retrieval.retriever", "_scored_candidates"),
    "constraint masks": ("segue.retrieval.retriever", "_mask"),
    "top-k + artist cap": ("segue.retrieval.retriever", "_pick"),
    "output DataFrame": ("segue.api.recommender", "recommendations_frame"),
}
"""Stages of one ``recommend()`` timed by wrapping the function each calls (module, name)."""


def profile_stages(rec: Recommender, queries: list[list[str]]) -> None:
    """Where one ``recommend()`` spends its time: each stage's function is wrapped with a
    timer for the duration of the run; "other" is the call minus the stages (argument checks,
    constraint resolution, the rank dispatch). Thread CPU time is printed beside the wall
    clock: on a loaded machine a stage's wall time includes waiting for a core."""
    import importlib

    clocks = {"wall": time.perf_counter, "cpu": time.thread_time}
    spent = {c: {name: [] for name in STAGES} for c in clocks}  # clock -> stage -> seconds
    restore = []

    def timed(name, fn):
        def wrapper(*a, **kw):
            starts = {c: clock() for c, clock in clocks.items()}
            try:
                return fn(*a, **kw)
            finally:
                for c, clock in clocks.items():
                    spent[c][name][-1] += clock() - starts[c]

        return wrapper

    for name, (module, attr) in STAGES.items():
        owner = importlib.import_module(module)
        if "." in attr:
            owner, attr = getattr(owner, attr.split(".")[0]), attr.split(".")[1]
        if not hasattr(owner, attr):
            print(f"  (profile: {module}.{attr} not found, stage {name!r} not timed)")
            continue
        restore.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, timed(name, getattr(owner, attr)))
    totals: dict[str, list[float]] = {c: [] for c in clocks}
    try:
        for h in queries[:5] + queries:  # 5 warm-up calls, dropped below
            for stages in spent.values():
                for v in stages.values():
                    v.append(0.0)
            starts = {c: clock() for c, clock in clocks.items()}
            rec.recommend(h, k=10)
            for c, clock in clocks.items():
                totals[c].append(clock() - starts[c])
    finally:
        for owner, attr, fn in restore:
            setattr(owner, attr, fn)
    n = len(queries)
    ms = {c: {name: np.asarray(v[-n:]) * 1e3 for name, v in spent[c].items()} for c in clocks}
    whole = {c: np.asarray(totals[c][-n:]) * 1e3 for c in clocks}
    for c in clocks:
        ms[c]["other"] = whole[c] - sum(ms[c].values())
        ms[c]["whole call"] = whole[c]
    print(
        f"  profile of recommend() over {n} queries, ms: wall p50 | thread CPU p50 / p99 /"
        f" share of the mean CPU time  {load()}"
    )
    for name in ms["cpu"]:
        w, c = ms["wall"][name], ms["cpu"][name]
        print(
            f"    {name:<20} {np.median(w):6.3f} | {np.median(c):6.3f} / "
            f"{np.percentile(c, 99):6.3f} / {c.mean() / whole['cpu'].mean():6.1%}"
        )


def bench_int8(embeddings: torch.Tensor, args: argparse.Namespace) -> None:
    """Float GEMV vs int8 kernels vs int8 chunked, back to back, one thread, one query.

    The float table is timed in both page sizes: ``Recommender`` serves it from numpy memory,
    which Linux backs with 2 MB pages (``to_huge_pages``); a table torch allocated sits in 4 kB
    pages and streams through ~1.3x slower (a TLB miss per 4 kB). The int8 kernel is timed with
    both query encodings (:class:`segue.export.int8_kernel.Int8Kernel`): one int8 digit (the
    plain int8 GEMV) and two (the int8 table's scores against the float query), on its default
    backend (Numba where installed) and on onnxruntime's MLAS GEMM beside it. How far each
    moves the float scores is printed after the timings, over ``--int8-check`` queries.
    """
    set_num_threads(1)  # torch and numpy BLAS: the catalogue product runs in numpy
    rows = Int8Rows.quantize(embeddings)
    kernels, built = {}, {}
    for digits in (2, 1):
        gc.collect()
        before, start = rss_mb(), time.perf_counter()
        kernels[digits] = rows.with_kernel(threads=1, digits=digits)
        built[digits] = (time.perf_counter() - start, rss_mb() - before)
    mlas = {d: rows.with_kernel(threads=1, digits=d, backend="onnxruntime") for d in (2, 1)}
    kernel = mlas[1].kernel
    signed = kernel is not None and kernel.signed  # the u8 x s8 GEMM, exact on this CPU
    hidden = torch.randn(1, embeddings.shape[1], generator=torch.Generator().manual_seed(0))
    small_pages = torch.empty_like(embeddings).copy_(embeddings)  # torch's allocator: 4 kB
    huge_pages = to_huge_pages(embeddings)
    fns = {
        "float32 torch mv, 4 kB": lambda: small_pages @ hidden[0],  # torch (MKL)
        "float32 numpy, 4 kB": lambda: catalogue_product(hidden, small_pages),
        "float32 numpy, 2 MB": lambda: catalogue_product(hidden, huge_pages),  # served
        "int8 chunked (old)": lambda: rows.chunked_scores(hidden),
        "int8 kernel, 2 digits": lambda: kernels[2].scores(hidden),
        "int8 kernel, 1 digit": lambda: kernels[1].scores(hidden),
        "int8 MLAS, 2 digits": lambda: mlas[2].scores(hidden),
        "int8 MLAS, 1 digit": lambda: mlas[1].scores(hidden),
    }
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(args.int8_reps):  # round robin: a load spike hits every method alike
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    timings = {name: float(np.median(s)) * 1e3 for name, s in samples.items()}
    n = embeddings.shape[0]
    print(f"\nexact scoring of {n:,} tracks, 1 thread, median of {args.int8_reps}  {load()}")
    backend = kernels[2].kernel.backend if kernels[2].kernel is not None else "none"
    encoding = "u8 x s8 (exact on this CPU)" if signed else "u8 x u8 (u8 x s8 saturates here)"
    print(f"  int8 kernel backend: {backend}; int8 MLAS (onnxruntime) GEMM: {encoding}")
    table_mib = rows.nbytes / 2**20
    for digits, (seconds, grown) in built.items():
        print(f"  kernel with {digits} digit(s) built in {seconds:.2f} s", end="")
        print(f", RSS +{grown:.0f} MiB (int8 table {table_mib:.0f} MiB)")
    served, small = timings["float32 numpy, 2 MB"], timings["float32 numpy, 4 kB"]
    for name, ms in timings.items():
        print(
            f"  {name:<22} {ms:7.2f} ms   {served / ms:4.2f}x vs the served float (2 MB pages)"
            f", {small / ms:4.2f}x vs float in 4 kB pages"
        )
    int8_accuracy(embeddings, rows, kernels, args.int8_check)


def int8_accuracy(
    embeddings: torch.Tensor, rows: Int8Rows, kernels: dict[int, Int8Rows], queries: int
) -> None:
    """How far each int8 path moves scores and top-10 lists from the float table's."""
    gen = torch.Generator().manual_seed(1)
    paths = {"chunked": rows.chunked_scores}
    paths.update({f"{d} digit(s)": kernel.scores for d, kernel in kernels.items()})
    error = {name: 0.0 for name in paths}
    overlap = {name: 0.0 for name in paths}
    for _ in range(queries):
        hidden = torch.randn(1, embeddings.shape[1], generator=gen)
        exact = catalogue_product(hidden, embeddings)[0]
        top = set(torch.topk(exact, 10).indices.tolist())
        for name, score in paths.items():
            approx = score(hidden)[0]
            relative = (approx - exact).abs().max() / exact.abs().max()
            error[name] = max(error[name], relative.item())
            overlap[name] += len(top & set(torch.topk(approx, 10).indices.tolist())) / 10 / queries
    print(f"  against the float table's scores, {queries} queries:")
    for name in paths:
        print(
            f"    {name:<12} largest |error| / largest |score| {error[name]:.2e}"
            f", top-10 overlap {overlap[name]:.3f}"
        )
    for digits, kernel in kernels.items():
        assert kernel.kernel is not None
        hidden = torch.randn(1, embeddings.shape[1], generator=gen)
        gap = (kernel.scores(hidden) - rows.chunked_scores(hidden)).abs().max().item()
        bound = kernel.kernel.query_error_bound(hidden).max().item()
        print(f"    {digits} digit(s): max |kernel - chunked| {gap:.2e}, stated bound {bound:.2e}")


def bench_crossover(args: argparse.Namespace) -> None:
    """p50 of recommend() exhaustive vs the default index at small catalogues."""
    set_num_threads(1)  # torch and numpy BLAS: the catalogue product runs in numpy
    kind = args.kinds[-1]
    print(f"\n== crossover: exhaustive vs {kind}, p50 of recommend()  {load()}")
    for n in args.crossover_sizes:
        table = clustered_table(n, args.dim, args.seed)
        rec = make_recommender(table, args.dim)
        queries = histories(table, min(args.queries, 200), args.seed)
        exact, ms_exact = time_queries(rec, queries)
        faiss.omp_set_num_threads(args.build_threads)
        params = default_params(n, args.dim, kind, **args.overrides)
        index = build_index(rec.catalogue.embeddings.numpy(), params)
        faiss.omp_set_num_threads(1)
        rec.catalogue = rec.catalogue.with_retriever(Retriever(index, exhaustive_below=0))
        got, ms_index = time_queries(rec, queries)
        print(
            f"  {n:>9,} tracks: exhaustive {np.median(ms_exact.wall):6.2f} ms "
            f"(CPU {np.median(ms_exact.cpu):5.2f})  {kind} {np.median(ms_index.wall):6.2f} ms "
            f"(CPU {np.median(ms_index.cpu):5.2f})  recall {recall(got, exact):.3f}  {load()}"
        )


def override(text: str) -> tuple[str, object]:
    """``--set nlist=4000``: one :class:`IndexParams` field, its value parsed as Python would."""
    import ast

    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="*", default=[])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument(
        "--kinds", type=lambda s: s.split(","), default=["flat", "ivf_flat", "ivf_pq", "hnsw"]
    )
    parser.add_argument("--queries", type=int, default=300, help="0: int8 scoring only")
    parser.add_argument(
        "--exact-timed", type=int, default=50, help="queries timed on the exhaustive path"
    )
    parser.add_argument("--sweep", action="store_true", help="also other nprobe / ef values")
    parser.add_argument(
        "--sweep-factors", type=float, nargs="*", default=[0.5, 1.0, 2.0], help="x nprobe"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        type=override,
        action="append",
        default=[],
        help="an index parameter instead of its sized default, e.g. --set nlist=4000",
    )
    parser.add_argument(
        "--sweep-candidates", type=int, nargs="*", default=[], help="re-ranked candidates"
    )
    parser.add_argument("--profile", action="store_true", help="time recommend()'s stages")
    parser.add_argument("--hnsw-max", type=int, default=2_000_000)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="int8 vs float exact scoring")
    parser.add_argument("--int8-reps", type=int, default=50)
    parser.add_argument("--int8-check", type=int, default=20, help="queries for int8 accuracy")
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument(
        "--crossover-sizes", type=int, nargs="*", default=[10_000, 30_000, 100_000, 300_000]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.overrides = dict(args.overrides)
    print(f"start: {load()}, faiss {faiss.__version__}, torch {torch.__version__}")
    if args.crossover:
        bench_crossover(args)
    for n in args.tracks:
        bench_size(args, n)
    print(f"\nend: {load()}")


if __name__ == "__main__":
    main()
