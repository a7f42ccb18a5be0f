"""Feed-forward neurons over a corpus: which tokens make a neuron of a layer fire most."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from viz.capture import trace
from viz.corpus.index import CorpusIndex
from viz.models import Encoder
from viz.tokens import clean_text


@dataclass(frozen=True)
class LayerActivations:
    """A layer's FFN activations for the corpus tokens: ``values[i]`` is ``tokens`` row i."""

    values: np.ndarray  # float16 [T, F] (half the memory; a ranking needs no more)
    rows: np.ndarray  # int64 [T]: row in the index's token table


def layer_activations(
    encoder: Encoder,
    index: CorpusIndex,
    layer: int,
    max_lines: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> LayerActivations:
    """Run every line (the first ``max_lines``) once and keep layer ``layer``'s (1-based) FFN
    activations, through the same capture as the app's trace; a blank line has no words."""
    index.check_model(encoder)
    texts = index.texts()[:max_lines]
    table = index.table("tokens")
    lines = table.column("line").to_numpy()
    starts = np.searchsorted(lines, np.arange(len(texts) + 1))
    values, rows = [], []
    for i, text in enumerate(texts):
        if text.strip():
            t = trace(encoder, clean_text(text), only=["ffn_activations"])
            act = t.ffn_activations[layer - 1]  # [T, F]
            n = min(len(act), starts[i + 1] - starts[i])
            values.append(act[:n].astype(np.float16))
            rows.append(np.arange(starts[i], starts[i] + n))
        if progress:
            progress((i + 1) / len(texts))
    F = encoder.facts.ffn_size
    return LayerActivations(
        np.concatenate(values) if values else np.zeros((0, F), np.float16),
        np.concatenate(rows) if rows else np.zeros(0, np.int64),
    )


def top_tokens(acts: LayerActivations, neuron: int, k: int = 20) -> list[tuple[int, float]]:
    """The ``k`` (token row, activation) pairs where ``neuron`` fires most, highest first."""
    column = acts.values[:, neuron].astype(np.float32)
    order = np.argsort(-column, kind="stable")[:k]
    return [(int(acts.rows[i]), float(column[i])) for i in order]


def top_neurons(activations: np.ndarray, k: int = 3) -> np.ndarray:
    """[T, F] activations of one sentence -> [T, k] the most active neurons of each token."""
    return np.argsort(-activations, axis=1, kind="stable")[:, :k]
