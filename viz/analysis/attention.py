"""Attention matrices prepared for display: hide special tokens, average heads, merge subwords.

Merging follows Clark et al. (2019): attention *to* a word is the sum over its pieces (keys),
attention *from* a word is the mean over its pieces (queries), so rows still sum to 1.
"""

from __future__ import annotations

import numpy as np

from viz.tokens import word_groups, word_labels


def merge_words(matrix: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """[..., T, T] -> [..., W, W] with W = len(groups)."""
    summed = np.stack([matrix[..., g].sum(axis=-1) for g in groups], axis=-1)  # [..., T, W]
    return np.stack([summed[..., g, :].mean(axis=-2) for g in groups], axis=-2)  # [..., W, W]


def prepare(
    attention: np.ndarray,
    labels: tuple[str, ...] | list[str],
    special: np.ndarray,
    word_ids: np.ndarray,
    *,
    hide_special: bool = False,
    merge_subwords: bool = False,
    word_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """One matrix [T, T] (or a stack [..., T, T]) -> (matrix, labels, original positions).

    Hidden special tokens are dropped from both axes (rows then no longer sum to 1: the
    share they received is exactly what was hidden). ``word_names``: one label per word
    group when merging (``tokens.word_texts``); default: the pieces' labels joined."""
    positions = np.arange(attention.shape[-1])
    labels = list(labels)
    if merge_subwords:
        groups = word_groups(word_ids)
        attention = merge_words(attention, groups)
        labels = list(word_names) if word_names is not None else word_labels(tuple(labels), groups)
        positions = np.array([g[0] for g in groups])
        special = np.array([bool(special[g[0]]) for g in groups])
    if hide_special and (~special).sum() > 0:
        keep = np.flatnonzero(~special)
        attention = attention[..., keep[:, None], keep[None, :]]
        labels = [labels[i] for i in keep]
        positions = positions[keep]
    return attention, labels, positions


def downsample(matrix: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two axes of [..., T, T] to at most [..., size, size]."""
    T = matrix.shape[-1]
    if T <= size:
        return matrix
    edges = np.linspace(0, T, size + 1).astype(int)
    rows = np.add.reduceat(matrix, edges[:-1], axis=-2) / np.diff(edges)[:, None]
    return np.add.reduceat(rows, edges[:-1], axis=-1) / np.diff(edges)[None, :]


def rollout(attentions: np.ndarray, residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020). [L, H, T, T] -> [L, T, T]: entry l is how
    much each token at layer l+1's output draws on each input token, through every layer.

    Heads are averaged; with ``residual`` the identity is added (A + I) and rows renormalised,
    modelling the skip connection."""
    A = attentions.mean(axis=1).astype(np.float64)  # [L, T, T]
    T = A.shape[-1]
    if residual:
        A = A + np.eye(T)
        A = A / A.sum(axis=-1, keepdims=True)
    out = np.empty_like(A)
    joint = np.eye(T)
    for layer in range(A.shape[0]):
        joint = A[layer] @ joint
        out[layer] = joint
    return out


def value_norms(values: np.ndarray, out_weight: np.ndarray) -> np.ndarray:
    """‖f(x_j)‖ = ‖v_j W_O^h‖ per head and token: what each token sends through each head, its
    size (Kobayashi et al. 2020). values [H, T, dk], out_weight [D, H*dk] -> [H, T] float64."""
    H, T, dk = values.shape
    W = out_weight.reshape(out_weight.shape[0], H, dk).transpose(1, 2, 0)  # [H, dk, D]
    transformed = np.einsum("htk,hkd->htd", values.astype(np.float64), W)  # [H, T, D]
    return np.linalg.norm(transformed, axis=-1)


def norm_based(attentions: np.ndarray, values: np.ndarray, out_weight: np.ndarray) -> np.ndarray:
    """Norm-based attention (Kobayashi et al. 2020) for one layer: ‖α_ij · f(x_j)‖, where
    f(x_j) = v_j W_O^h is what token j sends through head h.

    attentions [H, T, T], values [H, T, dk], out_weight [D, H*dk] (torch Linear layout)
    -> [H, T, T]."""
    return attentions * value_norms(values, out_weight)[:, None, :]


def in_window(positions: np.ndarray, window: tuple[int, int] | None) -> np.ndarray:
    """Indices of the ``positions`` (token positions of a prepared matrix's rows or columns)
    that fall in ``window`` = (first, last) position, both included; all of them for None."""
    if window is None:
        return np.arange(len(positions))
    first, last = window
    return np.flatnonzero((positions >= first) & (positions <= last))


def colour_cap(matrix: np.ndarray, percentile: float = 99.0) -> float:
    """The value at ``percentile`` of ``matrix``: a colour scale that ends there shows the
    ordinary weights (about 1/T each) instead of spending its whole range on the few largest
    (at 500 tokens a head's maximum is often 0.5-0.9 while 99% of its weights are below 0.03).
    Larger values saturate. Never below 1e-9, so a scale always has a range."""
    finite = matrix[np.isfinite(matrix)]
    if finite.size == 0:
        return 1e-9
    return float(max(np.percentile(finite, percentile), 1e-9))


def row_scaled(matrix: np.ndarray) -> np.ndarray:
    """[..., R, C] each row divided by its own maximum (a row of zeros stays zero): the shape
    of every row's distribution, whatever its size."""
    top = matrix.max(axis=-1, keepdims=True)
    return np.divide(matrix, top, out=np.zeros_like(matrix), where=top > 0)
