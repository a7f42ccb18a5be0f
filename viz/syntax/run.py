"""Run a model over sentences for the linguistic lens: one trace per sentence with only the
arrays needed (attention for heads, hidden states for probes), annotated and aligned."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from viz.capture import trace
from viz.errors import UserError
from viz.models import Encoder
from viz.syntax.annotate import align, annotate_many, language_of
from viz.syntax.heads import HeadCounter, RelationScore
from viz.syntax.probe_tokens import TokenProbe, probe_words, word_labels, word_vectors

MAX_SENTENCES = 2000


def clean_sentences(lines: Sequence[str]) -> list[str]:
    """Non-blank lines, stripped; at most ``MAX_SENTENCES``."""
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise UserError("syntax_no_sentences")
    if len(texts) > MAX_SENTENCES:
        raise UserError("syntax_too_many", n=len(texts), limit=MAX_SENTENCES)
    return texts


def english_only(texts: list[str]) -> list[str]:
    """The heads need a parse, which only the English annotator gives."""
    for i, text in enumerate(texts):
        if language_of(text) != "en":
            raise UserError("syntax_not_english", line=i + 1)
    return texts


def syntax_heads(
    encoder: Encoder,
    texts: Sequence[str],
    progress: Callable[[float], None] | None = None,
    min_count: int = 1,
) -> tuple[list[RelationScore], HeadCounter]:
    texts = english_only(clean_sentences(texts))
    annotations = annotate_many(texts)
    f = encoder.facts
    counter = HeadCounter(f.num_layers, f.num_heads)
    for i, (text, annotation) in enumerate(zip(texts, annotations)):
        t = trace(encoder, text, only=("attentions",))
        token_word = align(annotation.words, t.offsets, t.special, t.segment_ids)
        counter.add(t.attentions, annotation, token_word)
        if progress:
            progress((i + 1) / len(texts))
    return counter.scores(min_count), counter


def token_probe(
    encoder: Encoder,
    texts: Sequence[str],
    task: str,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> TokenProbe:
    texts = clean_sentences(texts)
    annotations = annotate_many(texts)
    features, labels = [], []
    for i, (text, annotation) in enumerate(zip(texts, annotations)):
        wanted = word_labels(annotation, task)
        t = trace(encoder, text, only=("hidden_states",))
        token_word = align(annotation.words, t.offsets, t.special, t.segment_ids)
        vectors = word_vectors(t.hidden_states, token_word, len(annotation.words))
        for w, label in enumerate(wanted):
            if label is not None and not np.isnan(vectors[w, 0, 0]):
                features.append(vectors[w])
                labels.append(label)
        if progress:
            progress(0.3 * (i + 1) / len(texts))
    if not features:
        raise UserError("probe_tokens_too_few", task=task, need=2)

    def fitting(p: float) -> None:
        if progress:
            progress(0.3 + 0.7 * p)

    return probe_words(
        np.stack(features), labels, task, encoder.facts.num_layers, seed, progress=fitting
    )


def bundled_sentences(n: int = 300) -> list[str]:
    """``n`` English sentences from the bundled samples (viz/samples: reviews and headlines
    written for this project), taken alternately from each file, in file order."""
    import csv
    from importlib import resources

    columns = []
    for name in ("sentiment.csv", "topic.csv"):
        with resources.files("viz").joinpath("samples", name).open(encoding="utf-8") as f:
            columns.append([row["text"].strip() for row in csv.DictReader(f) if row["text"]])
    mixed = [text for pair in zip(*columns) for text in pair]
    return mixed[:n]
