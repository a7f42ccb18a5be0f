"""One word in several sentences: how its vectors differ by layer (Ethayarajh 2019)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from viz.errors import UserError
from viz.tokens import WORD_MARKS, word_groups, word_labels, word_texts


def _norm(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold().strip()


def find_word(
    display: tuple[str, ...],
    word_ids: np.ndarray,
    word: str,
    text: str | None = None,
    offsets: np.ndarray | None = None,
) -> list[int] | None:
    """Token positions of the first occurrence of ``word`` (subwords merged), or None.

    First as a whole word of the tokenizer; then, given the ``text`` the ``offsets`` [T, 2]
    index into, as a span of the text that starts and ends on token boundaries: a Chinese word
    (银行) is several one-character "words" to BERT's tokenizer, and a phrase ("river bank")
    is several words. A span inside a longer word ("bank" in "banks") does not count."""
    groups = word_groups(word_ids)
    target = _norm(word)
    if not target:
        return None
    if text is None or offsets is None:
        names = word_labels(display, groups)
    else:  # one sentence: every token's offsets index into text
        names = word_texts(groups, display, offsets, np.zeros(len(display), int), text, None)
    for group, label in zip(groups, names):
        if _norm(label) == target and word_ids[group[0]] >= 0:
            return group
    if text is None or offsets is None:
        return None
    real = (word_ids >= 0) & np.array(  # a lone word mark ('▁') has no characters of its own
        [bool(label.removeprefix("##").strip(WORD_MARKS)) for label in display]
    )
    starts, ends = offsets[:, 0], offsets[:, 1]
    for match in re.finditer(re.escape(word.strip()), text, re.IGNORECASE):
        a, b = match.span()
        inside = np.flatnonzero(real & (ends > a) & (starts < b))
        if len(inside) and starts[inside[0]] == a and ends[inside[-1]] == b:
            return inside.tolist()
    return None


def word_vectors(hidden: np.ndarray, positions: list[int]) -> np.ndarray:
    """[L+1, T, D] -> [L+1, D]: the word's vector per layer, the mean of its pieces."""
    return hidden[:, positions].mean(axis=1)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return (a * b).sum(-1) / np.where(na * nb == 0, 1, na * nb)


def cosine_by_layer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[L+1, D] x [L+1, D] -> [L+1]."""
    return _cos(a.astype(np.float64), b.astype(np.float64))


def self_similarity(vectors: np.ndarray) -> np.ndarray:
    """[N, L+1, D], one row per sentence -> [L+1]: mean pairwise cosine of the word's vectors
    across its N contexts (Ethayarajh's self-similarity)."""
    n = vectors.shape[0]
    if n < 2:
        raise UserError("self_similarity_needs_two")
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return np.mean([cosine_by_layer(vectors[i], vectors[j]) for i, j in pairs], axis=0)


def token_sample(hidden: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """[L+1, T, D] -> [L+1, min(T, size), D]: the vectors of ``size`` of the tokens, drawn
    without replacement (seeded, kept in sentence order), or of all of them when there are no
    more. What ``anisotropy`` needs of a sentence: a fixed-size sample, not every token, so a
    page holds the same small amount per sentence whatever its length, and no long sentence
    outweighs the others in the baseline."""
    count = hidden.shape[1]
    if count <= size:
        return hidden.copy()
    keep = np.sort(np.random.default_rng(seed).choice(count, size, replace=False))
    return hidden[:, keep]


def anisotropy(
    hidden_per_sentence: list[np.ndarray], max_pairs: int = 2000, seed: int = 0
) -> np.ndarray:
    """Mean cosine between vectors of *different* tokens from *different* sentences, per layer:
    the baseline any self-similarity should be read against. Inputs [L+1, T_i, D] with special
    tokens already removed (all of a sentence's tokens, or a ``token_sample`` of them). Returns
    [L+1]."""
    if len(hidden_per_sentence) < 2:
        raise UserError("anisotropy_needs_two")
    rng = np.random.default_rng(seed)
    owners = np.concatenate([np.full(h.shape[1], i) for i, h in enumerate(hidden_per_sentence)])
    allv = np.concatenate(hidden_per_sentence, axis=1).astype(np.float64)  # [L+1, N, D]
    n = allv.shape[1]
    a = rng.integers(0, n, size=max_pairs * 4)
    b = rng.integers(0, n, size=max_pairs * 4)
    keep = owners[a] != owners[b]
    a, b = a[keep][:max_pairs], b[keep][:max_pairs]
    return _cos(allv[:, a], allv[:, b]).mean(axis=1)
