"""Jobs for the worker process beside the server (``viz.background.Worker``).

Each job is a module-level function of ``(report, *args)`` whose arguments and result pickle;
the worker loads its own encoders by name and keeps the last few for the next job.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from viz.analysis import probe as probing
from viz.background import WORKER_ENCODERS
from viz.extract import POOLINGS, shared_pooled_embeddings
from viz.models import Encoder, load_encoder


@functools.lru_cache(maxsize=WORKER_ENCODERS)
def encoder(name: str, allow_pickle: bool) -> Encoder:
    return load_encoder(name, allow_pickle=allow_pickle)


def probe_texts(
    report: Callable[[float], None],
    model: str,
    allow_pickle: bool,
    texts: Sequence[str],
    labels: Sequence[str],
    lengths: Sequence[int],
    max_tokens: int,
    batch_tokens: int,
) -> tuple[dict[str, np.ndarray], list[probing.ProbeScore]]:
    """The probe of ``texts``: their pooled vectors ``{pooling: [N, L+1, D]}`` (every text cut
    at ``max_tokens``) and a cross-validated score per pooling and layer."""
    features = shared_pooled_embeddings(
        encoder(model, allow_pickle),
        texts,
        POOLINGS,
        max_tokens,
        batch_tokens=batch_tokens,
        progress=lambda p: report(0.5 * p),
        lengths=lengths,
    )
    scores = probing.probe_layers(features, labels, progress=lambda p: report(0.5 + 0.5 * p))
    return features, scores
