"""2-D projections of token vectors (PCA, t-SNE), seeded and deterministic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from viz.errors import UserError

METHODS = ("PCA", "t-SNE")


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray  # [N, 2]
    method: str
    params: str  # shown on the chart
    explained: tuple[float, float] | None  # PCA's explained variance ratio of the 2 axes
    seed: int = 0
    perplexity: float | None = None  # t-SNE's, after clamping


def project(
    vectors: np.ndarray, method: str = "PCA", seed: int = 0, perplexity: float = 30.0
) -> Projection:
    """[N, D] -> 2-D. t-SNE's perplexity is clamped below the number of points."""
    n = len(vectors)
    x = vectors.astype(np.float64)
    if n < 3:
        coords = np.zeros((n, 2))
        coords[:, 0] = np.arange(n)
        return Projection(coords, method, "too few points to project", None)
    if method == "PCA":
        pca = PCA(n_components=2, random_state=seed)
        coords = pca.fit_transform(x)
        ev = tuple(float(v) for v in pca.explained_variance_ratio_)
        return Projection(coords, "PCA", f"PCA, 2 components, seed {seed}", ev, seed)  # type: ignore
    if method == "t-SNE":
        perp = float(min(perplexity, max(1.0, (n - 1) / 3)))
        tsne = TSNE(
            n_components=2,
            perplexity=perp,
            random_state=seed,
            init="pca",
            learning_rate="auto",
            max_iter=500,
        )
        # one thread: sklearn's OpenMP pool fighting torch's makes Barnes-Hut 100x slower here
        with threadpool_limits(limits=1):
            coords = tsne.fit_transform(x)
        params = f"t-SNE, perplexity {perp:g}, seed {seed}"
        return Projection(coords, "t-SNE", params, None, seed, perp)
    raise UserError("projection_unknown", method=method, choices=", ".join(METHODS))


def project_layers(
    hidden: np.ndarray, layers: list[int], method: str = "PCA", seed: int = 0
) -> Projection:
    """Fit one projection jointly on the tokens of several layers, so positions are comparable.
    hidden [L+1, T, D] -> coords [len(layers) * T, 2] (layer-major)."""
    stacked = hidden[layers].reshape(-1, hidden.shape[-1])
    return project(stacked, method, seed)
