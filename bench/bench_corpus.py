"""The corpus index: indexing against extraction, the Ray engine against the local one,
neighbour queries on a million vectors, and the bytes an index takes.

* Indexing vs extract, interleaved in one process on the same lines (the bundled samples,
  480 news and review lines, repeated): (a) ``stream_sentence_embeddings`` (what ``python -m
  viz extract --layers all`` computes: every layer, mean-pooled, nothing written), (b)
  ``build_index`` into a new folder (the same forward passes, plus every token's vector and the
  word and token tables as Parquet, and a FAISS index per layer). Goal (b)/(a) >= 0.9x.
* Ray vs local: ``build_index`` with the Ray Data engine (2 actors, one model each, on a local
  2-CPU cluster started once before timing) against the local engine, same lines. Goal >= 0.8x.
* Neighbour queries: 1,000,000 random unit vectors (D = 384, the bundled model's width) in one
  FAISS ``IndexFlatIP`` (exact, what an index builds), single queries, k = 10: p50 / p95.
  Goal p95 <= 50 ms. An ``IndexIVFFlat`` (1,024 lists, 16 probed) beside it for scale.
* Bytes per token per layer of the index built in (b), by part.

Run from the repository root: ``python bench/bench_corpus.py [--quick]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as python -m viz sets it

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, busy_warning, interleaved, median, paired_ratio, report, table  # noqa: E402

from viz.corpus.index import FAISS, SHARDS, build_index  # noqa: E402
from viz.extract import stream_sentence_embeddings  # noqa: E402
from viz.models import load_encoder  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "viz" / "samples"


def sample_lines(n: int) -> list[str]:
    lines = []
    for name in ("topic.csv", "sentiment.csv"):
        with (SAMPLES / name).open(encoding="utf-8", newline="") as f:
            lines += [row["text"] for row in csv.DictReader(f)]
    return [lines[i % len(lines)] for i in range(n)]


def folder_bytes(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern))


def query_latency(n: int, d: int, queries: int) -> list[list[object]]:
    import faiss

    rng = np.random.default_rng(0)
    base = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):  # in blocks: normalising 1.5 GB at once doubles the peak
        block = rng.standard_normal((min(100_000, n - s), d), dtype=np.float32)
        base[s : s + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    q = rng.standard_normal((queries, d), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    rows = []
    flat = faiss.IndexFlatIP(d)
    flat.add(base)
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, 1024, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    ivf.train(base[rng.choice(n, min(n, 64 * 1024), replace=False)])
    ivf.add(base)
    ivf_build = time.perf_counter() - t0
    ivf.nprobe = 16
    exact = flat.search(q, 10)[1]
    for name, index, build in (
        ("IndexFlatIP (exact)", flat, None),
        ("IndexIVFFlat 1024/16", ivf, ivf_build),
    ):
        times = []
        for i in range(queries):
            t = time.perf_counter()
            index.search(q[i : i + 1], 10)
            times.append((time.perf_counter() - t) * 1000)
        found = index.search(q, 10)[1]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
        p50, p95 = np.percentile(times, [50, 95])
        rows.append(
            [name, f"{n:,}", d, queries, f"{p50:.1f}", f"{p95:.1f}", "yes" if p95 <= 50 else "no",
             f"{recall:.3f}", "-" if build is None else f"{build:.1f}"]
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer lines and vectors")
    args = parser.parse_args()
    lines_n, rounds = (240, 1) if args.quick else (960, 2)
    vectors, queries = (100_000, 100) if args.quick else (1_000_000, 200)
    texts = sample_lines(lines_n)
    encoder = load_encoder()
    layers = list(range(encoder.facts.num_layers + 1))
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    count = [0]

    def extract() -> None:
        for _ in stream_sentence_embeddings(encoder, texts, layers, "mean", 32, chunk=512):
            pass

    def index() -> None:
        count[0] += 1
        build_index(encoder, texts, None, work / f"idx{count[0]}", layers, batch_size=32)

    with OtherLoad() as load:
        timings = interleaved({"extract": extract, "index": index}, rounds=rounds, warmup=0)
    ex, ix = median(timings["extract"]), median(timings["index"])
    last = work / f"idx{count[0]}"
    first = [
        [lines_n, rounds, f"{lines_n / ex:.1f}", f"{lines_n / ix:.1f}", f"**{ex / ix:.2f}x**",
         f"{paired_ratio(timings['extract'], timings['index']):.2f}x",
         "yes" if ex / ix >= 0.9 else "no", f"{load.share:.0%}"]
    ]  # fmt: skip

    from viz.corpus.ray_engine import RayEngine, cluster

    with OtherLoad() as ray_load, cluster(None) as ray:
        start = time.perf_counter()
        ray.data.range(2).materialize()  # the cluster up and Ray Data loaded before timing
        ray_start = time.perf_counter() - start
        t = time.perf_counter()
        build_index(encoder, texts, None, work / "local", layers, batch_size=32)
        local = time.perf_counter() - t
        engine = RayEngine(encoder.name, False, texts, layers, 32, None, None, 2)
        t = time.perf_counter()
        build_index(encoder, texts, None, work / "ray", layers, batch_size=32, engine=engine)
        ray_time = time.perf_counter() - t
    second = [
        [lines_n, f"{lines_n / local:.1f}", f"{lines_n / ray_time:.1f}",
         f"**{local / ray_time:.2f}x**", "yes" if local / ray_time >= 0.8 else "no",
         f"{ray_start:.1f}", f"{ray_load.share:.0%}"]
    ]  # fmt: skip

    manifest = json.loads((last / "manifest.json").read_text(encoding="utf-8"))
    tokens, words, K = manifest["tokens"], manifest["words"], len(layers)
    shards = last / SHARDS
    parts = {
        "token vectors (Parquet, float32)": folder_bytes(shards, "tokens-*.parquet"),
        "line vectors (Parquet)": folder_bytes(shards, "lines-*.parquet"),
        "FAISS (word vectors, unit)": folder_bytes(last / FAISS, "*.index"),
        "tables (tokens, words, lines)": sum(
            folder_bytes(shards, n) for n in ("tokens.parquet", "words.parquet", "lines.parquet")
        ),
    }
    total = sum(parts.values())
    third = [[name, f"{b / 2**20:.1f}", f"{b / (tokens * K):.0f}"] for name, b in parts.items()]
    third.append(["total", f"{total / 2**20:.1f}", f"{total / (tokens * K):.0f}"])

    with OtherLoad() as q_load:
        fourth = query_latency(vectors, 384, queries)
    shutil.rmtree(work, ignore_errors=True)
    worst = max(load.share, ray_load.share, q_load.share)
    report(
        "Corpus index: indexing vs extract, Ray vs local, neighbour queries, bytes",
        table(
            [
                "lines",
                "rounds",
                "extract, lines/s",
                "index, lines/s",
                "index/extract",
                "paired",
                "goal >= 0.9x met",
                "other load",
            ],
            first,
        ),  # fmt: skip
        table(
            [
                "lines",
                "local, lines/s",
                "Ray (2 actors), lines/s",
                "Ray/local",
                "goal >= 0.8x met",
                "cluster start, s (not timed)",
                "other load",
            ],
            second,
        ),  # fmt: skip
        f"Index of {tokens:,} tokens ({words:,} words) x {K} layers, D = 384:",
        table(["part", "MiB", "bytes per token per layer"], third),
        table(
            [
                "FAISS index",
                "vectors",
                "D",
                "queries",
                "p50, ms",
                "p95, ms",
                "goal p95 <= 50 ms met",
                "recall@10 vs exact",
                "build, s",
            ],
            fourth,
        ),  # fmt: skip
        f"Other load while querying: {q_load.share:.0%}.",
        busy_warning(worst),
    )


if __name__ == "__main__":
    main()
