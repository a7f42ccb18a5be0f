"""The attention heatmap above ``IMAGE_ABOVE`` tokens a side: sent as one PNG of its colours
(the pixels are the weights through the colour scale), with a colour bar on the same scale,
hover naming positions, and the same heatmap as before on shorter inputs."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import plotly.colors
import pytest
from PIL import Image

from tests.drivers import canvases, new_app, no_problem
from viz import load_encoder, trace
from viz.figures import attention as attention_fig
from viz.figures.common import ColourScale, Words

pytestmark = pytest.mark.app

SENTENCE = "The old man walked slowly along the quiet road toward the small village near the river."
LONG = " ".join([SENTENCE] * 24)  # about 410 tokens on the bundled model
WORDS = Words("from", "to", "layer", "head", "js", "norm", "update")


def heatmap_data(at) -> dict:
    return canvases(at)["attention_heatmap"]


def pixels(image_trace: dict | str) -> np.ndarray:
    uri = image_trace if isinstance(image_trace, str) else image_trace["source"]
    assert uri.startswith("data:image/png;base64,")
    png = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def expected_colours(values: np.ndarray, colorscale) -> np.ndarray:
    """Plotly's own sampling of the scale at ``values`` (0..1), as [N, 3] floats."""
    sampled = plotly.colors.sample_colorscale(
        [[float(s), c] for s, c in colorscale], values.tolist()
    )
    return np.array([[float(x) for x in re.findall(r"[\d.]+", c)] for c in sampled])


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    """Layer 3, head 9 of the long text, from the library, not from the page."""
    t = trace(load_encoder(), LONG)
    return t.attentions[2, 8]  # [T, T]


def test_a_long_heatmap_is_an_image_of_the_weights_through_the_colour_scale(weights):
    at = new_app(view="attention", text=LONG, layer="3", head="9")
    assert no_problem(at)
    heat = heatmap_data(at)
    T = weights.shape[0]
    assert T > attention_fig.IMAGE_ABOVE
    assert heat["values"] is None  # too many to send exactly: each layer an image
    got = pixels(heat["png"][2])  # layer 3
    assert got.shape == (T, T, 3)
    # the colour bar's scale is the 99th percentile of the weights shown, as the page says
    cap = float(np.percentile(weights, 99))
    scale = heat["scales"][2]
    assert scale["kind"] == "linear" and scale["zmax"] == pytest.approx(cap, rel=1e-4)
    assert f"{scale['zmax']:.3g}" in scale["bar"]
    # every sampled pixel is its weight's colour on that scale (rows = queries)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, T, 3000), rng.integers(0, T, 3000)
    values = np.rint(np.clip(weights[rows, cols] / cap, 0, 1) * 255) / 255  # 256 shades
    want = expected_colours(values, attention_fig.COLOURS)
    assert np.abs(got[rows, cols].astype(float) - want).max() <= 1.0
    # a transposed or unscaled image would not match
    assert np.abs(got[cols, rows].astype(float) - want).max() > 10
    # the palette the browser draws the colour bar with is the same scale
    palette = np.frombuffer(base64.b64decode(heat["palette"]), dtype=np.uint8).reshape(256, 3)
    assert (
        np.abs(palette - expected_colours(np.arange(256) / 255, attention_fig.COLOURS)).max() <= 1
    )
    # hover names every position's token
    assert heat["rows"][0] == "0 [CLS]" and len(heat["rows"]) == T
    captions = " ".join(c.value for c in at.caption)
    assert f"Above {attention_fig.IMAGE_ABOVE} tokens a side" in captions
    # the PNG (one byte a pixel) is a fraction of the float32 grid it replaces
    assert len(heat["png"][2]) < 0.35 * (T * T * 4 * 4 / 3)


def test_a_window_of_a_long_text_keeps_positions_in_hover_and_short_ones_stay_a_heatmap():
    at = new_app(view="attention", text=LONG, attention_rows="100-399", attention_cols="50-360")
    assert no_problem(at)
    heat = heatmap_data(at)
    assert heat["rows"][0].startswith("100 ") and heat["cols"][0].startswith("50 ")
    assert pixels(heat["png"][0]).shape == (300, 311, 3)
    at = new_app(view="attention", text=LONG, attention_rows="100-300")  # 201 rows, all columns
    assert heatmap_data(at)["png"] is not None
    at = new_app(view="attention", text=LONG, attention_rows="0-200", attention_cols="0-200")
    heat = heatmap_data(at)
    assert heat["png"] is None and len(heat["values"]) == 6 and len(heat["cols"]) == 201


def test_the_figure_maps_each_row_to_its_maximum_and_leaves_gappy_positions_without_hover():
    rng = np.random.default_rng(1)
    m = rng.dirichlet(np.full(300, 0.2), size=280).astype(np.float32)  # [280, 300]
    positions = np.arange(280) * 2  # merged words: positions with gaps
    fig = attention_fig.heatmap(
        m,
        [f"w{i}" for i in range(280)],
        positions,
        "t",
        "weight",
        ("to", "from"),
        WORDS,
        scale=ColourScale("row", 1.0, "each row to its largest"),
        col_labels=[f"c{i}" for i in range(300)],
        col_positions=np.arange(300),
        focus=5,
    )
    bar, image = fig.data
    got = pixels(image.to_plotly_json())
    assert got.shape == (280, 300, 3)
    shades = np.rint(m / m.max(axis=1, keepdims=True) * 255) / 255
    want = expected_colours(shades.ravel(), bar.colorscale).reshape(280, 300, 3)
    assert np.abs(got.astype(float) - want).max() <= 1.0
    assert (got[np.arange(280), m.argmax(axis=1)] == got[0, m[0].argmax()]).all()  # darkest
    assert image.hoverinfo == "skip" and (image.x0, image.y0) == (0, 0)
    focus = next(s for s in fig.layout.shapes if s.type == "rect")
    assert (focus.y0, focus.y1) == (4.5, 5.5)


def test_the_model_view_is_an_image_of_its_thumbnails_with_see_through_gaps():
    rng = np.random.default_rng(2)
    A = rng.dirichlet(np.full(40, 0.3), size=(2, 3, 40)).astype(np.float32)  # [L, H, T, T]
    grid, fill = attention_fig.model_view_grid(A, thumb=8)
    gap = 1  # 8 // 8
    assert grid.shape == (2 * 9 - gap, 3 * 9 - gap) and fill == pytest.approx(8 / 9)
    uri = attention_fig.model_view_png(grid)
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA"))
    assert got.shape == (17, 26, 4)
    assert (got[8, :, 3] == 0).all() and (got[:, 8, 3] == 0).all()  # the gaps: see-through
    pooled = A[1, 2].reshape(8, 5, 8, 5).mean(axis=(1, 3))  # layer 2, head 3: 5 x 5 blocks
    blocks = A.reshape(2, 3, 8, 5, 8, 5).mean(axis=(3, 5))
    cap = float(np.percentile(blocks, 99))
    shades = np.rint(np.clip(pooled.ravel() / cap, 0, 1) * 254) / 254  # 255 shades and a gap
    want = expected_colours(shades, attention_fig.COLOURS)
    assert np.abs(got[9:17, 18:26, :3].reshape(-1, 3).astype(float) - want).max() <= 1.0
    assert (got[9:17, 18:26, 3] == 255).all()
