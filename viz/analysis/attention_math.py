"""Scaled dot-product attention recomputed from captured queries, keys and values."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def attention_scores(
    q: np.ndarray,
    k: np.ndarray,
    bias: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    factor: int = 1,
) -> np.ndarray:
    """Q·Kᵀ/√(dk·factor) (+ relative-position term) (+ mask). q, k: [H, T, dk] -> [H, T, T].

    ``factor`` is 1 except for DeBERTa (``ModelFacts.score_factor``). ``mask`` is [T] bool,
    True for keys that may be attended (padding gets -inf)."""
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    scores = q64 @ k64.transpose(0, 2, 1) / np.sqrt(q.shape[-1] * factor)  # [H, T, T]
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = np.where(mask[None, None, :], scores, -np.inf)
    return scores


def attention_from_qkv(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray | None = None,
    factor: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute one layer's attention. q, k, v: [H, T, dk] ->
    (probabilities [H, T, T], heads concatenated [T, H*dk])."""
    probs = softmax(attention_scores(q, k, bias, factor=factor))  # [H, T, T]
    context = probs @ v.astype(np.float64)  # [H, T, dk]
    H, T, dk = context.shape
    return probs, context.transpose(1, 0, 2).reshape(T, H * dk)
