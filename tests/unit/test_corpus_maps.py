"""The corpus map's projection: one PCA of every layer, each layer standardised first, so that
every layer fills the same frame whatever its offset and size."""

from __future__ import annotations

import numpy as np

from viz.corpus import maps
from viz.figures.corpus import span


def test_layers_of_different_size_and_offset_share_one_frame():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 16)).astype(np.float32)
    # the same lines at three "layers": shifted far off and scaled by 1, 100 and 0.01
    layers = np.stack([base, base * 100 + 50, base * 0.01 - 3])
    pca = maps.shared_pca(layers)
    extents = [np.ptp(pca.coords[k], axis=0) for k in range(3)]
    np.testing.assert_allclose(extents[1], extents[0], rtol=1e-4)
    np.testing.assert_allclose(extents[2], extents[0], rtol=1e-4)
    (x0, x1), (y0, y1) = span(pca.coords)
    for k in range(3):  # every layer's points inside the one frame
        assert (pca.coords[k, :, 0] >= x0).all() and (pca.coords[k, :, 0] <= x1).all()
        assert (pca.coords[k, :, 1] >= y0).all() and (pca.coords[k, :, 1] <= y1).all()
    assert 0 < pca.explained[1] <= pca.explained[0] <= 100


def test_standardise_centres_and_scales_each_layer():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 7.0, size=(2, 50, 8))
    z = maps.standardise(x)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((z**2).sum(axis=2).mean(axis=1), 1.0)


def _three_clusters() -> tuple[np.ndarray, np.ndarray]:
    """60 lines in three tight, well-separated clusters of 32-D directions (cosine), and labels."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 32))
    labels = np.repeat(np.arange(3), 20)
    x = centres[labels] + rng.normal(scale=0.05, size=(60, 32))
    return x.astype(np.float32), labels


def _separated(xy: np.ndarray, labels: np.ndarray) -> bool:
    """Every point's nearest other point in 2-D has its own label."""
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return bool((labels[d.argmin(axis=1)] == labels).all())


def test_tsne_and_umap_keep_clusters_apart_and_repeat_exactly():
    """Both nonlinear maps (UMAP through numba's first compile: about 20 s here) give [N, 2]
    finite floats, keep three clusters apart, and give the same picture twice (seeded)."""
    x, labels = _three_clusters()
    start = maps.shared_pca(x[None]).coords[0]
    for fit in (maps.tsne_layer, maps.umap_layer):
        xy = fit(x, start)
        assert xy.shape == (60, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
        assert _separated(xy, labels), fit.__name__
        np.testing.assert_array_equal(fit(x, start), xy)


def test_maps_of_fewer_than_four_lines_keep_their_start():
    start = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], np.float32)
    x = np.eye(3, 8, dtype=np.float32)
    for fit in (maps.tsne_layer, maps.umap_layer):
        np.testing.assert_array_equal(fit(x, start), start)
