"""Nearest corpus words to a word as it occurs in a text, at one layer (FAISS inner product of
unit vectors: the score is the cosine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.corpus.index import CorpusIndex, encode_lines, normalise
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

    def as_json(self) -> dict:
        return {
            "line": self.line,
            "position": self.position,
            "token": self.token,
            "context": self.context,
            "score": self.score,
        }


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
    if not wanted or len(hits) < occurrence:
        raise UserError("word_not_in_text", word=word, words=", ".join(words[:40]))
    return hits[occurrence - 1]


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
    """The ``k`` corpus words nearest to ``word`` as it occurs in ``text`` at ``layer``."""
    index.check_model(encoder)
    index._check_layer(layer)
    words, _, vectors = words_of(encoder, text, [layer], index.manifest["max_tokens"])
    return search(index, layer, vectors[0, find_word(words, word, occurrence)], k)


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
