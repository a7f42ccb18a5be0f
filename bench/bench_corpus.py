"""The corpus index: indexing against extraction, the Ray engine against the local one,
neighbour queries on a million vectors, and the bytes an index takes.

* Indexing vs extract, interleaved in one process on the same lines (the bundled samples,
  480 news and review lines, repeated): (a) ``stream_sentence_embeddings`` (what ``python -m
  viz extract --layers all`` computes: every layer, mean-pooled, nothing written), (b)
  ``build_index`` into a new folder (the same forward passes, plus every token's vector and the
  word and token tables as Parquet, and a FAISS index per layer). Goal (b)/(a) >= 0.9x.
* Ray vs local: ``build_index`` with the Ray Data engine (2 actors, one model each, on a local
  2-CPU cluster started once before timing) against the local engine, same lines. Goal >= 0.8x.
  The actors' start (a process each, the model loaded) is timed apart, on a run of 8 lines.
* Bytes per token per layer of the index built in (b), by part.
* Peak memory (``--memory-lines``): ``build_index`` of N short lines (two halves of different
  sample lines: distinct contexts, some 14 tokens) in a fresh process each, layer L6 only; the
  peak resident set (``ru_maxrss``, mapped files' pages included) and the peak anonymous memory
  (``RssAnon``, what the kernel cannot drop) per N.
* Neighbour queries on real vectors: the largest index of the memory run has about 1,000,000
  words at L6, so its FAISS index is the approximate one ``build_index`` picks; single queries
  (k = 10, words of 200 other short lines) against it and against an exact ``IndexFlatIP`` of
  the same vectors: p50 / p95, and recall@10 against exact. Goal p95 <= 50 ms.

Run from the repository root: ``python bench/bench_corpus.py [--quick] [--memory-lines
10000,100000]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as python -m viz sets it

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, busy_warning, interleaved, median, paired_ratio, report, table  # noqa: E402
from bench_memory import Sampler  # noqa: E402

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


def short_lines(n: int, skip: int = 0) -> list[str]:
    """``n`` distinct short lines: the first words of one sample line and the last of another
    (480 x 480 pairs), real words in contexts that differ line by line."""
    words = [line.split() for line in sample_lines(480)]
    m = len(words)
    out = []
    for i in range(skip, skip + n):
        a, b = words[i % m], words[(i // m + 1 + i) % m]
        out.append(" ".join(a[:5] + b[-5:]))
    return out


def memory_child(lines: int, out: str) -> None:
    """One measured build, in this fresh process: prints JSON (lines/s, peak RSS, peak anon)."""
    encoder = load_encoder()
    texts = short_lines(lines)
    t = time.perf_counter()
    # RssAnon: heap and stacks, what the kernel cannot drop; ru_maxrss also counts the pages
    # of memory-mapped files in use (the stored vectors read back, faiss's on-disk lists)
    with Sampler("RssAnon", every=0.05) as anon:
        result = build_index(encoder, texts, None, Path(out), [encoder.facts.num_layers])
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": took, "peak": peak, "anon": anon.peak * 1024,
                      "tokens": result.tokens, "words": result.words}))  # fmt: skip


def memory_rows(counts: list[int], work: Path) -> tuple[list[list[object]], Path]:
    rows, last = [], work
    for n in counts:
        last = work / f"mem{n}"
        done = subprocess.run(
            [sys.executable, __file__, "--_memory-child", str(n), "--_out", str(last)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        got = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            [f"{n:,}", f"{got['tokens']:,}", f"{got['words']:,}", f"{n / got['seconds']:.0f}",
             f"{got['peak'] / 2**20:.0f}", f"{got['anon'] / 2**20:.0f}"]
        )  # fmt: skip
    return rows, last


def query_latency(folder: Path, queries: int) -> list[list[object]]:
    """The approximate index ``build_index`` made against an exact scan of the same vectors."""
    import faiss

    from viz.corpus.index import CorpusIndex
    from viz.corpus.neighbors import words_of

    index = CorpusIndex(folder)
    layer = index.layers[-1]
    approx = index.faiss(layer)
    kind = index.manifest["faiss"][f"L{layer}"]
    n, d = approx.ntotal, approx.d
    if hasattr(approx, "make_direct_map"):
        approx.make_direct_map()
    flat = faiss.IndexFlatIP(d)
    for s in range(0, n, 100_000):
        flat.add(approx.reconstruct_n(s, min(100_000, n - s)))
    encoder = load_encoder()
    q = []
    for text in short_lines(queries, skip=200_000):  # lines the index does not hold
        q.append(words_of(encoder, text, [layer])[2][0][len(q) % 3])
    q = np.stack(q).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = flat.search(q, 10)[1]
    rows = []
    name = kind["kind"] + (f" {kind['nlist']}/{kind['nprobe']}" if "nlist" in kind else "")
    for label, faiss_index, count in ((name, approx, queries), ("IndexFlatIP (exact)", flat, 50)):
        times = []
        for i in range(count):
            t = time.perf_counter()
            faiss_index.search(q[i : i + 1], 10)
            times.append((time.perf_counter() - t) * 1000)
        found = faiss_index.search(q, 10)[1]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
        p50, p95 = np.percentile(times, [50, 95])
        rows.append(
            [label, f"{n:,}", d, count, f"{p50:.1f}", f"{p95:.1f}", "yes" if p95 <= 50 else "no",
             f"{recall:.3f}"]
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer lines")
    parser.add_argument(
        "--lines",
        type=int,
        help="lines of the indexing and Ray comparisons (default 960; 240 with --quick)",
    )
    parser.add_argument(
        "--memory-lines",
        default="10000,100000",
        help="line counts of the peak-memory builds, comma-separated (default 10000,100000)",
    )
    parser.add_argument("--_memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._memory_child:
        memory_child(args._memory_child, args._out)
        return
    lines_n, rounds = (240, 1) if args.quick else (960, 2)
    lines_n = args.lines or lines_n
    queries = 100 if args.quick else 200
    texts = sample_lines(lines_n)
    encoder = load_encoder()
    layers = list(range(encoder.facts.num_layers + 1))
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    count = [0]
    # imports both sides load once per process (pyarrow's pandas bridge, faiss), untimed
    build_index(encoder, texts[:8], None, work / "warm", layers, batch_size=32)
    for _ in stream_sentence_embeddings(encoder, texts[:8], layers, "mean", 32, chunk=512):
        pass

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
        few = texts[:8]  # the actors' start and model load, and little else
        engine = RayEngine(encoder.name, False, few, layers, 32, None, folder=work / "ray-start")
        t = time.perf_counter()
        build_index(encoder, few, None, work / "ray-start", layers, batch_size=32, engine=engine)
        actors_start = time.perf_counter() - t
        engine = RayEngine(encoder.name, False, texts, layers, 32, None, folder=work / "ray")
        t = time.perf_counter()
        build_index(encoder, texts, None, work / "ray", layers, batch_size=32, engine=engine)
        ray_time = time.perf_counter() - t
    warm = max(ray_time - actors_start, 1e-9)
    second = [
        [lines_n, f"{lines_n / local:.1f}", f"{lines_n / ray_time:.1f}",
         f"**{local / ray_time:.2f}x**", "yes" if local / ray_time >= 0.8 else "no",
         f"{actors_start:.1f}", f"{lines_n / warm:.1f}", f"{local / warm:.2f}x",
         f"{lines_n / warm / 2:.1f}", f"{ray_start:.1f}", f"{ray_load.share:.0%}"]
    ]  # fmt: skip

    manifest = json.loads((last / "manifest.json").read_text(encoding="utf-8"))
    tokens, words, K = manifest["tokens"], manifest["words"], len(layers)
    shards = last / SHARDS
    parts = {
        "token vectors (Parquet, float32)": folder_bytes(shards, "tokens-*.parquet"),
        "line vectors (Parquet)": folder_bytes(shards, "lines-*.parquet"),
        # an exact layer's FAISS index is filled from the shards' word vectors when opened
        "FAISS (word vectors, unit)": folder_bytes(last / FAISS, "*.index")
        + folder_bytes(last / FAISS, "*.ivfdata")
        + folder_bytes(shards, "words-*.npy"),
        "tables (tokens, words, lines)": sum(
            folder_bytes(shards, n) for n in ("tokens.parquet", "words.parquet", "lines.parquet")
        ),
    }
    total = sum(parts.values())
    third = [[name, f"{b / 2**20:.1f}", f"{b / (tokens * K):.0f}"] for name, b in parts.items()]
    third.append(["total", f"{total / 2**20:.1f}", f"{total / (tokens * K):.0f}"])

    counts = [int(c) for c in args.memory_lines.split(",") if c.strip()]
    if args.quick:
        counts = [c // 10 for c in counts]
    with OtherLoad() as m_load:
        fifth, biggest = memory_rows(counts, work)
    with OtherLoad() as q_load:
        fourth = query_latency(biggest, queries)
    shutil.rmtree(work, ignore_errors=True)
    worst = max(load.share, ray_load.share, q_load.share, m_load.share)
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
                "actors start, s (8-line run)",
                "Ray less the start, lines/s",
                "Ray/local less the start",
                "per actor, lines/s",
                "cluster start, s (not timed)",
                "other load",
            ],
            second,
        ),  # fmt: skip
        f"Index of {tokens:,} tokens ({words:,} words) x {K} layers, D = 384:",
        table(["part", "MiB", "bytes per token per layer"], third),
        f"Peak memory of `build_index`, short lines, layer L6 only, a fresh process each "
        f"(other load {m_load.share:.0%}):",
        table(
            ["lines", "tokens", "words", "lines/s", "peak RSS, MiB", "peak anonymous, MiB"], fifth
        ),
        f"Neighbour queries on the real word vectors (L6) of the {counts[-1]:,}-line index, "
        "k = 10, queries from other lines:",
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
            ],
            fourth,
        ),  # fmt: skip
        f"Other load while querying: {q_load.share:.0%}.",
        busy_warning(worst),
    )


if __name__ == "__main__":
    main()
