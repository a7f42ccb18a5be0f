"""Nearest corpus words to a word as it occurs in a text, at one layer (FAISS inner product of
unit vectors: the score is the cosine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.corpus.index import (
    CorpusIndex,
    encode_lines,
    forward_lines,
    label_lines,
    normalise,
    word_means,
)
from viz.errors import UserError
from viz.models import Encoder
from viz.tokens import clean_text


@dataclass(frozen=True)
class Neighbor:
    line: int  # 0-based line of the input
    position: int  # the word's first token in that line's tokens (special tokens counted)
    token: str  # the word (its pieces merged)
    context: str  # the line's text
    score: float  # cosine similarity
    start: int = 0  # the word's characters in ``context``
    end: int = 0
    label: str = ""

    def as_json(self, label: bool = False) -> dict:
        """The neighbour for ``--json``; its label too when the index has labels."""
        out = {
            "line": self.line,
            "position": self.position,
            "token": self.token,
            "context": self.context,
            "score": self.score,
        }
        return {**out, "label": self.label} if label else out


def words_of(encoder: Encoder, text: str, layers: list[int], max_tokens: int | None = None):
    """The words of ``text`` and their mean vectors: (labels, first positions, [K, W, D])."""
    rows = encode_lines(encoder, [0], [clean_text(text)], layers, 1, max_tokens)[0]
    first = [rows.word_index.index(w) for w in range(len(rows.words))]
    vectors = np.ascontiguousarray(rows.word_vectors)
    return rows.words, first, vectors


def find_word(words: list[str], word: str, occurrence: int = 1) -> int:
    """The index of the ``occurrence``-th word equal to ``word`` (case folded)."""
    wanted = word.strip().casefold()
    hits = [i for i, w in enumerate(words) if w.casefold() == wanted]
    _check_occurrence(word, words, len(hits), occurrence)
    return hits[occurrence - 1]


def _check_occurrence(word: str, words: list[str], hits: int, occurrence: int) -> None:
    if not hits:
        raise UserError("word_not_in_text", word=word, words=", ".join(words[:40]))
    if 1 <= occurrence <= hits:
        return
    if hits == 1:
        raise UserError("word_occurs_once", word=word, occurrence=occurrence)
    raise UserError("word_occurrences", word=word, occurrence=occurrence, count=hits)


@dataclass(frozen=True)
class Located:
    """A word of a query text: which of the text's words it spans (one, or a run of them:
    银行 is two words of the English WordPiece vocabulary, one per character), its mean vector
    per layer over their pieces, and how many of those pieces the model read as its unknown
    token."""

    words: list[int]
    vectors: np.ndarray  # float32 [K, D]
    pieces: int
    unknown: int
    text: str  # the word's characters in the text


def _spaced(text: str) -> str:
    return " ".join(text.split()).casefold()


def locate(
    encoder: Encoder,
    text: str,
    word: str,
    layers: list[int],
    occurrence: int = 1,
    max_tokens: int | None = None,
) -> Located:
    """The ``occurrence``-th run of consecutive words of ``text`` that reads ``word`` (case
    folded, any spaces between words as one), and its vectors at ``layers``."""
    text = clean_text(text)
    (forwarded,) = forward_lines(encoder, [0], [text], layers, 1, max_tokens)
    (rows,) = label_lines(encoder, [forwarded], word_vectors=False)
    index = np.array(rows.word_index)
    spans = [
        (min(rows.starts[t] for t in ts), max(rows.ends[t] for t in ts))
        for ts in (np.flatnonzero(index == w).tolist() for w in range(len(rows.words)))
    ]
    wanted = _spaced(word)
    runs = []
    for first in range(len(spans) if wanted else 0):
        for last in range(first, len(spans)):
            got = _spaced(forwarded.text[spans[first][0] : spans[last][1]])
            if got == wanted:
                runs.append((first, last))
            if len(got) >= len(wanted):
                break
    _check_occurrence(word, rows.words, len(runs), occurrence)
    first, last = runs[occurrence - 1]
    # the run as one word: the same sums in the same order as the index's own word means
    in_run = np.where((index >= first) & (index <= last), 0, -1)
    vectors = word_means(forwarded.token_vectors, np.zeros(len(index), np.int64), in_run)
    unk = getattr(encoder.tokenizer, "unk_token", None)
    special = forwarded.encoding.special_tokens_mask
    tokens = forwarded.encoding.tokens
    unknown = sum(
        1
        for t in np.flatnonzero(in_run == 0).tolist()
        if unk and tokens[t] == unk and not special[t]
    )
    chars = forwarded.text[spans[first][0] : spans[last][1]]
    pieces = int((in_run == 0).sum())
    return Located(list(range(first, last + 1)), vectors[:, 0], pieces, unknown, chars)


def search(index: CorpusIndex, layer: int, vector: np.ndarray, k: int) -> list[Neighbor]:
    """The ``k`` corpus words nearest to ``vector`` [D] at ``layer``, best first."""
    if k < 1:
        raise UserError("neighbors_k")
    faiss_index = index.faiss(layer)
    query = normalise(np.asarray(vector, np.float32).reshape(1, -1))
    scores, ids = faiss_index.search(query, min(k, faiss_index.ntotal))
    words = index.table("words")
    texts = index.table("lines").column("text")
    labels = index.table("lines").column("label")
    out = []
    for score, i in zip(scores[0].tolist(), ids[0].tolist()):
        if i < 0:
            continue
        line = words.column("line")[i].as_py()
        out.append(
            Neighbor(
                line=line,
                position=words.column("position")[i].as_py(),
                token=words.column("word")[i].as_py(),
                context=texts[line].as_py(),
                score=float(score),
                start=words.column("start")[i].as_py(),
                end=words.column("end")[i].as_py(),
                label=labels[line].as_py(),
            )
        )
    return out


def neighbors(
    encoder: Encoder,
    index: CorpusIndex,
    text: str,
    word: str,
    layer: int,
    k: int = 10,
    occurrence: int = 1,
) -> list[Neighbor]:
    """The ``k`` corpus words nearest to ``word`` (a word of ``text``, or a run of its words)
    as it occurs in ``text`` at ``layer``."""
    index.check_model(encoder)
    index._check_layer(layer)
    found = locate(encoder, text, word, [layer], occurrence, index.manifest["max_tokens"])
    return search(index, layer, found.vectors[0], k)


def same_word_share(
    encoder: Encoder, index: CorpusIndex, text: str, word: int, k: int = 10
) -> dict[int, float]:
    """Per indexed layer, the share of word ``word``'s (an index into the text's words) ``k``
    nearest corpus words that are the same word (case folded)."""
    index.check_model(encoder)
    words, _, vectors = words_of(encoder, text, index.layers, index.manifest["max_tokens"])
    wanted = words[word].casefold()
    out = {}
    for k_, layer in enumerate(index.layers):
        found = search(index, layer, vectors[k_, word], k)
        out[layer] = sum(n.token.casefold() == wanted for n in found) / max(len(found), 1)
    return out
