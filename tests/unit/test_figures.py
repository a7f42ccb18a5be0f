"""Figures: user text escaped, repeated tokens distinct, long inputs stay light."""

from __future__ import annotations

import json

import numpy as np
import plotly.io

from viz.analysis.projection import project_layers
from viz.figures import attention, heads, layers, projection
from viz.figures.common import Words

RNG = np.random.default_rng(0)
WORDS = Words(
    query="from",
    key="to",
    layer="layer",
    head="head",
    js_distance="JS distance",
    norm="norm",
    update_ratio="update",
)
HEAT = ("weight", ("to", "from"), WORDS)  # value name, axis titles, words


def attention_stack(L: int, H: int, T: int) -> np.ndarray:
    x = RNG.random((L, H, T, T)).astype(np.float32)
    return x / x.sum(-1, keepdims=True)


def test_labels_are_escaped_and_distinct():
    labels = ["[CLS]", "the", "<script>alert(1)</script>", "the", "[SEP]"]
    fig = attention.heatmap(attention_stack(1, 1, 5)[0, 0], labels, np.arange(5), "t", *HEAT)
    x = list(fig.data[0].x)
    assert len(set(x)) == 5  # the two "the" stay apart
    assert all("<script>" not in label for label in x)
    assert "&lt;script&gt;" in x[2]


def test_long_input_views_stay_light():
    T = 512
    A = attention_stack(6, 12, T)
    labels = [f"tok{i}" for i in range(T)]
    heat = attention.heatmap(A[0, 0], labels, np.arange(T), "t", *HEAT)
    grid = attention.model_view_png(attention.model_view_grid(A)[0])
    size_heat = len(heat.to_json())
    assert size_heat < 2_500_000, size_heat  # base64 float32, not 20-byte decimal text
    assert len(grid) < 300_000, len(grid)  # one byte a pixel of 6 x 12 thumbnails
    ticks = heat.layout.xaxis.ticktext
    assert len(ticks) <= 60  # labels thin out


def test_layer_and_head_figures_build():
    hidden = RNG.normal(size=(7, 9, 16))
    labels = [f"t{i}" for i in range(9)]
    assert layers.similarity(np.eye(7), "cka", "CKA").data[0].z.shape == (7, 7)
    assert layers.token_change(RNG.random((6, 9)), labels, "c").data
    assert layers.norms_by_layer(RNG.random((7, 9)), labels, "n", WORDS).data
    assert len(layers.contributions(RNG.random((6, 2)), ("a", "f"), "c", WORDS).data) == 2
    proj = project_layers(hidden, list(range(7)))
    fig = projection.token_paths(proj, labels, list(range(7)), "layer", "p", ("x", "y"), "sub")
    assert len(fig.data) == 1 + 7  # path lines + one trace per layer
    assert "sub" in fig.layout.title.text  # the subtitle the caller wrote (method, variance)
    d = RNG.random((24, 24))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    hs = heads.head_similarity(d, np.arange(24)[::-1], 12, "h", WORDS)
    assert list(hs.data[0].x)[0] == "L2H12"


def test_head_grid_has_a_clickable_cell_for_every_head():
    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 100  # 3 layers x 4 heads
    fig = heads.head_grid(values, "scan", "1 − cos", WORDS)
    grid, cells = fig.data
    assert grid.type == "heatmap" and grid.hoverinfo == "skip"
    assert list(grid.y) == ["L1", "L2", "L3"] and list(grid.x) == ["H1", "H2", "H3", "H4"]
    assert cells.type == "scatter" and len(cells.x) == 12
    data = np.asarray(cells.customdata)
    # the cell drawn at (H3, L2) carries layer 2, head 3 and that head's value
    i = next(k for k in range(12) if cells.x[k] == "H3" and cells.y[k] == "L2")
    assert data[i].tolist() == [2, 3, values[1, 2]]
    assert fig.layout.clickmode == "event+select"


def test_a_very_long_token_is_cut_on_the_axes_but_whole_on_hover():
    primer = "ACGT" * 30 + "&<"  # one 122-character token, with characters to escape
    labels = ["[CLS]", primer, "binds", "[SEP]"]
    fig = attention.heatmap(attention_stack(1, 1, 4)[0, 0], labels, np.arange(4), "t", *HEAT)
    ticks = list(fig.layout.xaxis.ticktext)
    assert max(len(t) for t in ticks) <= 20 and ticks[1].endswith("…")
    assert fig.data[0].x[1] == "1 " + primer.replace("&", "&amp;").replace("<", "&lt;")
    coords = project_layers(RNG.normal(size=(2, 4, 8)).astype(np.float32), [0, 1], "PCA")
    paths = projection.token_paths(coords, labels, [0, 1], "layer", "t", ("a", "b"), "sub")
    last = paths.data[-1]
    assert len(last.text[1]) <= 20 and "&lt;" in last.customdata[1]


def test_a_pairs_second_sentence_is_marked():
    labels = ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    fig = attention.heatmap(
        attention_stack(1, 1, 5)[0, 0], labels, np.arange(5), "t", *HEAT, boundary=3
    )
    lines = [(s.x0, s.y0) for s in fig.layout.shapes]
    assert lines == [(2.5, -0.5), (-0.5, 2.5)]
    assert not attention.heatmap(
        attention_stack(1, 1, 5)[0, 0], labels, np.arange(5), "t", *HEAT
    ).layout.shapes


def test_two_dimensional_labels_do_not_overlap():
    xy = np.array([[0.0, 0.0], [0.001, 0.0], [10.0, 10.0], [5.0, 5.0], [5.0, 5.01]])
    keep = projection.uncluttered(xy, ["river", "bank", "[SEP]", "flooded", "so"])
    assert keep.tolist() == [True, False, True, True, False]  # each crowded pair keeps one
    apart = projection.uncluttered(np.array([[0.0, 0.0], [10.0, 10.0]]), ["a", "b"])
    assert apart.all()


def every_figure() -> list:
    """One of each builder the app calls on a step or a new sentence, on awkward labels."""
    rng = np.random.default_rng(1)  # the same figures on every call
    T = 40
    A = rng.random((2, 3, T, T)).astype(np.float32)
    A /= A.sum(-1, keepdims=True)
    labels = ["[CLS]", '"q"', "<b>x</b>", "&", "这", *[f"t{i}" for i in range(T - 6)], "[SEP]"]
    hidden = rng.normal(size=(3, T, 8)).astype(np.float32)
    proj = project_layers(hidden, [0, 1, 2])
    d = rng.random((6, 6))
    return [
        attention.heatmap(A[0, 0], labels, np.arange(T), "t", *HEAT, boundary=20, focus=3),
        attention.heatmap(
            np.repeat(A[0, 0], 8, 0).repeat(8, 1), labels * 8, np.arange(8 * T), "t", *HEAT
        ),  # above the image threshold
        attention.row_bars(A[0, 0, 3], labels, np.arange(T), "row", "w", "to", WORDS),
        layers.similarity(np.eye(3), "cka", "CKA"),
        layers.token_change(rng.random((2, T)), labels, "c"),
        layers.norms_by_layer(rng.random((3, T)), labels, "n", WORDS),
        layers.contributions(rng.random((2, 2)), ("a", "f"), "c", WORDS),
        projection.token_paths(proj, labels, [0, 1, 2], "layer", "p", ("x", "y"), "sub"),
        heads.head_similarity((d + d.T) / 2, np.arange(6), 3, "h", WORDS),
        heads.head_grid(rng.random((2, 3)), "scan", "v", WORDS),
    ]


def test_figures_built_unchecked_are_the_figures_plotly_checks(monkeypatch):
    """The app skips Plotly's property checks (viz/figures/go.py) for speed: what it sends must
    be exactly what the checked build gives."""
    from viz.figures import go

    monkeypatch.setattr(go, "VALIDATE", True)
    checked = [fig.to_plotly_json() for fig in every_figure()]
    monkeypatch.setattr(go, "VALIDATE", False)
    unchecked = [fig.to_plotly_json() for fig in every_figure()]
    for a, b in zip(checked, unchecked):
        assert json.loads(plotly.io.to_json(a)) == json.loads(plotly.io.to_json(b))


def test_streamlit_sends_our_figures_through_orjson_with_the_same_json():
    """Plotly serialises with orjson when it is installed (``engine="auto"``), as
    ``st.plotly_chart`` does on every rerun: the same JSON as its own encoder, escapes, CJK
    and NaN gaps included."""
    import orjson  # noqa: F401 - a runtime dependency: the fast path must be there

    rng = np.random.default_rng(0)
    m = rng.dirichlet(np.ones(12) * 0.1, size=12).astype(np.float32)
    labels = ["[CLS]", "<b>x</b>", "银行", "a&b", *[f"t{i}" for i in range(7)], "[SEP]"]
    figures = [
        layers.token_change(rng.random((2, 12)), labels, "c"),
        attention.heatmap(m, labels, np.arange(12), "t", "w", ("a", "b"), WORDS),
    ]
    for fig in figures:
        fast = plotly.io.to_json(fig, validate=False)
        slow = plotly.io.to_json(fig, validate=False, engine="json")
        assert json.loads(fast) == json.loads(slow)
    assert plotly.io.json.config.default_engine == "auto"
