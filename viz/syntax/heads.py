"""Which heads follow syntax: for each dependency relation, how often each head's most-attended
word is the dependent's governor (Clark et al. 2019, "What does BERT look at?").

As in Clark et al.'s code: attention is merged to words (to a word: the sum over its pieces;
from a word: the mean, ``viz.analysis.attention.merge_words``), special tokens are left out, a
word's attention to itself is ignored, and the prediction is the row's argmax. The baseline is
the best fixed offset per relation: always predict the word k to the left or right.

One special case, as in Clark et al.'s code (``evaluate_predictor``, "special case for poss",
section 4.2 of the paper): a possessor followed by its possessive ending ("brother" in "my
brother's car", poss of "car") is scored by the ending's prediction ("'s" -> "car"?), and so
is its baseline (the ending's position plus the offset).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from viz.analysis.attention import merge_words
from viz.errors import UserError
from viz.names import head_name
from viz.syntax.annotate import Annotation, word_pieces

OFFSETS = tuple(s * k for k in range(1, 6) for s in (-1, 1))  # nearest first: ties go to it
RELATIONS = (
    "det", "amod", "nsubj", "dobj", "obj", "pobj", "prep", "aux", "advmod", "compound", "poss",
)  # fmt: skip
POSSESSIVE_TAG = "POS"  # Penn Treebank's tag of the possessive ending ('s, ')


@dataclass(frozen=True)
class Arcs:
    """One sentence's dependency arcs over the words the model has tokens for."""

    dependents: np.ndarray  # int64 [A], indexes into the aligned words
    governors: np.ndarray  # int64 [A]
    relations: tuple[str, ...]  # [A]
    num_words: int  # aligned words
    skipped: int  # arcs with a word the model has no token for
    readers: np.ndarray  # int64 [A]: the word whose prediction is scored (see ``reader``)


def reader(annotation: Annotation, w: int) -> int:
    """The annotator word whose prediction scores word ``w``'s arc: ``w`` itself, or for a
    possessor followed by its possessive ending, that ending (Clark et al.'s poss rule)."""
    words = annotation.words
    nxt = w + 1
    if words[w].dep == "poss" and nxt < len(words) and words[nxt].tag == POSSESSIVE_TAG:
        return nxt
    return w


def sentence_arcs(annotation: Annotation, token_word: np.ndarray) -> tuple[Arcs, list[list[int]]]:
    """The arcs of ``annotation`` between words that have tokens, and those words' pieces."""
    if not annotation.has_parse:
        raise UserError("syntax_no_parse", annotator=annotation.annotator)
    pieces = word_pieces(token_word, len(annotation.words))
    keep = [w for w, p in enumerate(pieces) if p]
    position = {w: k for k, w in enumerate(keep)}
    deps, govs, rels, reads, skipped = [], [], [], [], 0
    for w, word in enumerate(annotation.words):
        if word.head is None or not word.dep:
            continue
        r = reader(annotation, w)
        if w in position and word.head in position and r in position:
            deps.append(position[w])
            govs.append(position[word.head])
            rels.append(word.dep)
            reads.append(position[r])
        else:
            skipped += 1
    arcs = Arcs(
        np.array(deps, dtype=np.int64),
        np.array(govs, dtype=np.int64),
        tuple(rels),
        len(keep),
        skipped,
        np.array(reads, dtype=np.int64),
    )
    return arcs, [pieces[w] for w in keep]


def word_attention(attentions: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """[L, H, T, T] -> [L, H, W, W] over the aligned words, self-attention zeroed (Clark et al.
    ignore it: it says nothing about which other word a word reads)."""
    merged = merge_words(attentions.astype(np.float64), groups)
    W = merged.shape[-1]
    merged[..., np.arange(W), np.arange(W)] = 0.0
    return merged


def predicted_governors(attentions: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """int64 [L, H, W]: for each aligned word, the word each head attends to most."""
    return word_attention(attentions, groups).argmax(axis=-1)


def one_head_arcs(
    attention: np.ndarray, annotation: Annotation, token_word: np.ndarray
) -> tuple[list[int], list[tuple[int, int, str]], list[tuple[int, int, float]]]:
    """For one head's attention [T, T]: the annotator words that have tokens (their indexes),
    the parse's arcs between them as (dependent, governor, relation), and each word's arc to
    the other word the head attends to most as (word, that word, its weight); positions count
    the kept words."""
    pieces = word_pieces(token_word, len(annotation.words))
    keep = [w for w, p in enumerate(pieces) if p]
    if len(keep) < 2:
        return keep, [], []
    merged = word_attention(attention[None, None], [pieces[w] for w in keep])[0, 0]
    best = merged.argmax(axis=-1)
    strongest = [(k, int(best[k]), float(merged[k, best[k]])) for k in range(len(keep))]
    position = {w: k for k, w in enumerate(keep)}
    parse = [
        (position[w], position[word.head], word.dep or "")
        for w, word in enumerate(annotation.words)
        if annotation.has_parse
        and word.head is not None
        and w in position
        and word.head in position
    ]
    return keep, parse, strongest


@dataclass(frozen=True)
class RelationScore:
    relation: str
    count: int
    accuracy: np.ndarray  # float [L, H]
    baseline: float  # the best fixed offset's accuracy
    baseline_offset: int  # that offset (negative: to the left)

    @property
    def best(self) -> tuple[int, int]:
        """(layer, head), 1-based, of the most accurate head (ties: the earlier)."""
        flat = int(np.argmax(self.accuracy))
        H = self.accuracy.shape[1]
        return flat // H + 1, flat % H + 1

    @property
    def best_accuracy(self) -> float:
        return float(self.accuracy.max())

    @property
    def best_head(self) -> str:
        return head_name(*self.best)


class HeadCounter:
    """Adds sentences one at a time (a trace's attention is dropped once counted)."""

    def __init__(self, num_layers: int, num_heads: int):
        self.shape = (num_layers, num_heads)
        self.correct: dict[str, np.ndarray] = {}
        self.counts: Counter = Counter()
        self.offset_hits: dict[str, np.ndarray] = {}
        self.sentences = 0
        self.skipped = 0

    def add(self, attentions: np.ndarray, annotation: Annotation, token_word: np.ndarray) -> None:
        arcs, groups = sentence_arcs(annotation, token_word)
        self.sentences += 1
        self.skipped += arcs.skipped
        if not len(arcs.dependents):
            return
        predicted = predicted_governors(attentions, groups)  # [L, H, W]
        hits = predicted[:, :, arcs.readers] == arcs.governors  # [L, H, A]
        offsets = np.array(OFFSETS)
        guess = arcs.readers[:, None] + offsets[None, :]  # [A, K]
        offset_hits = guess == arcs.governors[:, None]
        for a, rel in enumerate(arcs.relations):
            if rel not in self.correct:
                self.correct[rel] = np.zeros(self.shape, dtype=np.int64)
                self.offset_hits[rel] = np.zeros(len(OFFSETS), dtype=np.int64)
            self.correct[rel] += hits[:, :, a]
            self.offset_hits[rel] += offset_hits[a]
            self.counts[rel] += 1

    def scores(self, min_count: int = 1) -> list[RelationScore]:
        """One score per relation seen at least ``min_count`` times, most frequent first."""
        out = []
        for rel, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if n < min_count:
                continue
            k = int(np.argmax(self.offset_hits[rel]))
            out.append(
                RelationScore(
                    rel,
                    n,
                    self.correct[rel] / n,
                    float(self.offset_hits[rel][k] / n),
                    OFFSETS[k],
                )
            )
        return out


def as_rows(scores: list[RelationScore]) -> list[dict]:
    """The CLI's JSON rows: relation, count, best_head, accuracy, baseline (and its offset)."""
    return [
        {
            "relation": s.relation,
            "count": s.count,
            "best_head": s.best_head,
            "accuracy": round(s.best_accuracy, 4),
            "baseline": round(s.baseline, 4),
            "baseline_offset": s.baseline_offset,
        }
        for s in scores
    ]
