"""Helpers shared by every figure: safe labels, thinned ticks, compact float arrays."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

import numpy as np

from viz.analysis.attention import row_scaled
from viz.figures import go
from viz.figures.go import named_scale

MAX_TICKS = 60  # beyond this, tick labels thin out so they stay readable
# Plotly's default hides tick labels that cross the chart's edge, measuring every label against
# every other on each redraw: 300 ms of a 512-token heatmap's step in Chromium. Our margins
# make room for the labels, so there is nothing to hide.
TICKS_OVERFLOW = {"ticklabeloverflow": "allow"}
FONT = "Noto Sans, Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"


@dataclass(frozen=True)
class Words:
    """The words a figure shows besides its title and the user's tokens (hovers, fixed axis
    names), given by the caller in the reader's language: nothing here is in English."""

    query: str  # the token asking: "from" in a heatmap's hover
    key: str  # the token looked at: "to"
    layer: str
    head: str
    js_distance: str  # Jensen-Shannon distance between two heads
    norm: str  # axis of hidden-state norms
    update_ratio: str  # axis of a block's update over its input


@dataclass(frozen=True)
class ColourScale:
    """How a heatmap turns values into colours, and the colour bar's title, which names the
    scale in the reader's language. ``kind``: "linear" runs from 0 to ``zmax`` (a ``zmax``
    below the largest value, such as a percentile, makes larger values saturate); "row" runs
    every row from 0 to its own maximum (``zmax`` unused). Hover always shows the exact value."""

    kind: str
    zmax: float
    title: str


def safe(text: str) -> str:
    """Escape user text for Plotly, which renders a subset of HTML in labels and hovers: tags
    (``<b>``, ``<br>``, ``<a href>``) and entities. Only ``&``, ``<`` and ``>`` start those;
    Plotly decodes ``&amp;``, ``&lt;`` and ``&gt;`` but not ``&quot;``, so quotes stay as they
    are (a ``"`` would otherwise show as a literal ``&quot;``)."""
    return html.escape(text, quote=False)


LABEL_CHARS = 20  # a tick or point label longer than this is cut (hover shows it whole)


def shorten(label: str, width: int = LABEL_CHARS) -> str:
    """``label`` cut to ``width`` characters with an ellipsis: one 120-letter token (a DNA
    primer, a URL) would otherwise squeeze its chart into a corner."""
    return label if len(label) <= width else label[: width - 1] + "…"


def short_safe(escaped: str, width: int = LABEL_CHARS) -> str:
    """``shorten`` for a label that is already escaped (cut the text, not an entity)."""
    return safe(shorten(html.unescape(escaped), width))


def text_width(text: str) -> float:
    """About how many pixels ``text`` (unescaped) takes at 12 px: 7 a character, 13 for a wide
    CJK one."""
    return sum(13 if unicodedata.east_asian_width(c) in "WF" else 7 for c in text)


def position_labels(labels: list[str], positions: np.ndarray | None = None) -> list[str]:
    """Unique, escaped labels ``"3 bank"``: repeated tokens stay distinct on categorical axes."""
    positions = np.arange(len(labels)) if positions is None else positions
    return [f"{int(p)} {safe(label)}" for p, label in zip(positions, labels)]


def thinned_ticks(labels: list[str], max_ticks: int = MAX_TICKS) -> tuple[list[int], list[str]]:
    """Tick indices and their labels (cut to ``LABEL_CHARS``), every k-th one when there are
    too many."""
    step = max(1, int(np.ceil(len(labels) / max_ticks)))
    vals = list(range(0, len(labels), step))
    return vals, [short_safe(labels[i]) for i in vals]


def compact(array: np.ndarray) -> np.ndarray:
    """float32: Plotly ships numpy arrays as base64 typed arrays, 4 bytes per value."""
    return np.ascontiguousarray(array, dtype=np.float32)


def layout_base(title: str, height: int = 500, top: int = 50) -> dict:
    """Shared look, as a layout dict. ``title`` is ours (may hold <br> and styled <span>);
    escape user text before passing it."""
    return {
        "title": {"text": title, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": top, "b": 10},
        "font": {"family": FONT},
        "xaxis": dict(TICKS_OVERFLOW),
        "yaxis": dict(TICKS_OVERFLOW),
    }


def base_layout(fig: go.Figure, title: str, height: int = 500, top: int = 50) -> go.Figure:
    """``layout_base`` applied to a figure."""
    fig.update_layout(layout_base(title, height, top))
    return fig


def token_axis(labels: list[str], x: bool = True, max_ticks: int = MAX_TICKS) -> dict:
    """A categorical axis of unique ``position_labels``, thinned to ``max_ticks`` (fewer for a
    chart that gets half the width), as a layout entry; y reads top-down."""
    idx, text = thinned_ticks(labels, max_ticks)
    axis = {
        "type": "category",
        "tickmode": "array",
        "tickvals": [labels[i] for i in idx],
        "ticktext": text,
        "tickfont": {"size": 11 if len(labels) <= 40 else 9},
        **TICKS_OVERFLOW,
    }
    axis.update({"tickangle": -60} if x else {"autorange": "reversed"})
    return axis


def token_axes(
    fig: go.Figure,
    labels: list[str],
    row: int | None = None,
    col: int | None = None,
    x: bool = True,
    y: bool = True,
    max_ticks: int = MAX_TICKS,
) -> None:
    """``token_axis`` applied to a figure's x and/or y axes (of one subplot: ``row``, ``col``)."""
    kwargs = {} if row is None else {"row": row, "col": col}
    if x:
        fig.update_xaxes(token_axis(labels, True, max_ticks), **kwargs)
    if y:
        fig.update_yaxes(token_axis(labels, False, max_ticks), **kwargs)


def attention_trace(
    matrix: np.ndarray,
    names: list[str],
    value_name: str,
    scale: ColourScale,
    words: Words,
    col_names: list[str] | None = None,
    **kwargs: object,
) -> go.Heatmap:
    """A [R, C] token-to-token heatmap (rows from, columns to) with the exact value on hover,
    coloured by ``scale``. ``col_names``: the columns' labels when they are not the rows'.
    Per-row colours are sent as one byte a cell (256 shades are more than the eye tells
    apart) beside the exact float32 values for the hover."""
    hover = f"{words.query} %{{y}}<br>{words.key} %{{x}}<br>{value_name} "
    colorbar = {
        "thickness": 12,
        **kwargs.pop("colorbar", {}),
        "title": {"text": scale.title, "side": "right"},
    }
    if scale.kind == "row":
        shades = np.rint(row_scaled(np.asarray(matrix, dtype=np.float64)) * 255).astype(np.uint8)
        colour = {"z": shades, "customdata": compact(matrix), "zmin": 0, "zmax": 255}
        hover += "%{customdata:.6f}"
        quarters = np.linspace(0, 255, 5)
        colorbar.update(tickvals=quarters, ticktext=[f"{q:.0%}" for q in quarters / 255])
    else:
        colour = {"z": compact(matrix), "zmin": 0, "zmax": scale.zmax}
        hover += "%{z:.6f}"
    return go.Heatmap(
        x=col_names if col_names is not None else names,
        y=names,
        colorscale=named_scale("Blues"),
        hovertemplate=hover + "<extra></extra>",
        colorbar=colorbar,
        **colour,
        **kwargs,
    )


CLICKS = {"clickmode": "event+select", "dragmode": False}  # the layout a click target needs


def click_targets(
    x: list | np.ndarray,
    y: list | np.ndarray,
    size: int,
    words: Words,
    values: np.ndarray | None = None,
    value_name: str = "",
) -> dict:
    """One invisible square marker per head over a layers x heads heatmap, so a click can pick
    a head: Plotly heatmaps emit no selection events, markers do. ``x``: [H] positions of the
    head columns, ``y``: [L] of the layer rows. Each marker's customdata is [layer, head]
    (1-based), then the head's value from ``values`` [L, H] if given, shown on hover."""
    L, H = len(y), len(x)
    ly, hx = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
    columns = [ly.ravel() + 1, hx.ravel() + 1]
    hover = f"{words.layer} %{{customdata[0]}}, {words.head} %{{customdata[1]}}"
    if values is not None:
        columns.append(values.ravel())
        hover += "<br>" + value_name + " %{customdata[2]:.4f}"
    return {
        "type": "scatter",
        "x": np.asarray(x)[hx.ravel()],
        "y": np.asarray(y)[ly.ravel()],
        "mode": "markers",
        "marker": {"symbol": "square", "size": size, "opacity": 0.01, "color": "#000"},
        "customdata": np.stack(columns, axis=-1),
        "hovertemplate": hover + "<extra></extra>",
        "showlegend": False,
    }


def head_click_targets(
    fig: go.Figure,
    x: list | np.ndarray,
    y: list | np.ndarray,
    size: int,
    words: Words,
    values: np.ndarray | None = None,
    value_name: str = "",
) -> go.Figure:
    """``click_targets`` added to a figure, which then answers clicks by selecting."""
    fig.add_trace(click_targets(x, y, size, words, values, value_name))
    fig.update_layout(CLICKS)
    return fig
