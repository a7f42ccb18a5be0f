"""Per-head statistics and head-to-head similarity."""

from __future__ import annotations

import unicodedata

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

STAT_COLUMNS = (
    "entropy",
    "distance",
    "to_cls",
    "to_sep",
    "to_punct",
    "to_self",
    "to_prev",
    "to_next",
)


def is_punctuation(label: str) -> bool:
    stripped = label.removeprefix("##").strip()
    return bool(stripped) and all(unicodedata.category(c).startswith("P") for c in stripped)


def head_statistics(
    attentions: np.ndarray,
    tokens: tuple[str, ...],
    special: np.ndarray,
    cls_positions: np.ndarray,
    sep_positions: np.ndarray,
) -> dict[str, np.ndarray]:
    """[L, H, T, T] -> columns of [L*H] values, averaged over query tokens.

    entropy: of each attention row, in bits; distance: mean |i - j| weighted by attention;
    to_*: share of attention going to [CLS] (first special), [SEP] (other specials),
    punctuation, the token itself, the previous and the next token."""
    L, H, T, _ = attentions.shape
    A = np.asarray(attentions, dtype=np.float32)  # no copy; sums accumulate in float64
    entropy = -np.einsum("lhij,lhij->lh", A, np.log2(np.clip(A, 1e-12, 1.0)), dtype=np.float64) / T
    idx = np.arange(T)
    far = np.abs(idx[:, None] - idx[None, :]).astype(np.float32)
    distance = np.einsum("lhij,ij->lh", A, far, dtype=np.float64) / T
    punct = np.array([is_punctuation(t) and not special[i] for i, t in enumerate(tokens)])

    def share(mask: np.ndarray) -> np.ndarray:  # mean over queries of the weight on ``mask``
        return np.einsum("lhij,j->lh", A, mask.astype(np.float32), dtype=np.float64) / T

    cls_mask = np.zeros(T, bool)
    cls_mask[cls_positions] = True
    sep_mask = np.zeros(T, bool)
    sep_mask[sep_positions] = True
    diag = np.einsum("lhtt->lht", A).astype(np.float64)
    prev = np.zeros((L, H)) if T < 2 else A[..., idx[1:], idx[:-1]].sum(-1, dtype=np.float64) / T
    nxt = np.zeros((L, H)) if T < 2 else A[..., idx[:-1], idx[1:]].sum(-1, dtype=np.float64) / T
    columns = {
        "entropy": entropy,
        "distance": distance,
        "to_cls": share(cls_mask),
        "to_sep": share(sep_mask),
        "to_punct": share(punct),
        "to_self": diag.mean(-1),
        "to_prev": prev,
        "to_next": nxt,
    }
    return {k: v.reshape(L * H) for k, v in columns.items()}


JS_BUDGET = 600_000_000  # attention weights compared in all, at most (about 1.5 s)


def js_distance_matrix(attentions: np.ndarray, max_rows: int = 128) -> np.ndarray:
    """Jensen-Shannon distance between every two heads: [L, H, T, T] -> [L*H, L*H].

    Per query row the JS divergence (base 2, in [0, 1]) of the two heads' attention rows;
    averaged over rows; distance = sqrt(divergence). For long inputs at most ``max_rows`` evenly
    spaced query rows are used, fewer when the pairs of heads x rows x T would pass
    ``JS_BUDGET`` (bert-base at 512 tokens: 112 rows), never fewer than 16.
    Uses JS(P, Q) = (sum P log P + sum Q log Q) / 2 - sum M log M with M = (P + Q) / 2, in
    float32 (the distances agree with float64 to about 1e-6)."""
    L, H, T, _ = attentions.shape
    n = L * H
    pairs = n * (n + 1) // 2
    R = min(T, max_rows, max(16, JS_BUDGET // (pairs * T)))
    rows = np.linspace(0, T - 1, R).round().astype(int)
    P = np.clip(attentions[:, :, rows].reshape(n, R, T), 1e-12, 1.0).astype(np.float32)
    plogp = (P * np.log2(P)).sum(-1, dtype=np.float64)  # [n, R]
    out = np.zeros((n, n))
    for a in range(n):
        M = P[a] + P[a:]  # [n-a, R, T]
        M *= 0.5
        mlogm = (M * np.log2(M)).sum(-1, dtype=np.float64)
        div = 0.5 * (plogp[a] + plogp[a:]) - mlogm
        d = np.sqrt(np.clip(div.mean(-1), 0, 1))
        out[a, a:] = d
        out[a:, a] = d
    np.fill_diagonal(out, 0.0)
    return out


def cluster_order(distance: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage clustering, to put similar heads next to each other."""
    if len(distance) < 3:
        return np.arange(len(distance))
    return leaves_list(linkage(squareform(distance, checks=False), method="average"))
