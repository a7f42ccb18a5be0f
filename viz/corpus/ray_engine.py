"""The Ray Data engine for ``index`` and ``extract``: the lines as a Parquet dataset, mapped in
batches by a pool of actors that each load the model once (``map_batches`` with a callable
class and ``concurrency=N``: Ray's actor-pool strategy), the results streamed back in input
order. Each actor runs the local engine's own code on its batch (``encode_lines``,
``pooled_embeddings``), so the vectors are the local engine's, up to padding in a different
batch (float32 noise, well under 1e-5).

With no address it starts a local cluster of 2 CPUs (one per actor) and stops it at the end;
with one (``auto``, ``ray://head:10001``) it joins that cluster and ships the lines through its
object store, so the workers need the package and the model, not this machine's files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from viz.corpus.index import LineRows, encode_lines
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


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[object]:
    """Ray, started here (local, 2 CPUs) or joined at ``address``; an already initialised Ray
    (a test session's, a notebook's) is used as it is and left running."""
    ray = _ray()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # progress goes to our own bar
    if ray.is_initialized():
        yield ray
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=LOCAL_CPUS,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError("ray_connect", address=address or "local", detail=str(err)) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _dataset(ray, table: pa.Table, address: str | None, folder: str, rows_per_call: int):
    """The lines as a Ray dataset in blocks of about ``rows_per_call`` rows (one block is one
    actor's work at a time, so one block would keep every other actor idle): a Parquet file
    for a local cluster, the object store when joining one (its workers cannot read this
    machine's temporary files)."""
    blocks = max(1, -(-len(table) // rows_per_call))
    if address:
        return ray.data.from_arrow(table).repartition(blocks)
    path = os.path.join(folder, "lines.parquet")
    pq.write_table(table, path)
    # read before the actors start: they hold every CPU, and the file listing task needs one
    return ray.data.read_parquet(path).materialize().repartition(blocks).materialize()


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
    """One actor: one model; a batch of lines in, one row per line out (``LineRows`` packed)."""

    def __init__(self, model, allow_pickle, layers, batch_size, max_tokens, cpus) -> None:
        from viz.models import load_encoder

        _threads(cpus)
        self.encoder = load_encoder(model, allow_pickle=allow_pickle)
        self.layers, self.batch_size, self.max_tokens = layers, batch_size, max_tokens

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = encode_lines(
            self.encoder,
            batch.column("line").to_pylist(),
            batch.column("text").to_pylist(),
            self.layers,
            self.batch_size,
            self.max_tokens,
        )
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
    """``build_index``'s engine on Ray Data: ``engine(todo, spans)`` yields whole shards."""

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
    ) -> None:
        self.model, self.allow_pickle, self.texts = model, allow_pickle, texts
        self.layers, self.batch_size, self.max_tokens = layers, batch_size, max_tokens
        self.address, self.actors, self.gpus = address, actors, gpus

    def __call__(self, todo: list[int], spans: list[tuple[int, int]]):
        if not todo:
            return
        lines = [i for n in todo for i in range(*spans[n])]
        shard_of = {i: n for n in todo for i in range(*spans[n])}
        waiting = {n: spans[n][1] - spans[n][0] for n in todo}
        got: dict[int, list[LineRows]] = {n: [] for n in todo}
        table = pa.table(
            {
                "line": pa.array(lines, pa.int64()),
                "text": pa.array([self.texts[i] for i in lines], pa.string()),
            }
        )
        with cluster(self.address) as ray, tempfile.TemporaryDirectory() as folder:
            _ordered(ray)
            cpus = actor_cpus(ray, self.actors)
            rows = self.batch_size * ROWS_PER_CALL
            ds = _dataset(ray, table, self.address, folder, rows).map_batches(
                _LineEncoder,
                fn_constructor_args=(
                    self.model,
                    self.allow_pickle,
                    self.layers,
                    self.batch_size,
                    self.max_tokens,
                    cpus,
                ),
                batch_size=rows,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=self.actors),
                num_cpus=cpus,
                num_gpus=self.gpus or None,
            )
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in _unpack(batch, len(self.layers)):
                    n = shard_of[row.line]
                    got[n].append(row)
                    waiting[n] -= 1
                    if not waiting[n]:
                        yield n, sorted(got.pop(n), key=lambda r: r.line)


class _Pooler:
    """One actor for ``extract``: a batch of lines in, their pooled vectors [K, D] out."""

    def __init__(self, model, allow_pickle, layers, pooling, batch_size, max_tokens, cpus):
        from viz.models import load_encoder

        _threads(cpus)
        self.encoder = load_encoder(model, allow_pickle=allow_pickle)
        self.layers, self.pooling = layers, pooling
        self.batch_size, self.max_tokens = batch_size, max_tokens

    def __call__(self, batch: pa.Table) -> pa.Table:
        from viz.extract import sentence_embeddings

        vectors = sentence_embeddings(
            self.encoder,
            batch.column("text").to_pylist(),
            self.layers,
            self.pooling,
            self.batch_size,
            self.max_tokens,
        )
        return pa.table(
            {
                "line": batch.column("line"),
                "vector": pa.array([v.tobytes() for v in vectors], pa.binary()),
            }
        )


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
) -> Iterator[np.ndarray]:
    """``viz.extract.stream_sentence_embeddings`` on Ray: ``[n, K, D]`` blocks in input order."""
    texts = list(lines)
    table = pa.table(
        {"line": pa.array(range(len(texts)), pa.int64()), "text": pa.array(texts, pa.string())}
    )
    with cluster(address) as ray, tempfile.TemporaryDirectory() as folder:
        _ordered(ray)
        cpus = actor_cpus(ray, actors)
        rows = batch_size * ROWS_PER_CALL
        ds = _dataset(ray, table, address, folder, rows).map_batches(
            _Pooler,
            fn_constructor_args=(
                model,
                allow_pickle,
                layers,
                pooling,
                batch_size,
                max_tokens,
                cpus,
            ),  # fmt: skip
            batch_size=rows,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus,
            num_gpus=gpus or None,
        )
        expected = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            numbers = batch.column("line").to_pylist()
            if numbers != list(range(expected, expected + len(numbers))):
                raise RuntimeError("Ray returned lines out of order")  # our bug: preserve_order
            expected += len(numbers)
            yield np.stack(
                [
                    np.frombuffer(v, np.float32).reshape(len(layers), -1)
                    for v in batch.column("vector").to_pylist()
                ]
            )
