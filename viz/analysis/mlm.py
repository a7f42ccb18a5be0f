"""The MLM lens, read from the logits of the masked-LM head at every layer (numpy in, numpy out;
``viz.lens`` runs the head), and which word of a sentence is worth masking."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from viz.errors import UserError
from viz.tokens import readable_token

# Chinese function characters: BERT's tokenizers read Chinese one character at a time, and
# masking 的 or 在 teaches as little as masking "the".
CHINESE_STOP = set("的了在是我你他她它们和与及也就都而这那个一不有把被让从对着吗呢吧啊")


@dataclass(frozen=True)
class LensResult:
    position: int
    top_ids: np.ndarray  # [L+1, k]
    top_tokens: tuple[tuple[str, ...], ...]  # [L+1][k]
    top_probs: np.ndarray  # [L+1, k]
    final_id: int  # the last layer's top prediction
    final_token: str
    final_rank: np.ndarray  # [L+1], 1 = top; the rank of final_id at each layer
    final_prob: np.ndarray  # [L+1]
    true_id: int | None = None  # the word that was masked (its first piece), when given
    true_token: str | None = None
    true_rank: np.ndarray | None = None  # [L+1], 1 = top
    true_prob: np.ndarray | None = None  # [L+1]


def token_names(tokenizer: object, ids: list[int]) -> tuple[str, ...]:
    """Each id as the token labels read (``readable_token``); ids the output layer has but the
    tokenizer lacks (DeBERTa-v3's head has about 100 more rows than its vocabulary) read
    '<id 128050>'."""
    names = tokenizer.convert_ids_to_tokens(ids)
    return tuple(
        readable_token(tokenizer, name) if name is not None else f"<id {i}>"
        for i, name in zip(ids, names)
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _rank(logits: np.ndarray, token_id: int) -> np.ndarray:
    """[L+1]: 1 + how many tokens score higher than ``token_id`` at each layer."""
    return (logits > logits[:, token_id : token_id + 1]).sum(axis=-1) + 1


def read_lens(
    logits: np.ndarray,
    position: int,
    names: Callable[[list[int]], tuple[str, ...]],
    k: int = 10,
    true_id: int | None = None,
) -> LensResult:
    """logits [L+1, V] of the masked-LM head at ``position`` after every layer -> the top ``k``
    per layer, the rank of the last layer's answer at each layer and, given ``true_id`` (the
    word that was masked), its rank. ``names`` spells a list of ids."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = _softmax(logits)
    k = min(k, logits.shape[-1])
    top = np.argpartition(-logits, k - 1, axis=-1)[:, :k]  # the k best, unordered
    order = np.argsort(-np.take_along_axis(logits, top, axis=-1), axis=-1, kind="stable")
    top_i = np.take_along_axis(top, order, axis=-1)  # [L+1, k], best first
    top_p = np.take_along_axis(probs, top_i, axis=-1)
    final_id = int(top_i[-1, 0])
    true = {}
    if true_id is not None:
        true = dict(
            true_id=int(true_id),
            true_token=names([int(true_id)])[0],
            true_rank=_rank(logits, int(true_id)),
            true_prob=probs[:, int(true_id)],
        )
    return LensResult(
        position=position,
        top_ids=top_i,
        top_tokens=tuple(names(row.tolist()) for row in top_i),
        top_probs=top_p,
        final_id=final_id,
        final_token=names([final_id])[0],
        final_rank=_rank(logits, final_id),
        final_prob=probs[:, final_id],
        **true,
    )


def mask_position(trace: object, mask_token_id: int) -> int:
    """The position of the (first) mask token in a trace's ``token_ids``."""
    hits = np.flatnonzero(np.asarray(trace.token_ids) == mask_token_id)
    if not len(hits):
        raise UserError("no_masked_word")
    return int(hits[0])


def is_punctuation(word: str) -> bool:
    """Every character punctuation, a symbol or a space ("，", "...", "--")."""
    return all(unicodedata.category(c)[0] in "PSZ" for c in word)


def content_word(words: Sequence[str], candidates: Sequence[int], avoid: Sequence[int] = ()) -> int:
    """The word worth masking: the first of ``candidates`` (indexes into ``words``) that is
    neither punctuation nor a stop word, nor in ``avoid`` (words the vocabulary lacks: the
    model reads them as [UNK], so there is nothing to predict); else the longest word of
    letters; else the first candidate."""
    if not candidates:
        raise UserError("mask_not_a_word")
    avoided = set(avoid)
    usable = [i for i in candidates if i not in avoided and not is_punctuation(words[i])]

    def stop(word: str) -> bool:
        w = word.casefold()
        return w in ENGLISH_STOP_WORDS or (len(w) == 1 and w in CHINESE_STOP)

    for i in usable:
        if not stop(words[i]):
            return i
    if usable:
        return max(usable, key=lambda i: len(words[i]))  # the first of the longest
    return candidates[0]
