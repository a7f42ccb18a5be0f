"""Long inputs as a reader meets them (300-512 tokens), the head view, and the small defects of
the attention, compare-layers and 2-D pages: AppTest on the real model and the real script,
and the figures themselves."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.drivers import canvases, charts, floats, new_app, no_problem
from viz.analysis.projection import project_layers
from viz.figures import projection as projection_fig
from viz.ui.i18n import en, zh

pytestmark = pytest.mark.app

SENTENCES = (
    "The old man walked slowly along the quiet road toward the small village near the river.",
    "In the morning the children went to school and the shops opened their doors.",
    "A woman sold fresh bread and warm soup at the corner of the market.",
    "When the rain began, people ran under the trees and waited for the sun to come back.",
    "Later that day the teacher told a long story about a ship that crossed the sea in winter.",
    "Everyone listened carefully, and nobody wanted the story to end.",
    "The bank on the other side of the river had closed its doors for the holiday.",
    "Farmers brought apples, potatoes and onions to sell before the evening storm arrived.",
    "A young doctor hurried past the church, carrying a heavy bag of books and tools.",
    "By the time the lights came on, the square was full of music and laughter.",
)


def paragraph(sentences: int) -> str:
    return " ".join(SENTENCES[i % len(SENTENCES)] for i in range(sentences))


LONG = paragraph(31)  # 508 tokens on the bundled model
MEDIUM = paragraph(8)  # 131 tokens
SHORT = "The guitar by the river bank flooded, so the bank closed early."  # 16 tokens


CHART_KEYS = ("attention_row", "model_view", "side_by_side")


def figures(at) -> dict[str, dict]:
    """Every chart of the page as its Plotly JSON, by the key the page gave it (Streamlit keeps
    the key in the element's id)."""
    out = {}
    for element in at.get("plotly_chart"):
        key = next((k for k in (*CHART_KEYS, "projection") if k in element.proto.id), None)
        out[key or element.proto.id] = json.loads(element.proto.spec)
    return out


def array(value) -> np.ndarray:
    """A Plotly array from the JSON: a base64 typed array ({dtype, bdata, shape}) or a list."""
    if isinstance(value, dict) and "bdata" in value:
        dtype = {"f4": np.float32, "f8": np.float64, "u1": np.uint8, "i1": np.int8}
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=dtype[value["dtype"]])
        shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(value)


@pytest.fixture(scope="module")
def long_attention():
    """The attention page at 508 tokens, layer 3, head 9 (one weight of 0.89, 99% below 0.04)."""
    at = new_app(view="attention", text=LONG, layer="3", head="9")
    assert no_problem(at)
    return at


# ---------------------------------------------------------------- long inputs
def test_a_long_input_is_coloured_up_to_the_99th_percentile_and_says_so(long_attention):
    # 508 tokens: each layer's colours as one image, on its own scale (the exact percentile
    # and the pixels: tests/app/test_attention_image.py)
    heat = canvases(long_attention)["attention_heatmap"]
    assert heat["values"] is None and len(heat["png"]) == 6
    scale = heat["scales"][2]  # layer 3, the open one
    assert 0 < scale["zmax"] < 0.89 / 10  # a scale to the maximum (0.89) would leave it white
    assert "99th percentile" in scale["bar"] and f"{scale['zmax']:.3g}" in scale["bar"]
    assert len({s["zmax"] for s in heat["scales"]}) == 6  # every layer's own cap
    captions = " ".join(c.value for c in long_attention.caption)
    assert "99th percentile of the values shown" in captions


def test_each_row_to_its_maximum_keeps_the_exact_values_for_the_hover():
    at = new_app(view="attention", text=MEDIUM, attention_scale="row")
    assert no_problem(at)
    heat = canvases(at)["attention_heatmap"]
    assert {s["kind"] for s in heat["scales"]} == {"row"}  # the browser scales each row
    T = len(heat["rows"])
    for b64 in heat["values"]:  # the exact weights, for the hover, at every layer
        assert np.allclose(floats(b64, (T, T)).sum(axis=1), 1, atol=1e-4)
    assert "row's largest" in heat["scales"][0]["bar"]


def test_a_window_of_rows_and_columns_from_the_address():
    at = new_app(view="attention", text=LONG, attention_rows="100-160", attention_cols="90-170")
    assert no_problem(at)
    assert at.slider(key="attention_rows").value == (100, 160)
    heat = canvases(at)["attention_heatmap"]
    assert len(heat["rows"]) == 61 and len(heat["cols"]) == 81
    assert heat["rows"][0].startswith("100 ") and heat["cols"][-1].startswith("170 ")
    assert all("rows 100–160, columns 90–170" in title for title in heat["titles"])
    assert heat["values"] is not None  # 81 a side: the exact values travel
    assert at.query_params["attention_rows"] == "100-160"
    # moved by the user, a window stays; on a short text there is nothing to window
    at.slider(key="attention_cols").set_value((0, 50)).run()
    assert len(canvases(at)["attention_heatmap"]["cols"]) == 51


def test_the_windows_cover_a_new_text_until_the_user_moves_them():
    at = new_app(view="attention", text=MEDIUM)
    assert at.slider(key="attention_rows").value == (0, 130)
    at.sidebar.text_area(key="text").input(LONG).run()
    assert no_problem(at)
    assert at.slider(key="attention_rows").value == (0, 507)
    assert not new_app(view="attention", text=SHORT).get("slider")[1:]  # the head only


def test_tick_labels_thin_out_and_hover_still_names_every_cell(long_attention):
    heat = canvases(long_attention)["attention_heatmap"]
    # at most 60 row and 30 column labels (the heatmap has 3/5 of the width), every k-th one
    # drawn by the browser (tests/browser/test_attention_in_chromium.py)
    assert heat["y_ticks"] == 60 and heat["x_ticks"] == 30
    # every cell keeps its position and token, for the hover
    assert [int(x.split()[0]) for x in heat["rows"]] == list(range(508))
    assert heat["rows"] == heat["cols"] and heat["rows"][0] == "0 [CLS]"


def test_compare_layers_is_readable_at_length():
    at = new_app(view="layers", text=LONG)
    assert no_problem(at)
    left, right = figures(at)["side_by_side"]["data"]
    assert left["zmax"] == right["zmax"] < max(array(left["z"]).max(), array(right["z"]).max()) / 5


def test_compare_layers_marks_where_the_second_sentence_starts():
    pair = new_app(view="layers", text="The bank by the river.", pair="It flooded in spring.")
    shapes = figures(pair)["side_by_side"]["layout"]["shapes"]
    assert len(shapes) == 4  # a column and a row line in each of the two layers
    second = 8  # [CLS] the bank by the river . [SEP] | it ...
    assert {s["x0"] for s in shapes if s["type"] == "line" and s["x0"] == s["x1"]} == {second - 0.5}


def test_the_two_dimensional_view_starts_from_one_layer_above_100_tokens():
    at = new_app(view="embeddings", text=MEDIUM)
    assert no_problem(at)
    assert at.radio(key="proj_scope").value == "one"
    captions = " ".join(c.value for c in at.caption)
    assert "131 tokens" in captions and "above 100" in captions
    assert len(figures(at)["projection"]["data"]) == 1  # one layer, no paths
    at.radio(key="proj_scope").set_value("all").run()  # the user can still choose every layer
    assert len(figures(at)["projection"]["data"]) == 1 + 7
    at.sidebar.text_area(key="text").input(LONG).run()
    assert at.radio(key="proj_scope").value == "all"  # a choice is kept
    short = new_app(view="embeddings", text=SHORT)
    assert short.radio(key="proj_scope").value == "all"
    assert "above 100" not in " ".join(c.value for c in short.caption)


# ---------------------------------------------------------------- the head view
def test_the_head_view_is_titled_like_every_other_chart_and_takes_the_full_width():
    at = new_app(view="attention", text=SHORT)
    assert no_problem(at) and charts(at) == 3
    assert not at.subheader  # no heading larger than the charts' titles
    head_view = canvases(at)["head_view"]
    assert [t.split(" · ")[1] for t in head_view["titles"]] == [
        f"layer {n}, head 1" for n in range(1, 7)
    ]
    assert head_view["titles"][0].startswith("Head view · layer 1, head 1")
    assert len(head_view["left"]) == len(head_view["right"]) == 16
    # one head: the lines come from the heatmap's own values, held once by the browser
    heat = canvases(at)["attention_heatmap"]
    assert head_view["source"] == heat["id"] and head_view["lines"] is None


def test_a_token_in_focus_keeps_only_its_lines_and_outlines_its_row():
    at = new_app(view="attention", text=SHORT, attention_query="5")
    assert no_problem(at)
    assert at.selectbox(key="attention_query").value == 5
    drawn = canvases(at)
    assert drawn["head_view"]["focus"] == 5 and drawn["attention_heatmap"]["focus"] == 5
    row = figures(at)["attention_row"]["data"][0]
    heat = floats(drawn["attention_heatmap"]["values"][0], (16, 16))
    assert np.allclose(array(row["y"]), heat[5])


def test_every_head_of_the_layer_in_its_own_colour():
    at = new_app(view="attention", text=SHORT, head_view_heads="all")
    assert no_problem(at)
    head_view = canvases(at)["head_view"]
    assert head_view["head_names"] == [f"H{h}" for h in range(1, 13)]
    assert len(set(head_view["colours"])) == 12
    assert "one colour each" in head_view["titles"][0]
    assert len(head_view["lines"]) == 6  # every layer's lines, for the slider
    first = head_view["lines"][0]
    heads_of = np.frombuffer(base64.b64decode(first["h"]), dtype=np.uint8)
    weights = floats(first["w"])
    assert set(heads_of.tolist()) == set(range(12)) and (weights >= 0.05).all()


def test_the_head_view_speaks_chinese():
    at = new_app(view="attention", text="我们在河边的银行门口见面。", lang="zh")
    assert no_problem(at)
    title = canvases(at)["head_view"]["titles"][0]
    assert title.startswith("头视图") and zh.CATALOGUE["attention"]["head_view_sides"] in [
        c.value for c in at.caption
    ]
    assert (
        en.CATALOGUE["attention"]["head_view_title"] != zh.CATALOGUE["attention"]["head_view_title"]
    )


def test_a_long_input_asks_for_a_narrower_window_before_drawing_lines(long_attention):
    assert charts(long_attention) == 2 and "Narrow the windows" in long_attention.info[0].value
    at = new_app(view="attention", text=LONG, attention_rows="200-260", attention_cols="180-300")
    assert no_problem(at) and charts(at) == 3
    head_view = canvases(at)["head_view"]
    assert len(head_view["left"]) == 61 and len(head_view["right"]) == 121


# ---------------------------------------------------------------- the 2-D figure
def test_two_dimensional_labels_sit_above_their_markers():
    hidden = np.random.default_rng(0).normal(size=(3, 6, 16)).astype(np.float32)
    labels = ["[CLS]", "the", "river", "bank", "flooded", "[SEP]"]
    fig = projection_fig.token_paths(
        project_layers(hidden, [0, 1, 2], "PCA"), labels, [0, 1, 2], "layer", "t", ("a", "b"), "s"
    )
    last = fig.data[-1]
    assert "text" not in last.mode  # no label drawn on a marker
    assert fig.layout.annotations and all(a.yshift >= 8 for a in fig.layout.annotations)
    points = {(float(x), float(y)) for x, y in zip(last.x, last.y)}
    assert all((a.x, a.y) in points for a in fig.layout.annotations)


def test_colour_by_token_has_a_key():
    hidden = np.random.default_rng(1).normal(size=(2, 5, 8)).astype(np.float32)
    labels = ["[CLS]", "a", "bank", "<b>", "[SEP]"]
    fig = projection_fig.token_paths(
        project_layers(hidden, [0, 1], "PCA"), labels, [0, 1], "token", "t", ("a", "b"), "s",
        colour_key="token",
    )  # fmt: skip
    bar = fig.data[-1].marker
    assert bar.showscale and bar.colorbar.title.text == "token"
    assert list(bar.colorbar.ticktext) == ["0 [CLS]", "1 a", "2 bank", "3 &lt;b&gt;", "4 [SEP]"]
    assert list(fig.data[-1].marker.color) == [0, 1, 2, 3, 4]
    assert fig.data[-1].customdata[2] == "2 bank"  # hover names the position the key shows
