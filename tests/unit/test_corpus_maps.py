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
