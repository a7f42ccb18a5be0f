"""The Ray Data engine for ``index`` and ``extract``: the lines as a Ray dataset, mapped in
batches by a pool of actors that each load the model once (``map_batches`` with a callable
class and ``concurrency=N``: Ray's actor-pool strategy). Each actor runs the local engine's own
code on its batch (``forward_lines`` and ``label_lines``, ``pooled_embeddings``), so the
vectors are the local engine's, up to padding in a different batch (float32 noise, well under 1e-5).

With no address it starts a local cluster of 2 CPUs (one per actor) and stops it at the end;
with one (``auto``, ``ray://head:10001``) it joins that cluster and ships the lines through its
object store, so the workers need the package and the model, not this machine's files. The
lines go in as blocks the driver cuts (``from_arrow`` of slices: no task before the actors).
For ``index`` on a local cluster each actor writes its shards into the index folder itself
(``write_shard``) and returns one small row: the driver's work (unpacking every token's
vector, writing the Parquet) would otherwise compete with the actors for the same CPUs. On a
joined cluster, whose actors may run on machines that cannot reach the folder, the actors
return the rows and the driver writes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from viz.corpus.index import LineRows, forward_lines, label_lines, write_shard
from viz.errors import UserError

LOCAL_CPUS = 2
ROWS_PER_CALL = 8  # batches of the forward pass per actor call: sorted by length inside


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise UserError("ray_missing") from err
    return ray


# How long a joined cluster's head has to accept a connection: ray.init itself waits a minute
# or more for an address where nothing listens, and defers SIGTERM and Ctrl-C while it does
PROBE_SECONDS = 5.0
JOIN_SECONDS = 20.0  # how long a cluster that accepted the connection has to let us join
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` of ``ray://host:port``, ``host:port`` or ``[::1]:port``; None for ``auto``
    or an address without a port (Ray itself refuses those at once)."""
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def probe(address: str, seconds: float = PROBE_SECONDS) -> None:
    """Raise ``ray_unreachable`` unless something accepts a connection at ``address`` within
    ``seconds``. A local host is also tried at this machine's own address, where Ray connects
    instead (its head listens there)."""
    import socket

    parsed = _host_port(address)
    if parsed is None:
        return
    host, port = parsed
    hosts = [host]
    if host in LOCAL_HOSTS:
        with contextlib.suppress(Exception):
            hosts.append(_ray().util.get_node_ip_address())
    for candidate in hosts:
        try:
            socket.create_connection((candidate, port), timeout=seconds).close()
            return
        except OSError:
            continue
    raise UserError("ray_unreachable", address=address, seconds=f"{seconds:g}")


def _join(ray, address: str, options: dict, seconds: float | None = None) -> None:
    """``ray.init(address=...)`` on a thread of its own, waited for ``JOIN_SECONDS`` at most.
    Where something listens that is no Ray head, ray.init waits a minute or more inside Ray's
    C++ code, where the main thread would run no signal handler: here it keeps SIGTERM's
    default (Ray sets its own handler on the main thread only) and Ctrl-C stops the wait."""
    seconds = JOIN_SECONDS if seconds is None else seconds
    failed: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, **options)
        except BaseException as err:  # handed to the main thread
            failed.append(err)

    # Ray warns that it sets no SIGTERM handler off the main thread: the default is wanted
    logging.getLogger("ray").setLevel(logging.ERROR)
    thread = threading.Thread(target=init, name="viz-ray-join", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise UserError("ray_join_timeout", address=address, seconds=f"{seconds:g}")
    if failed:
        raise failed[0]


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[object]:
    """Ray, started here (local, 2 CPUs) or joined at ``address``; an already initialised Ray
    (a test session's, a notebook's) is used as it is and left running. Ray's own chatter
    (its warnings, its workers' output) stays off the terminal: its errors still show."""
    if address:
        probe(address)
    ray = _ray()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # progress goes to our own bar
    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            _join(ray, address, quiet)
        else:
            # "local": a new cluster, even where `ray start` once ran (ray.init would join it)
            ray.init(address="local", num_cpus=LOCAL_CPUS, include_dashboard=False, **quiet)
    except UserError:
        raise
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError("ray_connect", address=address or "local", detail=str(err)) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _dataset(ray, table: pa.Table, rows_per_block: int):
    """The lines as a Ray dataset in blocks of ``rows_per_block`` rows, cut here (one block is
    one actor's work at a time, so one block would keep every other actor idle). A read or a
    repartition would be a task, and a task needs a worker process of its own, started (and
    its imports paid) before the actors can start."""
    step = max(1, rows_per_block)
    return ray.data.from_arrow([table.slice(s, step) for s in range(0, max(len(table), 1), step)])


def _blocks(rows: int, rows_per_block: int) -> int:
    """How many blocks ``_dataset`` cuts."""
    return len(range(0, max(rows, 1), max(1, rows_per_block)))


def _pool(ray, actors: int, blocks: int):
    """``actors`` actors, each given one block at a time: a block queued behind a busy actor
    would wait while another, ready later, idles (the first actor up took every block). No
    more actors than blocks: one more would load its model for nothing (and Ray warns)."""
    size = max(1, min(actors, blocks))
    return ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1)


@contextlib.contextmanager
def _restarts(address: str | None) -> Iterator[dict]:
    """``map_batches``'s keywords for restarting actors. A local cluster's actors are not
    restarted: a crash there is a bug or the memory, which a restart would meet again, and Ray
    logs an error for every restartable actor of a pool (Ray Data passes its constructor's
    arguments through the object store). A joined cluster keeps Ray's restarts, for a lost
    node. Ray 2.60 (pinned) takes ``max_restarts`` only as a remote argument, which it warns
    is deprecated, though it names no other way yet: that one warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        yield {} if address else {"max_restarts": 0}


def _ordered(ray) -> None:
    ray.data.DataContext.get_current().execution_options.preserve_order = True


def actor_cpus(ray, actors: int) -> float:
    """CPUs per actor: one each, or a share when the cluster has fewer CPUs than actors."""
    total = float(ray.cluster_resources().get("CPU", LOCAL_CPUS))
    return max(0.1, min(1.0, total / actors))


def _threads(cpus: float) -> None:
    import torch

    torch.set_num_threads(max(1, round(cpus)))


class _LineEncoder:
    """One actor: one model; a batch of lines in, one row per line out (``LineRows`` packed),
    or, given the index folder, the batch (one whole shard) written there and one row out."""

    def __init__(
        self, model, allow_pickle, layers, batch_size, max_tokens, cpus, folder=None
    ) -> None:
        from viz.models import load_encoder

        _threads(cpus)
        self.encoder = load_encoder(model, allow_pickle=allow_pickle)
        self.layers, self.batch_size, self.max_tokens = layers, batch_size, max_tokens
        self.folder = folder

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        forwarded = forward_lines(
            self.encoder,
            batch.column("line").to_pylist(),
            texts,
            self.layers,
            self.batch_size,
            self.max_tokens,
        )
        # a shard written here needs no word means per line: its writer averages them
        rows = label_lines(self.encoder, forwarded, word_vectors=self.folder is None)
        if self.folder is not None:
            (shard,) = set(batch.column("shard").to_pylist())
            labels = batch.column("label").to_pylist() if "label" in batch.column_names else None
            lines = write_shard(Path(self.folder), shard, rows, texts, labels, self.layers)
            return pa.table({"shard": [shard], "lines": [lines]})
        return pa.table(
            {
                "line": pa.array([r.line for r in rows], pa.int64()),
                "meta": pa.array(
                    [json.dumps([r.tokens, r.word_index, r.starts, r.ends, r.words]) for r in rows]
                ),
                "tokens": pa.array([r.token_vectors.tobytes() for r in rows], pa.binary()),
                "pooled": pa.array([r.line_vector.tobytes() for r in rows], pa.binary()),
                "words": pa.array([r.word_vectors.tobytes() for r in rows], pa.binary()),
            }
        )


def _unpack(table: pa.Table, K: int) -> Iterator[LineRows]:
    for line, meta, tokens, pooled, words_v in zip(
        table.column("line").to_pylist(),
        table.column("meta").to_pylist(),
        table.column("tokens").to_pylist(),
        table.column("pooled").to_pylist(),
        table.column("words").to_pylist(),
    ):
        toks, word_index, starts, ends, words = json.loads(meta)
        line_vector = np.frombuffer(pooled, np.float32).reshape(K, -1)
        D = line_vector.shape[1]  # a line may have no tokens but its special ones, or no words
        yield LineRows(
            line=line,
            tokens=toks,
            word_index=word_index,
            starts=starts,
            ends=ends,
            words=words,
            token_vectors=np.frombuffer(tokens, np.float32).reshape(K, len(toks), D),
            line_vector=line_vector,
            word_vectors=np.frombuffer(words_v, np.float32).reshape(K, len(words), D),
        )


class RayEngine:
    """``build_index``'s engine on Ray Data: ``engine(todo, spans)`` yields whole shards, or,
    given ``folder`` (the index's) on a local cluster, their numbers once the actors have
    written them there."""

    def __init__(
        self,
        model: str,
        allow_pickle: bool,
        texts: Sequence[str],
        layers: list[int],
        batch_size: int,
        max_tokens: int | None,
        address: str | None = None,
        actors: int = LOCAL_CPUS,
        gpus: float = 0.0,
        labels: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> None:
        self.model, self.allow_pickle, self.texts = model, allow_pickle, texts
        self.layers, self.batch_size, self.max_tokens = layers, batch_size, max_tokens
        self.address, self.actors, self.gpus = address, actors, gpus
        self.labels = labels
        # a joined cluster's actors may run on machines that cannot reach the folder
        writes = folder is not None and not address
        self.folder = str(Path(folder).resolve()) if writes else None

    def __call__(self, todo: list[int], spans: list[tuple[int, int]]):
        if not todo:
            return
        lines = [i for n in todo for i in range(*spans[n])]
        columns = {
            "line": pa.array(lines, pa.int64()),
            "text": pa.array([self.texts[i] for i in lines], pa.string()),
        }
        if self.folder is not None:
            columns["shard"] = pa.array([n for n in todo for _ in range(*spans[n])], pa.int64())
            if self.labels is not None:
                columns["label"] = pa.array([self.labels[i] for i in lines], pa.string())
        table = pa.table(columns)
        with cluster(self.address) as ray:
            cpus = actor_cpus(ray, self.actors)
            if self.folder is not None:
                # a block, a call, a shard: the actor writes what it was given whole
                blocks = [table.slice(s, e - s) for s, e in _runs([spans[n] for n in todo])]
                ds = ray.data.from_arrow(blocks)
                batch_rows, count = None, len(blocks)
            else:
                _ordered(ray)
                batch_rows = self.batch_size * ROWS_PER_CALL
                ds = _dataset(ray, table, batch_rows)
                count = _blocks(len(table), batch_rows)
            with _restarts(self.address) as restarts:
                ds = ds.map_batches(
                    _LineEncoder,
                    fn_constructor_args=(
                        self.model,
                        self.allow_pickle,
                        self.layers,
                        self.batch_size,
                        self.max_tokens,
                        cpus,
                        self.folder,
                    ),
                    batch_size=batch_rows,
                    batch_format="pyarrow",
                    compute=_pool(ray, self.actors, count),
                    num_cpus=cpus,
                    num_gpus=self.gpus or None,
                    **restarts,
                )
            if self.folder is not None:
                for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                    for n in batch.column("shard").to_pylist():
                        yield n, None
                return
            shard_of = {i: n for n in todo for i in range(*spans[n])}
            waiting = {n: spans[n][1] - spans[n][0] for n in todo}
            got: dict[int, list[LineRows]] = {n: [] for n in todo}
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in _unpack(batch, len(self.layers)):
                    n = shard_of[row.line]
                    got[n].append(row)
                    waiting[n] -= 1
                    if not waiting[n]:
                        yield n, sorted(got.pop(n), key=lambda r: r.line)


def _runs(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each span's (start, end) in the table of the spans' lines laid end to end."""
    out, at = [], 0
    for s, e in spans:
        out.append((at, at + e - s))
        at += e - s
    return out


class _Pooler:
    """One actor for ``extract``: a batch of lines in, their pooled vectors [K, D] out, and
    the batch's counts for the summary (``ExtractStats``, as JSON on the batch's first row)."""

    def __init__(
        self, model, allow_pickle, layers, pooling, batch_size, max_tokens, cpus, longer_than
    ):
        from viz.models import load_encoder

        _threads(cpus)
        self.encoder = load_encoder(model, allow_pickle=allow_pickle)
        self.layers, self.pooling = layers, pooling
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.longer_than = longer_than

    def __call__(self, batch: pa.Table) -> pa.Table:
        from viz.extract import ExtractStats, sentence_embeddings

        stats = ExtractStats(longer_than=self.longer_than)
        vectors = sentence_embeddings(
            self.encoder,
            batch.column("text").to_pylist(),
            self.layers,
            self.pooling,
            self.batch_size,
            self.max_tokens,
            stats,
        )
        counts = {f: getattr(stats, f) for f in COUNTS}
        return pa.table(
            {
                "line": batch.column("line"),
                "vector": pa.array([v.tobytes() for v in vectors], pa.binary()),
                "stats": pa.array([json.dumps(counts)] + [None] * (len(vectors) - 1), pa.string()),
            }
        )


# what the actors count for extract's summary: every field of ExtractStats but its setting
COUNTS = ("blank", "cut", "cut_chars", "tokens", "unknown", "unknown_texts", "longer")


def stream_pooled(
    model: str,
    allow_pickle: bool,
    lines,
    layers: list[int],
    pooling: str,
    batch_size: int,
    max_tokens: int | None,
    address: str | None = None,
    actors: int = LOCAL_CPUS,
    gpus: float = 0.0,
    stats=None,
) -> Iterator[np.ndarray]:
    """``viz.extract.stream_sentence_embeddings`` on Ray: ``[n, K, D]`` blocks in input order;
    ``stats`` (an ``ExtractStats``) gets the actors' counts added up, as the local engine's."""
    texts = list(lines)
    table = pa.table(
        {"line": pa.array(range(len(texts)), pa.int64()), "text": pa.array(texts, pa.string())}
    )
    with cluster(address) as ray:
        _ordered(ray)
        cpus = actor_cpus(ray, actors)
        rows = batch_size * ROWS_PER_CALL
        ds = _dataset(ray, table, rows)
        with _restarts(address) as restarts:
            ds = ds.map_batches(
                _Pooler,
                fn_constructor_args=(
                    model,
                    allow_pickle,
                    layers,
                    pooling,
                    batch_size,
                    max_tokens,
                    cpus,
                    None if stats is None else stats.longer_than,
                ),  # fmt: skip
                batch_size=rows,
                batch_format="pyarrow",
                compute=_pool(ray, actors, _blocks(len(table), rows)),
                num_cpus=cpus,
                num_gpus=gpus or None,
                **restarts,
            )
        expected = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            numbers = batch.column("line").to_pylist()
            if numbers != list(range(expected, expected + len(numbers))):
                raise RuntimeError("Ray returned lines out of order")  # our bug: preserve_order
            expected += len(numbers)
            for counts in batch.column("stats").to_pylist():
                if counts is not None and stats is not None:
                    for name, value in json.loads(counts).items():
                        setattr(stats, name, getattr(stats, name) + value)
            yield np.stack(
                [
                    np.frombuffer(v, np.float32).reshape(len(layers), -1)
                    for v in batch.column("vector").to_pylist()
                ]
            )
