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
    A = attentions.astype(np.float64)
    p = np.clip(A, 1e-12, 1.0)
    entropy = -(A * np.log2(p)).sum(-1).mean(-1)  # [L, H]
    idx = np.arange(T)
    distance = (A * np.abs(idx[:, None] - idx[None, :])).sum(-1).mean(-1)
    punct = np.array([is_punctuation(t) and not special[i] for i, t in enumerate(tokens)])

    def share(mask: np.ndarray) -> np.ndarray:
        return A[..., mask].sum(-1).mean(-1) if mask.any() else np.zeros((L, H))

    cls_mask = np.zeros(T, bool)
    cls_mask[cls_positions] = True
    sep_mask = np.zeros(T, bool)
    sep_mask[sep_positions] = True
    diag = np.einsum("lhtt->lht", A)
    prev = np.zeros((L, H)) if T < 2 else A[..., idx[1:], idx[:-1]].sum(-1) / T
    nxt = np.zeros((L, H)) if T < 2 else A[..., idx[:-1], idx[1:]].sum(-1) / T
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


def js_distance_matrix(attentions: np.ndarray, max_rows: int = 128) -> np.ndarray:
    """Jensen-Shannon distance between every two heads: [L, H, T, T] -> [L*H, L*H].

    Per query row the JS divergence (base 2, in [0, 1]) of the two heads' attention rows;
    averaged over rows; distance = sqrt(divergence). For long inputs ``max_rows`` evenly
    spaced query rows are used."""
    L, H, T, _ = attentions.shape
    rows = np.linspace(0, T - 1, min(T, max_rows)).round().astype(int)
    P = attentions[:, :, rows].reshape(L * H, len(rows), T).astype(np.float64)
    P = np.clip(P, 1e-12, 1.0)
    logP = np.log2(P)
    plogp = (P * logP).sum(-1)  # [N, R]
    n = L * H
    out = np.zeros((n, n))
    for a in range(n):
        M = 0.5 * (P[a][None] + P[a:])  # [n-a, R, T]
        logM = np.log2(M)
        div = 0.5 * (plogp[a][None] - (P[a][None] * logM).sum(-1)) + 0.5 * (
            plogp[a:] - (P[a:] * logM).sum(-1)
        )
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
