"""Building and opening a corpus index.

A folder holds, per shard of lines (``shards/00000/``), the token table (line, position, token,
word, offsets), the words (pieces merged), the lines (text, label) and, per layer, every token's
vector and every line's mean-pooled vector, all Parquet, and the words' normalised mean
vectors (``words-<layer>.npy``, computed while the shard is in memory). A FAISS inner-product
index searches those (inner product of unit vectors is the cosine): up to ``APPROXIMATE_ABOVE``
words an exact ``IndexFlatIP``, which holds nothing but the vectors, so it is filled from the
shards' files when the index is opened instead of being written again; above, an inverted file
(``IndexIVFFlat``, ``faiss/<layer>.index``) so that a query stays fast on millions of words,
its inverted lists in ``faiss/<layer>.ivfdata``, mapped rather than loaded, and that layer's
``words-<layer>.npy`` removed once it is built. The manifest names each layer's kind.
``plan.json`` is written first (model, layers, input fingerprint: what a resumed run must
match), each shard appears by a rename once whole, and ``manifest.json`` is written last: a
folder without it is not an index yet, however many shards it has.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from viz.errors import UserError
from viz.extract import _forward_batches, max_chars, tokenize_cut
from viz.models import Encoder
from viz.names import layer_name
from viz.tokens import display_tokens, word_groups, word_texts

FORMAT = "viz-corpus-index"
# 2: vectors as fixed-size binary (float32, little-endian), not lists of floats; an exact
# layer's FAISS index filled from the shards' word vectors, not a file of its own
VERSION = 2
PLAN, MANIFEST, SHARDS, FAISS = "plan.json", "manifest.json", "shards", "faiss"
SHARD_LINES = 256  # lines per shard: what an interrupted run can lose, and the memory bound
# Shards whose lines are sorted by length together for the forward passes: 512 lines, as
# ``extract`` sorts them
SORT_SHARDS = 2
# Above this many words in a layer, an exact scan nears 30 ms a query on 2 CPUs (p95 33 ms at
# 131,300 words, 49 ms at 262,600): an inverted file instead
APPROXIMATE_ABOVE = 100_000
# k-means of an inverted file: points per list and iterations. faiss warns under 39 points a
# list; more points or iterations did not change recall@10 here (bench/bench_corpus.py) and
# the training is most of the build
TRAIN_PER_LIST = 40
TRAIN_ITERATIONS = 10
# Lists probed per query: a sentence's own copies are in the query's nearest list (the same
# vector has the same nearest centroid), and more lists raise the recall of the rest. With
# lists about sqrt(n) / 2 (``ivf_lists``), 16 probe the same share of the vectors as 32 of
# sqrt(n) lists did, at half the training and assignment
NPROBE = 16
# Threads writing a shard's layers, and building flat FAISS indexes (Parquet, numpy and faiss
# release the GIL): during the forward at the lowest priority, in the gaps its own threads
# leave; after it (the last shard) on every CPU of a 2-CPU machine
WRITE_THREADS = 2
# Vector Parquet columns: dictionary encoding and statistics are useless on float vectors and
# cost most of the write; random floats barely compress, so no codec either
VECTOR_WRITE = {"compression": "none", "use_dictionary": False, "write_statistics": False}


@dataclass
class LineRows:
    """One line, encoded: its tokens (special ones included) and vectors at the chosen layers."""

    line: int
    tokens: list[str]  # display labels (the line's own characters)
    word_index: list[int]  # per token, its word's index in the line; -1 for a special token
    starts: list[int]
    ends: list[int]
    words: list[str]  # per word, its characters
    token_vectors: np.ndarray  # float32 [K, T, D], maybe a view into its batch's tensor
    line_vector: np.ndarray  # float32 [K, D], mean over the tokens (as ``extract``'s mean)
    # float32 [K, W, D], each word's mean over its pieces (``word_means``); None when not asked
    # for: a shard's writer averages them from the token vectors itself
    word_vectors: np.ndarray | None


@dataclass
class Forwarded:
    """One line after the forward pass, before its labels and word means (``label_lines``),
    which a local build computes on the shard writer's thread, beside the next forward."""

    line: int
    encoding: object  # the tokenizer's ``Encoding`` of the line
    text: str  # the characters of the line that were read
    tokens: int  # T, special tokens included
    token_vectors: np.ndarray  # float32 [K, T, D], a view into its batch's tensor
    line_vector: np.ndarray  # float32 [K, D]


def _limit(encoder: Encoder, max_tokens: int | None) -> int:
    return min(max_tokens or encoder.facts.max_tokens, encoder.facts.max_tokens)


def forward_lines(
    encoder: Encoder,
    lines: Sequence[int],
    texts: Sequence[str],
    layers: list[int],
    batch_size: int,
    max_tokens: int | None = None,
) -> list[Forwarded]:
    """``texts`` (numbered ``lines``) through the model, in the given order, from
    ``viz.extract``'s batches (shortest first, so little padding): vectors only."""
    limit = _limit(encoder, max_tokens)
    read = [text[: max_chars(limit)] for text in texts]
    encoded = tokenize_cut(encoder, read, limit)  # once: the forward's, and the offsets and words
    out: list[Forwarded | None] = [None] * len(texts)
    batches = _forward_batches(encoder, texts, layers, batch_size, limit, encoded=encoded)
    for index, hidden, mask in batches:
        with torch.inference_mode():
            m = mask[None, :, :, None].to(hidden.dtype)  # [1, B, T, 1]
            pooled = ((hidden * m).sum(dim=2) / m.sum(dim=2).clamp(min=1.0)).transpose(0, 1)
        per_text = hidden.permute(1, 0, 2, 3).float().cpu().numpy()  # [B, K, T, D]
        pooled_np = pooled.float().cpu().numpy()  # [B, K, D]
        for b, (i, n) in enumerate(zip(index, mask.sum(dim=1).tolist())):
            # a view: written once, later
            vectors = per_text[b, :, :n]
            out[i] = Forwarded(
                int(lines[i]), encoded.encodings[i], read[i], n, vectors, pooled_np[b]
            )
    return out  # type: ignore[return-value]


def label_lines(
    encoder: Encoder, forwarded: Sequence[Forwarded], word_vectors: bool = True
) -> list[LineRows]:
    """Each forwarded line's token labels, words and offsets (Python on the tokenizer's lists),
    and with ``word_vectors`` its words' mean vectors."""
    unknown = getattr(encoder.tokenizer, "unk_token", None)
    out = []
    # plain lists throughout, as the tokenizer gives them: the label functions index them
    # element by element, several times slower on numpy arrays
    for f in forwarded:
        enc, n, text = f.encoding, f.tokens, f.text
        special = enc.special_tokens_mask[:n]
        word_ids = [-1 if w is None or sp else w for w, sp in zip(enc.word_ids[:n], special)]
        offsets = enc.offsets[:n]
        zeros = [0] * n
        shown = display_tokens(
            tuple(enc.tokens[:n]), special, word_ids, offsets, zeros, text, None, unknown
        )
        groups = [g for g in word_groups(word_ids) if word_ids[g[0]] >= 0]
        word_index = [-1] * n
        for w, group in enumerate(groups):
            for t in group:
                word_index[t] = w
        means = None
        if word_vectors:
            means = word_means(f.token_vectors, np.zeros(n, np.int64), np.array(word_index))
        out.append(
            LineRows(
                line=f.line,
                tokens=list(shown),
                word_index=word_index,
                starts=[o[0] for o in offsets],
                ends=[o[1] for o in offsets],
                words=word_texts(groups, shown, offsets, zeros, text, None),
                token_vectors=f.token_vectors,
                line_vector=f.line_vector,
                word_vectors=means,
            )
        )
    return out


# A token covers at least one byte of its text, but for a SentencePiece word's leading mark,
# which may cover none: a line of fewer bytes than this short of the limit cannot be cut
ZERO_WIDTH_TOKENS = 8


def count_cuts(
    encoder: Encoder, texts: Sequence[str], max_tokens: int | None = None, chunk: int = 1024
) -> tuple[int, int]:
    """How many of ``texts`` the index cuts: (longer than ``max_tokens`` tokens, longer than
    ``max_chars`` of it, cut before tokenising). Only lines long enough to be cut are
    tokenised, so a corpus of sentences costs no tokenising here."""
    limit = _limit(encoder, max_tokens)
    chars = max_chars(limit)
    cut_chars = sum(1 for text in texts if len(text) > chars)
    bytes_short = limit - ZERO_WIDTH_TOKENS
    long = [text[:chars] for text in texts if len(text) >= bytes_short // 4 and
            len(text.encode("utf-8", "surrogatepass")) >= bytes_short]  # fmt: skip
    cut = 0
    for start in range(0, len(long), chunk):
        encoded = tokenize_cut(encoder, long[start : start + chunk], limit)
        cut += sum(1 for e in encoded.encodings or [] if e.overflowing)
    return cut, cut_chars


def encode_lines(
    encoder: Encoder,
    lines: Sequence[int],
    texts: Sequence[str],
    layers: list[int],
    batch_size: int,
    max_tokens: int | None = None,
) -> list[LineRows]:
    """``LineRows`` for ``texts`` (numbered ``lines``), in the given order: ``forward_lines``
    then ``label_lines``."""
    return label_lines(
        encoder, forward_lines(encoder, lines, texts, layers, batch_size, max_tokens)
    )


def word_means(vectors: np.ndarray, line: np.ndarray, word_index: np.ndarray) -> np.ndarray:
    """Each word's mean over its pieces: token vectors [..., N, D] with, per token, its line and
    its word's index in the line (-1 for a special token; a word's pieces are consecutive)
    -> [..., W, D], in token order. One definition for a query's words, a shard's and an
    older shard's averaged again; summed in the same order, so the same bits for a line
    alone and within its shard."""
    keep = np.flatnonzero(word_index >= 0)
    ln, wi = line[keep], word_index[keep]
    d = vectors.shape[-1]
    if not len(keep):
        return np.zeros((*vectors.shape[:-2], 0, d), np.float32)
    starts = np.flatnonzero(np.r_[True, (ln[1:] != ln[:-1]) | (wi[1:] != wi[:-1])])
    counts = np.diff(np.r_[starts, len(keep)])
    first = keep[starts]  # each word's first piece
    sums = np.take(vectors, first, axis=-2)  # a copy
    # then each word's j-th piece, for the words that have one: most words are one piece, so a
    # few passes over ever fewer rows (np.add.reduceat is 5 times slower on rows of D floats)
    for j in range(1, int(counts.max())):
        more = np.flatnonzero(counts > j)
        sums[..., more, :] += np.take(vectors, first[more] + j, axis=-2)
    sums /= counts[:, None].astype(np.float32)
    return sums


# ---------------------------------------------------------------- the folder


def fingerprint(texts: Sequence[str], labels: Sequence[str] | None) -> str:
    """What identifies an input: a resumed run must read the same lines and labels."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    for label in labels or ():
        h.update(b"\x01" + label.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def model_identity(encoder: Encoder) -> dict:
    """What an index must share with the model a query runs: name, type and sizes."""
    f = encoder.facts
    return {
        "model": encoder.name,
        "model_type": f.model_type,
        "num_layers": f.num_layers,
        "hidden_size": f.hidden_size,
    }


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and value.get("format") == FORMAT else None


def _vector_table(vectors: np.ndarray) -> pa.Table:
    """[N, D] float32 -> a table with one column ``vector`` of fixed-size binary values, each
    a row's D little-endian float32 (the array's own buffer, no copy). Parquet writes those
    bytes as they are; a list of D floats would cost a repetition and a definition level per
    float, 3-4 times the CPU of the whole write."""
    n, d = vectors.shape
    data = np.ascontiguousarray(vectors, dtype="<f4")
    column = pa.Array.from_buffers(pa.binary(d * 4), n, [None, pa.py_buffer(data)])
    return pa.table({"vector": column})


def read_vectors(path: Path) -> np.ndarray:
    """A ``vector`` column written by ``_vector_table`` -> [N, D] float32."""
    column = pq.read_table(path, columns=["vector"]).column("vector").combine_chunks()
    d = column.type.byte_width // 4
    if not len(column):
        return np.zeros((0, d), np.float32)
    flat = np.frombuffer(column.buffers()[1], "<f4", len(column) * d, column.offset * d * 4)
    return flat.reshape(-1, d).astype(np.float32, copy=False)


def write_shard(
    folder: Path,
    number: int,
    rows: list[LineRows],
    texts: Sequence[str],
    labels: Sequence[str] | None,
    layers: list[int],
) -> int:
    """Shard ``number`` of ``rows`` (consecutive lines; ``texts`` and ``labels`` are theirs, in
    the same order), written beside its place and renamed into it whole; returns its lines."""
    shards = folder / SHARDS
    final = shards / f"{number:05d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{number:05d}.", suffix=".partial", dir=shards))
    try:
        numbers = np.array([r.line for r in rows], np.int64)
        counts = np.array([len(r.tokens) for r in rows], np.int64)
        widx = np.array([w for r in rows for w in r.word_index], np.int32)  # [sum T]
        line_col = np.repeat(numbers, counts)
        pos = np.arange(len(widx), dtype=np.int32) - np.repeat(np.cumsum(counts) - counts, counts)
        start = np.array([x for r in rows for x in r.starts], np.int32)
        end = np.array([x for r in rows for x in r.ends], np.int32)
        tok = [t for r in rows for t in r.tokens]
        # a token's word: its word's characters, or its own label for a special token
        word_labels = [w for r in rows for w in r.words]
        line_words = np.array([len(r.words) for r in rows], np.int64)
        word_of = np.repeat(np.cumsum(line_words) - line_words, counts) + widx  # into word_labels
        word = [word_labels[g] if w >= 0 else t for t, w, g in zip(tok, widx, word_of.tolist())]
        # a word's pieces are consecutive tokens: runs of one (line, word index)
        keep = np.flatnonzero(widx >= 0)
        k_line, k_w = line_col[keep], widx[keep]
        edge = np.r_[True, (k_line[1:] != k_line[:-1]) | (k_w[1:] != k_w[:-1])][: len(keep)]
        firsts = keep[edge]
        lasts = keep[np.r_[edge[1:], True]] if len(keep) else keep
        i32 = pa.int32()
        pq.write_table(
            pa.table(
                {
                    "line": pa.array(line_col, pa.int64()),
                    "position": pa.array(pos, i32),
                    "token": pa.array(tok, pa.string()),
                    "word": pa.array(word, pa.string()),
                    "word_index": pa.array(widx, i32),
                    "start": pa.array(start, i32),
                    "end": pa.array(end, i32),
                }
            ),
            tmp / "tokens.parquet",
        )
        pq.write_table(
            pa.table(
                {
                    "line": pa.array(line_col[firsts], pa.int64()),
                    "position": pa.array(pos[firsts], i32),
                    "word": pa.array(word_labels, pa.string()),
                    "start": pa.array(start[firsts], i32),
                    "end": pa.array(end[lasts], i32),
                    "pieces": pa.array((lasts - firsts + 1).astype(np.int32), i32),
                }
            ),
            tmp / "words.parquet",
        )
        pq.write_table(
            pa.table(
                {
                    "line": pa.array(numbers, pa.int64()),
                    "text": pa.array(list(texts), pa.string()),
                    "label": pa.array(
                        list(labels) if labels is not None else [""] * len(rows), pa.string()
                    ),
                }
            ),
            tmp / "lines.parquet",
        )

        def layer_files(k: int, layer: int) -> None:
            name = layer_name(layer)
            tokens = np.concatenate([r.token_vectors[k] for r in rows])  # [sum T, D]
            pq.write_table(_vector_table(tokens), tmp / f"tokens-{name}.parquet", **VECTOR_WRITE)
            lines_v = np.stack([r.line_vector[k] for r in rows])
            pq.write_table(_vector_table(lines_v), tmp / f"lines-{name}.parquet", **VECTOR_WRITE)
            means = word_means(tokens, line_col, widx)  # [W, D]
            means /= np.maximum(np.sqrt(np.einsum("wd,wd->w", means, means)), 1e-12)[:, None]
            np.save(tmp / f"words-{name}.npy", means)

        with ThreadPoolExecutor(WRITE_THREADS, initializer=_yield_to_forward) as pool:
            list(pool.map(layer_files, range(len(layers)), layers))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return len(rows)


def _word_means(folder: Path, name: str, mapped: bool = True) -> Iterator[np.ndarray]:
    """Per shard, the words' normalised mean vectors at layer ``name`` [W, D], in word order:
    kept beside the shard when it was written, else averaged again from its token vectors and
    kept (an exact layer's index is filled from those files). ``mapped``: the kept files
    mapped (a pass that reads a few rows of each); else read (a pass that reads every row:
    one read costs less than a page fault per 4 KiB)."""
    for shard in sorted((folder / SHARDS).glob("[0-9]" * 5)):
        kept = shard / f"words-{name}.npy"
        if kept.exists():
            yield np.load(kept, mmap_mode="r" if mapped else None)  # faiss copies what it keeps
            continue
        vectors = read_vectors(shard / f"tokens-{name}.parquet")
        table = pq.read_table(shard / "tokens.parquet", columns=["line", "word_index"])
        line = table.column("line").to_numpy()
        widx = table.column("word_index").to_numpy()
        means = normalise(word_means(vectors, line, widx))
        tmp = shard / f".words-{name}.npy.partial"
        with tmp.open("wb") as f:
            np.save(f, means)
        os.replace(tmp, kept)
        yield means


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit rows as a new float32 array, normalised in place after one copy."""
    out = np.array(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("...d,...d->...", out, out))
    out /= np.maximum(norms, 1e-12)[..., None]
    return out


def ivf_lists(words: int) -> int:
    """Inverted lists for ``words`` vectors: the power of two at or under sqrt(n) / 2, so that a
    list holds 2 sqrt(n) to 4 sqrt(n) vectors and the ``NPROBE`` lists probed are a few per cent
    of the index. Assigning costs n times the lists and training (``TRAIN_PER_LIST`` points a
    list) the square of the lists, so not more."""
    return max(1, int(2 ** np.floor(np.log2(max(words, 1) ** 0.5 / 2))))


def flat_index(blocks: Iterable[np.ndarray], d: int):
    """An exact inner-product index of the vectors of ``blocks`` ([W, D] each, in word order)."""
    import faiss

    index = faiss.IndexFlatIP(d)
    for block in blocks:
        if len(block):
            index.add(block)
    return index


def _faiss_index(blocks: Callable[..., Iterable[np.ndarray]], approximate_above: int, ondisk: Path):
    """The approximate index of one layer's word vectors, trained and laid out, with the
    function that fills its lists (``_ivf_on_disk``), or None for an exact one (filled from the
    shards when opened); and its description for the manifest.
    ``blocks()`` yields the vectors shard by shard, afresh each call: each pass holds one
    shard's block beside the index, not every shard's at once (memory-mapped blocks count in
    the process's resident memory while they are mapped). An approximate index keeps its
    vectors in ``ondisk`` (see ``_ivf_on_disk``)."""
    import faiss

    n, d = 0, None
    for block in blocks():
        n, d = n + len(block), block.shape[1]
    if n <= approximate_above:
        return None, {"kind": "IndexFlatIP", "ntotal": n}  # filled when opened: flat_index
    lists = ivf_lists(n)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = TRAIN_ITERATIONS
    step = max(1, n // (TRAIN_PER_LIST * lists))
    sample = np.concatenate([np.array(b[::step]) for b in blocks()])  # copies: the maps go
    index.train(np.ascontiguousarray(sample))
    del sample
    fill = _ivf_on_disk(index, blocks, ondisk)
    index.nprobe = min(NPROBE, lists)
    kind = {"kind": "IndexIVFFlat", "nlist": lists, "nprobe": index.nprobe, "ondisk": True}
    return (index, fill), kind


@contextlib.contextmanager
def faiss_quiet() -> Iterator[None]:
    """File descriptor 1 points at the null device meanwhile (a few milliseconds): faiss's C++
    prints notes meant for its developers there ("resizing ... to ... bytes"), which would
    break the CLI's ``--json`` answer and mean nothing to a user."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.close(null)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _ivf_on_disk(
    index, blocks: Callable[..., Iterable[np.ndarray]], ondisk: Path
) -> Callable[[], None]:
    """Lay out the trained, empty IVF ``index``'s inverted lists in the file ``ondisk``, which
    searches map (faiss's ``OnDiskInvertedLists``), and return the function that fills them
    with the vectors of ``blocks()``. Two passes: the first, here, assigns each vector its list
    and counts the lists' sizes, so the file is laid out once, as faiss's own merge lays it out
    (list after list, codes then ids); the second, the function returned, writes each shard's
    vectors into their lists' places in the file. It is one thread's reading and writing, so
    it can run beside the next layer's training and assignment, which use every CPU. Memory
    stays at one shard's block and a list number per word, however large the corpus, and the
    vectors are copied once (no parts written and merged)."""
    import faiss

    ondisk.unlink(missing_ok=True)
    nlist, code_size = index.nlist, index.code_size
    # Each vector's list, its nearest centroid, by torch's matrix product: 4-5 times faster than
    # faiss's quantizer search on this machine, the same lists (a query's nearest centroid is
    # its copy's, so its copies stay in the first list probed)
    centroids = torch.from_numpy(index.quantizer.reconstruct_n(0, nlist)).T  # [D, lists]
    assigned: list[np.ndarray] = []
    for block in blocks(mapped=False):
        with torch.inference_mode():
            near = (torch.from_numpy(block) @ centroids).argmax(dim=1)  # [n]
        assigned.append(near.numpy().astype(np.int32))
    every = np.concatenate(assigned) if assigned else np.zeros(0, np.int32)
    sizes = np.bincount(every, minlength=nlist).astype(np.uint64)
    del every
    lists = faiss.OnDiskInvertedLists(nlist, code_size, str(ondisk))
    lists.set_all_lists_sizes(faiss.swig_ptr(sizes))
    with faiss_quiet():  # faiss prints the file's resizing
        lists.update_totsize(int(sizes.sum()) * (8 + code_size))
    # where each list's codes and ids begin, as ``set_all_lists_sizes`` placed them
    places = np.r_[0, np.cumsum(sizes.astype(np.int64) * (8 + code_size))[:-1]]
    codes_at, ids_at = places, places + sizes.astype(np.int64) * code_size

    def fill() -> None:
        filled = np.zeros(nlist, np.int64)
        start = 0
        # written through the file, not the mapping: the page cache is the same, and a write
        # costs less than a page fault per 4 KiB of a new file
        fd = os.open(ondisk, os.O_WRONLY)
        try:
            for block, near in zip(blocks(mapped=False), assigned):
                order = np.argsort(near, kind="stable")  # by list, word order kept within each
                codes = block[order].view(np.uint8)  # [n, 4 D], a copy
                ids = (order + start).astype(np.int64)
                by_list = near[order]
                firsts = np.flatnonzero(np.r_[True, by_list[1:] != by_list[:-1]]).tolist()
                for a, b in zip(firsts, [*firsts[1:], len(order)]) if len(order) else ():
                    k = int(by_list[a])
                    os.pwrite(fd, codes[a:b], int(codes_at[k] + filled[k] * code_size))
                    os.pwrite(fd, ids[a:b], int(ids_at[k] + filled[k] * 8))
                    filled[k] += b - a
                start += len(order)
        finally:
            os.close(fd)
        index.replace_invlists(lists, True)
        lists.this.disown()  # the index owns it now
        index.ntotal = start

    return fill


def _build_faiss(folder: Path, layers: list[int], approximate_above: int) -> tuple[int, dict]:
    """Every approximate layer's FAISS index: each layer trained and assigned in turn (faiss and
    torch use every CPU for each), its lists filled and written on a thread beside the next
    layer's; (words, kind per layer)."""
    import faiss

    def finish(index, fill: Callable[[], None], name: str) -> int:
        fill()
        tmp = folder / FAISS / f".{name}.index.partial"
        faiss.write_index(index, str(tmp))
        os.replace(tmp, folder / FAISS / f"{name}.index")
        return index.ntotal

    (folder / FAISS).mkdir(exist_ok=True)
    words, kinds = 0, {}
    with ThreadPoolExecutor(1, thread_name_prefix="viz-ivf-fill") as filler:
        filling = []  # at most one layer's lists wait to be filled while the next is trained
        for layer in layers:
            name = layer_name(layer)
            blocks = functools.partial(_word_means, folder, name)
            ondisk = folder / FAISS / f"{name}.ivfdata"
            built, kinds[name] = _faiss_index(blocks, approximate_above, ondisk)
            if built is None:
                words = kinds[name]["ntotal"]
                continue
            if filling:
                words = filling.pop().result()
            filling.append(filler.submit(finish, *built, name))
        if filling:
            words = filling.pop().result()
    return words, kinds


def _yield_to_forward() -> None:
    """The writer thread at the lowest priority: it then runs in the gaps the forward's torch
    threads leave (between their parallel regions) instead of taking a CPU from one of them,
    which stalls the others at the region's end. Linux's ``SCHED_IDLE``: a waking torch thread
    takes the CPU back at once, where a thread at nice 19 may keep it for the rest of its slice
    (bench/RESULTS.md §11)."""
    tid = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, 19)


@dataclass
class BuildResult:
    lines: int
    tokens: int
    words: int
    shards: int
    resumed: int  # shards found complete and kept
    layers: list[int] = field(default_factory=list)


def _prepare(folder: Path, plan: dict) -> int:
    """Check ``folder`` for a build of ``plan``; returns the number of complete shards kept."""
    if folder.exists() and not folder.is_dir():
        raise UserError("index_out_not_folder", path=str(folder))
    if not folder.exists():
        if not folder.parent.is_dir():
            raise UserError("out_folder_missing", folder=str(folder.parent))
        folder.mkdir()
    old = _read_json(folder / PLAN)
    if old is None:
        if any(folder.iterdir()):
            raise UserError("index_out_not_empty", path=str(folder))
    else:
        if old.get("version") != plan["version"]:
            raise UserError("index_version", path=str(folder), version=old.get("version"))
        if old.get("identity") != plan["identity"]:
            raise UserError(
                "index_other_model",
                path=str(folder),
                theirs=old.get("identity", {}).get("model"),
                ours=plan["identity"]["model"],
            )
        if old != plan and (folder / MANIFEST).exists():
            raise UserError(
                "index_complete_other",
                path=str(folder),
                lines=old.get("lines"),
                layers=", ".join(map(layer_name, old.get("layers", []))),
                model=old["identity"].get("model"),
            )
        if old != plan:
            raise UserError("index_other_input", path=str(folder))
    _write_json(folder / PLAN, plan)
    (folder / SHARDS).mkdir(exist_ok=True)
    for partial in (folder / SHARDS).glob(".*.partial"):
        shutil.rmtree(partial, ignore_errors=True)  # what an interrupted run was writing
    return sum(1 for _ in (folder / SHARDS).glob("[0-9]" * 5))


# (shard numbers to do, every shard's (first line, end)) -> (shard number, its rows), any order;
# rows None: the engine wrote that shard itself (``write_shard`` into the folder)
Engine = Callable[[list[int], list[tuple[int, int]]], Iterable[tuple[int, list[LineRows] | None]]]


def build_index(
    encoder: Encoder,
    texts: Sequence[str],
    labels: Sequence[str] | None,
    folder: Path,
    layers: list[int],
    batch_size: int = 32,
    max_tokens: int | None = None,
    shard_lines: int = SHARD_LINES,
    progress: Callable[[int], None] | None = None,
    engine: Engine | None = None,
    approximate_above: int = APPROXIMATE_ABOVE,
) -> BuildResult:
    """Index ``texts`` into ``folder``, resuming a build of the same plan. ``progress(n)`` is
    called with the lines done since the last call (resumed shards included once).
    ``engine(todo, spans)`` yields ``(shard number, rows)`` for the shards still to do, rows
    None for a shard it wrote itself; the default runs ``encode_lines`` here, one shard at a
    time."""
    if batch_size < 1:
        raise UserError("cli_batch_size")
    folder = Path(folder)
    limit = _limit(encoder, max_tokens)
    plan = {
        "format": FORMAT,
        "version": VERSION,
        "identity": model_identity(encoder),
        "layers": layers,
        "max_tokens": limit,
        "shard_lines": shard_lines,
        "lines": len(texts),
        "input": fingerprint(texts, labels),
        "labels": labels is not None,
    }
    if (folder / MANIFEST).exists() and _read_json(folder / PLAN) == plan:
        manifest = _read_json(folder / MANIFEST) or {}
        if progress:
            progress(len(texts))
        return BuildResult(
            len(texts), manifest.get("tokens", 0), manifest.get("words", 0),
            manifest.get("shards", 0), manifest.get("shards", 0), layers,
        )  # fmt: skip
    kept = _prepare(folder, plan)
    (folder / MANIFEST).unlink(missing_ok=True)
    spans = [(s, min(s + shard_lines, len(texts))) for s in range(0, len(texts), shard_lines)]
    todo = [n for n in range(len(spans)) if not (folder / SHARDS / f"{n:05d}").is_dir()]
    done = set(range(len(spans))) - set(todo)
    if progress and done:
        progress(sum(spans[n][1] - spans[n][0] for n in done))

    def local(todo: list[int], spans: list[tuple[int, int]]) -> Iterator[tuple[int, list]]:
        # Shards encoded SORT_SHARDS at a time, their lines sorted by length together, as
        # ``extract`` sorts its chunks: less padding (2% fewer tokens on the samples). The last
        # shard alone: what is written after the last forward pass stays one shard.
        head, last = todo[:-1], todo[-1:]
        groups = [head[i : i + SORT_SHARDS] for i in range(0, len(head), SORT_SHARDS)]
        groups += [last] if last else []
        for group in groups:
            numbers = [i for n in group for i in range(*spans[n])]
            done = forward_lines(
                encoder, numbers, [texts[i] for i in numbers], layers, batch_size, limit
            )
            for n in group:
                s, e = spans[n]
                yield n, done[: e - s]
                done = done[e - s :]

    def write(n: int, rows: list, texts: Sequence[str], labels: Sequence[str] | None) -> int:
        # the local engine's lines are labelled here, on the writer's thread: that Python then
        # runs while the next shard's forward passes hold no lock on the interpreter
        if rows and isinstance(rows[0], Forwarded):
            rows = label_lines(encoder, rows, word_vectors=False)
        return write_shard(folder, n, rows, texts, labels, layers)

    # A shard is written on a thread while the next ones are encoded: Parquet and numpy release
    # the GIL, so the writing takes the CPU time the forward passes leave; at most SORT_SHARDS
    # shards waiting to be written keeps memory at twice that many shards.
    with ThreadPoolExecutor(
        1, thread_name_prefix="viz-shard-writer", initializer=_yield_to_forward
    ) as writer:
        pending: list[Future] = []

        def wait(keep: int) -> None:
            while len(pending) > keep:
                done_lines = pending.pop(0).result()
                if progress:
                    progress(done_lines)

        for n, rows in (engine or local)(todo, spans):
            s, e = spans[n]
            if rows is None:  # written by the engine
                if progress:
                    progress(e - s)
                continue
            wait(SORT_SHARDS - 1)
            shard_labels = labels[s:e] if labels is not None else None
            pending.append(writer.submit(write, n, rows, texts[s:e], shard_labels))
            del rows
        wait(0)
    tokens = sum(
        pq.read_metadata(folder / SHARDS / f"{n:05d}" / "tokens.parquet").num_rows
        for n in range(len(spans))
    )
    words, kinds = _build_faiss(folder, layers, approximate_above)
    manifest = {**plan, "tokens": tokens, "words": words, "shards": len(spans), "faiss": kinds}
    _write_json(folder / MANIFEST, manifest)
    for name, kind in kinds.items():
        if kind["kind"] != "IndexFlatIP":
            for means in (folder / SHARDS).glob("[0-9]" * 5 + f"/words-{name}.npy"):
                means.unlink()  # in the inverted file's lists now
    return BuildResult(len(texts), tokens, words, len(spans), kept, layers)


# ---------------------------------------------------------------- reading an index


class CorpusIndex:
    """An index folder opened for queries; tables and FAISS indexes are read once, lazily."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise UserError("index_is_file", path=str(folder))
        if not folder.is_dir():
            raise UserError("index_missing", path=str(folder))
        manifest = _read_json(folder / MANIFEST)
        if manifest is None:
            if _read_json(folder / PLAN) is not None:
                raise UserError("index_incomplete", path=str(folder))
            raise UserError("not_an_index", path=str(folder))
        if manifest.get("version") != VERSION:
            raise UserError("index_version", path=str(folder), version=manifest.get("version"))
        self.folder, self.manifest = folder, manifest
        self.layers: list[int] = list(manifest["layers"])
        self._faiss: dict[int, object] = {}
        self._tables: dict[str, pa.Table] = {}

    @property
    def identity(self) -> dict:
        return self.manifest["identity"]

    def check_model(self, encoder: Encoder) -> None:
        if model_identity(encoder) != self.identity:
            raise UserError(
                "index_other_model",
                path=str(self.folder),
                theirs=self.identity.get("model"),
                ours=encoder.name,
            )

    def _shards(self) -> list[Path]:
        return [self.folder / SHARDS / f"{n:05d}" for n in range(self.manifest["shards"])]

    def table(self, name: str) -> pa.Table:
        """``tokens``, ``words`` or ``lines``: every shard's table, concatenated."""
        if name not in self._tables:
            self._tables[name] = pa.concat_tables(
                [pq.read_table(s / f"{name}.parquet") for s in self._shards()]
            )
        return self._tables[name]

    def texts(self) -> list[str]:
        return self.table("lines").column("text").to_pylist()

    def labels(self) -> list[str]:
        return self.table("lines").column("label").to_pylist()

    def line_vectors(self, layer: int) -> np.ndarray:
        """[N, D] mean-pooled line vectors at ``layer``."""
        self._check_layer(layer)
        name = layer_name(layer)
        return np.concatenate([read_vectors(s / f"lines-{name}.parquet") for s in self._shards()])

    def token_vectors(self, layer: int) -> Iterator[np.ndarray]:
        """Per shard, [T, D] token vectors at ``layer`` (rows of the ``tokens`` table)."""
        self._check_layer(layer)
        for s in self._shards():
            yield read_vectors(s / f"tokens-{layer_name(layer)}.parquet")

    def _check_layer(self, layer: int) -> None:
        if layer not in self.layers:
            raise UserError(
                "index_layer_missing",
                layer=layer_name(layer),
                layers=", ".join(map(layer_name, self.layers)),
            )

    def faiss(self, layer: int):
        self._check_layer(layer)
        if layer not in self._faiss:
            import faiss

            name = layer_name(layer)
            kind = self.manifest.get("faiss", {}).get(name, {})
            if kind.get("kind", "IndexFlatIP") == "IndexFlatIP":
                words = (np.load(s / f"words-{name}.npy", mmap_mode="r") for s in self._shards())
                index = flat_index(words, self.identity["hidden_size"])  # faiss copies them
            else:
                # the lists are mapped from the .ivfdata file, found beside the index wherever
                # the folder now is
                path = str(self.folder / FAISS / f"{name}.index")
                with faiss_quiet():  # faiss prints that the folder moved
                    index = faiss.read_index(path, faiss.IO_FLAG_ONDISK_SAME_DIR)
                index.nprobe = kind["nprobe"]
            self._faiss[layer] = index
        return self._faiss[layer]

    def faiss_kind(self, layer: int) -> str:
        """``IndexFlatIP`` (exact) or ``IndexIVFFlat`` (approximate) for ``layer``."""
        self._check_layer(layer)
        return self.manifest.get("faiss", {}).get(layer_name(layer), {}).get("kind", "IndexFlatIP")
