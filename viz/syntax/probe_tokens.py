"""Which layer knows what: a cross-validated linear probe per layer on word vectors (a word's
pieces averaged) for part of speech, entity type or dependency label, as in Tenney et al.
2019's layer-wise probing, with the majority-class and embedding-layer baselines beside it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from viz.analysis.probe import MAX_FOLDS, ProbeScore, probe_layers, within_budget
from viz.errors import UserError
from viz.syntax import TASKS
from viz.syntax.annotate import Annotation, word_pieces

# Tenney, Das & Pavlick 2019, "BERT Rediscovers the Classical NLP Pipeline", Table 1 (BERT-large,
# 24 layers): the expected layer E_Δ[ℓ] of their cumulative scoring for POS, Entities and Deps.
# (their dependency labelling). Only BERT-large was measured: shown at the same share of the
# depth of the model probed, a rough guide.
TENNEY_EXPECTED = {"pos": 3.39, "ner": 4.64, "dep": 5.69}
TENNEY_LAYERS = 24
MAX_WORDS = 3000  # words a run probes (a seeded sample keeping each label's share): ~1 min
MIN_PER_CLASS = MAX_FOLDS  # rarer labels are left out so every fold sees every label


def word_labels(annotation: Annotation, task: str) -> list[str | None]:
    """One label per annotator word for ``task``; None where the annotator gives none."""
    if task not in TASKS:
        raise UserError("probe_task_unknown", task=task, choices=", ".join(TASKS))
    if task == "dep" and not annotation.has_parse:
        raise UserError("syntax_no_parse", annotator=annotation.annotator)
    if task == "ner" and not annotation.has_entities:
        raise UserError("syntax_no_entities", annotator=annotation.annotator)
    if task == "pos":
        return [w.pos for w in annotation.words]
    if task == "ner":
        return [w.ent for w in annotation.words]
    return [w.dep or None for w in annotation.words]


def word_vectors(hidden_states: np.ndarray, token_word: np.ndarray, num_words: int) -> np.ndarray:
    """[L+1, T, D] -> [W, L+1, D]: each word's pieces averaged; NaN for a word without tokens."""
    out = np.full((num_words, hidden_states.shape[0], hidden_states.shape[2]), np.nan, np.float32)
    for w, pieces in enumerate(word_pieces(token_word, num_words)):
        if pieces:
            out[w] = hidden_states[:, pieces].mean(axis=1)
    return out


@dataclass(frozen=True)
class TokenProbe:
    task: str
    scores: list[ProbeScore]  # one per layer, 0 = embeddings
    majority: float  # the share of the commonest label: what always guessing it scores
    majority_label: str
    words: int  # words probed
    labels: int  # distinct labels probed
    left_out: int  # words whose label was too rare to cross-validate, or not probed (budget)
    expected_layer: float  # Tenney's E_Δ[ℓ] from these scores
    tenney_layer: float  # Tenney's BERT-large figure scaled to this model's depth

    @property
    def embedding(self) -> float:
        return self.scores[0].mean

    @property
    def best(self) -> ProbeScore:
        return max(self.scores, key=lambda s: (round(s.mean, 6), -s.layer))


def expected_layer(means: np.ndarray) -> float:
    """Tenney et al.'s E_Δ[ℓ] = Σ ℓ·Δℓ / Σ Δℓ, with Δℓ = score(ℓ) − score(ℓ−1) (negative steps
    count as none), from one score per layer (0 = embeddings); 0 if no layer improves."""
    delta = np.clip(np.diff(np.asarray(means, dtype=np.float64)), 0, None)
    if delta.sum() <= 0:
        return 0.0
    return float((np.arange(1, len(means)) * delta).sum() / delta.sum())


def probe_words(
    features: np.ndarray,
    labels: list[str],
    task: str,
    num_layers: int,
    seed: int = 0,
    max_words: int = MAX_WORDS,
    progress: Callable[[float], None] | None = None,
) -> TokenProbe:
    """features [N, L+1, D] (one row per word), labels [N] -> a probe per layer."""
    counts = Counter(labels)
    keep = np.array([counts[y] >= MIN_PER_CLASS for y in labels], dtype=bool)
    rows = np.flatnonzero(keep)
    if len({labels[i] for i in rows}) < 2:
        raise UserError("probe_tokens_too_few", task=task, need=MIN_PER_CLASS)
    kept = [labels[i] for i in rows]
    sample = rows[within_budget(kept, np.ones(len(rows)), max_words, max_words, seed)]
    y = [labels[i] for i in sample]
    scores = probe_layers({"mean": features[sample]}, y, seed=seed, progress=progress)
    common, n = Counter(y).most_common(1)[0]
    means = np.array([s.mean for s in scores])
    return TokenProbe(
        task=task,
        scores=scores,
        majority=n / len(y),
        majority_label=common,
        words=len(y),
        labels=len(set(y)),
        left_out=len(labels) - len(y),
        expected_layer=expected_layer(means),
        tenney_layer=TENNEY_EXPECTED[task] * num_layers / TENNEY_LAYERS,
    )


def as_rows(probe: TokenProbe) -> dict:
    """The CLI's JSON object."""
    return {
        "task": probe.task,
        "words": probe.words,
        "labels": probe.labels,
        "left_out": probe.left_out,
        "majority": round(probe.majority, 4),
        "majority_label": probe.majority_label,
        "embedding": round(probe.embedding, 4),
        "expected_layer": round(probe.expected_layer, 2),
        "tenney_expected_layer": round(probe.tenney_layer, 2),  # at this model's depth
        "tenney_bert_large": TENNEY_EXPECTED[probe.task],  # of BERT-large's 24 layers
        "layers": [
            {"layer": s.layer, "accuracy": round(s.mean, 4), "std": round(s.std, 4)}
            for s in probe.scores
        ],
    }
