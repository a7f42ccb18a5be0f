"""Rank agreement between context-mixing measures, layer by layer (numpy in, numpy out)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import rankdata


def row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., T, T] x2 -> [...]: Spearman's rank correlation of each row of ``a`` with the same
    row of ``b`` (ties get their mean rank), averaged over the rows. A constant row has no
    ranks to compare and is left out (NaN when every row is)."""
    ra = rankdata(a, axis=-1)
    rb = rankdata(b, axis=-1)
    ra = ra - ra.mean(axis=-1, keepdims=True)
    rb = rb - rb.mean(axis=-1, keepdims=True)
    den = np.sqrt((ra**2).sum(-1) * (rb**2).sum(-1))
    rho = np.divide((ra * rb).sum(-1), den, out=np.full(den.shape, np.nan), where=den > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a layer of constant rows: NaN
        return np.nanmean(rho, axis=-1)


def agreement(measures: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """Every pair of measures [L, T, T] (same shapes) -> its per-layer agreement [L]."""
    names = list(measures)
    return {
        (a, b): row_spearman(measures[a], measures[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
