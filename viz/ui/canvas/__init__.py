"""The attention page's layer slider, heatmap and head view as one Streamlit component drawn on
canvases (``attention.js``): they hold every layer of what is shown, so a step of the layer
slider repaints in the browser at once and the page's rerun that follows only catches the rest
of the page up. What each mount receives is built here from numpy arrays; nothing in it is
HTML, and the browser sets every label as text."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from viz.figures.attention import (
    COLOURS,
    HEAD_COLOURS,
    IMAGE_ABOVE,
    colour_mapped,
    palette_png_uri,
    shades,
)
from viz.figures.common import ColourScale, shorten

_HERE = Path(__file__).parent
COMPONENT = st.components.v2.component(
    "viz_attention",
    js=(_HERE / "attention.js").read_text(encoding="utf-8"),
    css=(_HERE / "attention.css").read_text(encoding="utf-8"),
    # in the page's own DOM, not a shadow root, so that tests and benchmarks find the charts
    # as they find Plotly's; every class name starts with viz-
    isolate_styles=False,
)
LAYER_SEQ = "_canvas_layer_seq"  # bumped when the layer changes other than by the slider
LAYER_SHOWN = "_canvas_layer_shown"  # the layer the slider last showed or was told
THRESHOLD = 0.05  # the head view's weakest line (a fifth of it for the token in focus)
MAX_LINES = 3000
LINKS = 3  # hovering a head-view token lists its strongest lines
PALETTE = base64.b64encode(colour_mapped(np.arange(256) / 255, COLOURS).tobytes()).decode()


def _b64(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Texts:
    """What the component writes, in the reader's language."""

    query: str
    key: str
    value: str
    png: str
    png_help: str
    click_help: str = ""
    legend_help: str = ""


def layer_slider(key: str, layers: int, layer: int, label: str, on_change) -> None:
    """The layer slider (1-based ``layer``). ``on_change`` runs when the reader moves it; its
    new value is then ``layer_moved(key)``."""
    s = st.session_state
    if s.get(LAYER_SHOWN) != layer:  # a thumbnail, an address, another page: the server's
        s[LAYER_SEQ] = s.get(LAYER_SEQ, 0) + 1
        s[LAYER_SHOWN] = layer
    data = {"kind": "slider", "key": key, "layers": int(layers), "layer": int(layer),
            "seq": s[LAYER_SEQ], "label": label}  # fmt: skip
    COMPONENT(key=key, data=data, on_layer_change=on_change, height=62)


def layer_moved(key: str) -> int | None:
    """The layer the reader moved the slider ``key`` to (1-based), and remember it as shown."""
    try:
        value = int(st.session_state[key]["layer"])
    except (KeyError, TypeError, ValueError):
        return None  # a message the page never sent: ignored
    st.session_state[LAYER_SHOWN] = value
    return value


def heatmap(
    key: str,
    set_id: str,
    shown: list[np.ndarray],
    scales: list[ColourScale],
    titles: list[str],
    rows: list[str],
    cols: list[str],
    axes: tuple[str, str],
    texts: Texts,
    *,
    boundary: tuple[int | None, int | None],
    focus: int | None,
    x_ticks: int,
    y_ticks: int,
    download: str,
) -> None:
    """Every layer's [R, C] matrix (``shown``) on its own colour scale; ``rows``/``cols``: the
    labels ("3 bank"). The exact values travel as float32 up to ``IMAGE_ABOVE`` tokens a side
    (for the hover); longer, each layer is a PNG of its colours."""
    R, C = shown[0].shape
    exact = max(R, C) <= IMAGE_ABOVE
    data = {
        "kind": "heatmap",
        "id": set_id,
        "titles": titles,
        "rows": rows,
        "cols": cols,
        "axes": list(axes),
        "words": {"query": texts.query, "key": texts.key, "value": texts.value},
        "scales": [
            {"kind": "row" if s.kind == "row" else "linear", "zmax": float(s.zmax), "bar": s.title}
            for s in scales
        ],  # fmt: skip
        "values": [_b64(m, np.float32) for m in shown] if exact else None,
        "png": None if exact else [palette_png_uri(shades(m, s)) for m, s in zip(shown, scales)],
        "palette": PALETTE,
        "boundary": [_int_or_none(b) for b in boundary],
        "focus": _int_or_none(focus),
        "height": 420 + min(R, 80) * 6,
        "x_ticks": x_ticks,
        "y_ticks": y_ticks,
        "download": download,
        "png_label": texts.png,
        "png_help": texts.png_help,
    }
    COMPONENT(key=key, data=data)


def head_view(
    key: str,
    set_id: str,
    titles: list[str],
    left: list[str],
    right: list[str],
    left_positions: list[int],
    texts: Texts,
    *,
    normalise: bool,
    focus: int | None,
    on_focus,
    stacks: list[np.ndarray] | None = None,
    head_names: list[str] | None = None,
    download: str,
) -> None:
    """BertViz-style lines from each query (left) to each key (right), opacity = weight. One
    head: drawn from the heatmap ``set_id``'s own values. Several (``stacks``: a [K, R, C]
    array a layer, with ``head_names``): their lines above the threshold are sent, each head
    in its colour. A click on a left token runs ``on_focus``; its position is then
    ``focus_clicked(key)``."""
    data = {
        "kind": "heads",
        "source": set_id,
        "titles": titles,
        "left": [shorten(x) for x in left],
        "right": [shorten(x) for x in right],
        "left_positions": [int(p) for p in left_positions],
        "normalise": normalise,
        "threshold": THRESHOLD,
        "max_lines": MAX_LINES,
        "links": LINKS,
        "focus": _int_or_none(focus),
        "head_names": head_names,
        "colours": None,
        "lines": None,
        "click_help": texts.click_help,
        "legend_help": texts.legend_help,
        "download": download,
        "png_label": texts.png,
        "png_help": texts.png_help,
    }
    if stacks is not None:
        data["colours"] = [HEAD_COLOURS[h % len(HEAD_COLOURS)] for h in range(len(head_names))]
        data["lines"] = [sparse_lines(m, normalise, focus) for m in stacks]
    COMPONENT(key=key, data=data, on_focus_change=on_focus)


def model_view(
    key: str,
    png: str,
    fill: float,
    layers: int,
    heads: int,
    open_head: int | None,
    title: str,
    texts: Texts,
    words: tuple[str, str],
    on_open,
) -> None:
    """Every layer x head as thumbnails (``png``: ``model_view_grid`` as a PNG), the open head
    (0-based; None when the heads are averaged) outlined at the slider's layer. A click on a
    thumbnail runs ``on_open``; the head clicked is then ``head_clicked(key)``."""
    data = {
        "kind": "grid",
        "png": png,
        "fill": fill,
        "layers": layers,
        "heads": heads,
        # the open head's column; its row is the slider's layer, which the browser knows (a
        # layer step then leaves this message, and its image, unchanged)
        "open_head": _int_or_none(open_head),
        "layer_labels": [f"L{n}" for n in range(1, layers + 1)],
        "head_labels": [f"H{n}" for n in range(1, heads + 1)],
        "title": title,
        "words": {"layer": words[0], "head": words[1]},
        "click_help": texts.click_help,
        "download": "model_view",
        "png_label": texts.png,
        "png_help": texts.png_help,
    }
    COMPONENT(key=key, data=data, on_open_change=on_open)


def head_clicked(key: str) -> tuple[int, int] | None:
    """(layer, head), 1-based, of the thumbnail the reader clicked in the model view ``key``."""
    try:
        layer, head = (int(v) for v in st.session_state[key]["open"])
    except (KeyError, TypeError, ValueError):
        return None  # a message the page never sent: ignored
    return layer, head


def sparse_lines(stack: np.ndarray, normalise: bool, focus: int | None) -> dict[str, str]:
    """[K, R, C] -> the lines worth drawing (weight at least ``THRESHOLD``, a fifth of it in
    the ``focus`` row), as base64 arrays: head (uint8), query and key (uint16), weight."""
    m = stack / max(float(stack.max()), 1e-9) if normalise else stack
    keep = m >= THRESHOLD
    if focus is not None:
        keep[:, focus, :] |= m[:, focus, :] >= THRESHOLD / 5
    h, q, k = np.nonzero(keep)
    return {"h": _b64(h, np.uint8), "q": _b64(q, np.uint16), "k": _b64(k, np.uint16),
            "w": _b64(m[h, q, k], np.float32)}  # fmt: skip


def focus_clicked(key: str) -> int | None:
    """The token position the reader clicked on the head view ``key``."""
    try:
        return int(st.session_state[key]["focus"])
    except (KeyError, TypeError, ValueError):
        return None
