"""The corpus map: every line's pooled vector in 2-D, comparable between layers.

Each layer's line vectors are centred and scaled to a root-mean-square norm of 1 (layers differ
in offset and size by orders of magnitude: unscaled, the largest layer would set the axes and the
others would sit in a corner of it); one PCA is then fitted on every layer stacked together, and
each layer is drawn in those same two axes and ranges, so moving the layer slider moves the
points, not the axes.
t-SNE or UMAP, on request, is fitted per layer (its axes mean nothing from one layer to the
next) with a fixed seed and PCA's coordinates as its start, so neighbouring layers look alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED = 0


@dataclass(frozen=True)
class SharedPCA:
    """Two principal axes of all layers' line vectors; ``coords[k]`` is layer k's [N, 2]."""

    coords: np.ndarray  # float32 [K, N, 2]
    explained: tuple[float, float]  # share of the variance on each axis, in percent


def standardise(vectors: np.ndarray) -> np.ndarray:
    """[K, N, D] -> each layer centred on its mean line, scaled to a root-mean-square norm of 1."""
    x = vectors.astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    rms = np.sqrt((x**2).sum(axis=2).mean(axis=1))  # [K]
    return x / np.where(rms > 0, rms, 1.0)[:, None, None]


def shared_pca(vectors: np.ndarray) -> SharedPCA:
    """[K, N, D] line vectors at K layers -> one PCA for all of them (each standardised)."""
    from sklearn.decomposition import PCA

    K, N, D = vectors.shape
    flat = standardise(vectors).reshape(K * N, D)
    n = min(2, K * N, D)
    pca = PCA(n_components=n, random_state=SEED).fit(flat)
    coords = np.zeros((K * N, 2), np.float32)
    coords[:, :n] = pca.transform(flat)
    ratio = list(pca.explained_variance_ratio_ * 100) + [0.0] * (2 - n)
    return SharedPCA(coords.reshape(K, N, 2), (float(ratio[0]), float(ratio[1])))


def tsne_layer(vectors: np.ndarray, start: np.ndarray) -> np.ndarray:
    """[N, D] -> [N, 2] by t-SNE (cosine), seeded, started from ``start`` [N, 2]."""
    from sklearn.manifold import TSNE

    n = len(vectors)
    if n < 4:
        return start.astype(np.float32)
    init = start / (np.abs(start[:, 0]).std() or 1.0) * 1e-4  # the scale sklearn's PCA init uses
    return (
        TSNE(
            n_components=2,
            perplexity=min(30.0, (n - 1) / 3),
            metric="cosine",
            init=init.astype(np.float32),
            random_state=SEED,
        )
        .fit_transform(vectors)
        .astype(np.float32)
    )


def umap_layer(vectors: np.ndarray, start: np.ndarray) -> np.ndarray:
    """[N, D] -> [N, 2] by UMAP (cosine), seeded, started from ``start`` [N, 2]."""
    import umap

    n = len(vectors)
    if n < 4:
        return start.astype(np.float32)
    scale = np.abs(start).max() or 1.0
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, n - 1),
        metric="cosine",
        random_state=SEED,
        init=(start / scale * 10).astype(np.float64),
        n_jobs=1,
    )
    return reducer.fit_transform(vectors).astype(np.float32)
