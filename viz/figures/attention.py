"""Attention figures: one head's heatmap and the model view grid. The attention page draws its
heatmap and head view on canvases (viz/ui/canvas); other pages use this heatmap."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from viz.analysis.attention import colour_cap, downsample, row_scaled
from viz.figures import go
from viz.figures.common import (
    MAX_TICKS,
    TICKS_OVERFLOW,
    ColourScale,
    Words,
    attention_trace,
    base_layout,
    compact,
    layout_base,
    position_labels,
    safe,
    short_safe,
    thinned_ticks,
    token_axes,
    token_axis,
)
from viz.figures.go import named_scale

THUMB = 32  # thumbnail side in cells; longer inputs are average-pooled down to this
FOCUS_COLOUR = "#ff7f0e"  # the token in focus: its outlined row, its bars, its marker
# A heatmap with a side longer than this goes to the browser as one PNG of its colours: a
# 512 x 512 grid of numbers is 1.4 MB that Plotly paints cell by cell on every layer step.
IMAGE_ABOVE = 256
COLOURS = named_scale("Blues")  # [[stop, "rgb(r,g,b)"], ...]


def shades(matrix: np.ndarray, scale: ColourScale) -> np.ndarray:
    """[R, C] -> uint8 [R, C]: where each cell falls on the colour scale, in 256 shades (more
    than the eye tells apart; a "row" scale is sent in as many by ``attention_trace``)."""
    m = np.asarray(matrix, dtype=np.float64)
    at = row_scaled(m) if scale.kind == "row" else np.clip(m / max(scale.zmax, 1e-12), 0, 1)
    return np.rint(at * 255).astype(np.uint8)


def colour_mapped(values: np.ndarray, colours=COLOURS) -> np.ndarray:
    """[R, C] scale positions 0..1 -> [R, C, 3] uint8 RGB, linear between the scale's stops
    (as Plotly interpolates them)."""
    stops = np.array([stop for stop, _ in colours], dtype=np.float64)
    rgb = np.array(
        [[float(c) for c in colour[colour.index("(") + 1 : -1].split(",")] for _, colour in colours]
    )  # [S, 3]
    channels = [np.interp(values, stops, rgb[:, i]) for i in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


# zlib's fastest level: on real attention the model view's PNG encodes in 10-12 ms instead of
# 34-37 (Pillow's default, 6) for 7-14% more bytes, and a 464-token heatmap in 3 ms instead
# of 10 for 16% more; the server's CPU is the scarcer of the two.
PNG_LEVEL = 1


def palette_png_uri(index: np.ndarray, colours=COLOURS) -> str:
    """uint8 [R, C] shades -> a data: URI of a lossless one-byte-a-pixel PNG whose palette is
    the colour scale sampled at 0, 1/255, ..., 1 (a third of an RGB PNG's size)."""
    R, C = index.shape
    image = Image.frombytes("P", (C, R), np.ascontiguousarray(index, dtype=np.uint8).tobytes())
    image.putpalette(colour_mapped(np.arange(256) / 255, colours).tobytes())
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=PNG_LEVEL)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def png_uri(rgb: np.ndarray) -> str:
    """[R, C, 3] (or 4, with alpha) uint8 -> a data: URI of the lossless PNG."""
    out = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    image.save(out, format="PNG", compress_level=PNG_LEVEL)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def contiguous(positions: np.ndarray) -> bool:
    """Whether token positions run without a gap: an image's coordinates can then be them."""
    return len(positions) < 2 or bool((np.diff(positions) == 1).all())


def image_traces(
    matrix: np.ndarray,
    scale: ColourScale,
    words: Words,
    offsets: tuple[int, int],
    hover: bool,
) -> list:
    """The heatmap as an image trace of its colours, and an invisible two-cell heatmap on the
    same scale that only draws the colour bar. ``offsets``: the first row's and column's
    coordinate (their token positions, when the positions run without a gap, so that hover
    names them). Without ``hover`` the image does not answer hovering (its coordinates would
    not be positions)."""
    R, C = matrix.shape
    y0, x0 = offsets
    colorbar = {"thickness": 12, "title": {"text": scale.title, "side": "right"}}
    if scale.kind == "row":
        bar = {"z": [[0, 255]], "zmin": 0, "zmax": 255}
        quarters = np.linspace(0, 255, 5)
        colorbar.update(tickvals=quarters, ticktext=[f"{q:.0%}" for q in quarters / 255])
    else:
        bar = {"z": [[0.0, scale.zmax]], "zmin": 0, "zmax": scale.zmax}
    key_bar = go.Heatmap(
        x=[x0, x0 + min(1, C - 1)],
        y=[y0],
        colorscale=COLOURS,
        opacity=0,
        hoverinfo="skip",
        colorbar=colorbar,
        **bar,
    )
    image = go.Image(
        source=palette_png_uri(shades(matrix, scale)),
        x0=x0,
        y0=y0,
        dx=1,
        dy=1,
        hovertemplate=f"{words.query} %{{y}}<br>{words.key} %{{x}}<extra></extra>",
        hoverinfo=None if hover else "skip",
    )
    return [key_bar, image]


def _index_axes(names: list[str], col_names: list[str], x_ticks: int,
                offsets: tuple[int, int]) -> dict:  # fmt: skip
    """Linear axes (an image is drawn fast only on those) labelled like ``token_axes``, as
    layout entries."""
    R, C = len(names), len(col_names)
    axes = {}
    for axis, labels, n, ticks, off in (
        ("xaxis", col_names, C, x_ticks, offsets[1]),
        ("yaxis", names, R, MAX_TICKS, offsets[0]),
    ):
        idx, text = thinned_ticks(labels, ticks)
        axes[axis] = {
            "type": "linear",
            "tickmode": "array",
            "tickvals": [i + off for i in idx],
            "ticktext": text,
            "tickfont": {"size": 9},
            "range": [off - 0.5, off + n - 0.5],
            "showgrid": False,
            "zeroline": False,
            **TICKS_OVERFLOW,
        }
    axes["xaxis"]["tickangle"] = -60
    # top down; cells need not be square (an image trace would otherwise pin them so)
    axes["yaxis"].update(range=[offsets[0] + R - 0.5, offsets[0] - 0.5], scaleanchor=False)
    return axes


def heatmap(
    matrix: np.ndarray,
    labels: list[str],
    positions: np.ndarray,
    title: str,
    value_name: str,
    axis_titles: tuple[str, str],
    words: Words,
    zmax: float | None = None,
    boundary: int | tuple[int | None, int | None] | None = None,
    *,
    scale: ColourScale | None = None,
    col_labels: list[str] | None = None,
    col_positions: np.ndarray | None = None,
    focus: int | None = None,
    x_ticks: int = MAX_TICKS,
) -> go.Figure:
    """[R, C] rows = queries (from), columns = keys (to). Hover shows both tokens and the
    exact value; axes are positions so repeated tokens stay distinct. ``axis_titles``: x, y.
    ``col_labels``/``col_positions``: the columns' when they are not the rows' (a window).
    ``boundary``: the row and column index where a pair's second sentence starts (one
    number when rows and columns are the same), marked by lines. ``scale``: the colours
    (default: linear from 0 to ``zmax`` or the largest value). ``focus``: a row to outline.
    ``x_ticks``: at most this many column labels (fewer for a chart narrower than tall)."""
    names = position_labels(labels, positions)
    if col_labels is None:
        col_names = names
    else:
        col_names = position_labels(col_labels, col_positions)
    R, C = len(names), len(col_names)
    if scale is None:
        top = zmax if zmax is not None else float(max(matrix.max(), 1e-9))
        scale = ColourScale("linear", top, value_name)
    if max(R, C) > IMAGE_ABOVE:
        row_pos = np.arange(R) if positions is None else np.asarray(positions)
        col_pos = row_pos if col_positions is None else np.asarray(col_positions)
        # coordinates are token positions when they run without a gap (hover then names them)
        hover = contiguous(row_pos) and contiguous(col_pos)
        offsets = (int(row_pos[0]), int(col_pos[0])) if hover else (0, 0)
        data = image_traces(matrix, scale, words, offsets, hover)
        axes = _index_axes(names, col_names, x_ticks, offsets)
    else:
        offsets = (0, 0)
        data = [attention_trace(matrix, names, value_name, scale, words, col_names)]
        axes = {
            "xaxis": token_axis(col_names, x=True, max_ticks=x_ticks),
            "yaxis": token_axis(names, x=False),
        }
    axes["xaxis"].update(title={"text": axis_titles[0]}, side="bottom")
    axes["yaxis"].update(title={"text": axis_titles[1]})
    shapes = []
    row_b, col_b = boundary if isinstance(boundary, tuple) else (boundary, boundary)
    line = {"color": "#d62728", "width": 1.5, "dash": "dot"}
    oy, ox = offsets  # index -> coordinate (0 on categorical axes)
    if col_b is not None and 0 < col_b < C:
        at = ox + col_b - 0.5  # between two categories
        shapes.append(
            {"type": "line", "x0": at, "x1": at, "y0": oy - 0.5, "y1": oy + R - 0.5, "line": line}
        )
    if row_b is not None and 0 < row_b < R:
        at = oy + row_b - 0.5
        shapes.append(
            {"type": "line", "y0": at, "y1": at, "x0": ox - 0.5, "x1": ox + C - 0.5, "line": line}
        )
    if focus is not None and 0 <= focus < R:
        shapes.append(
            {
                "type": "rect",
                "x0": ox - 0.5,
                "x1": ox + C - 0.5,
                "y0": oy + focus - 0.5,
                "y1": oy + focus + 0.5,
                "line": {"color": FOCUS_COLOUR, "width": 2},
            }
        )
    layout = layout_base(title, height=420 + min(R, 80) * 6) | axes
    if shapes:
        layout["shapes"] = shapes
    return go.Figure({"data": data, "layout": layout})


def row_bars(
    values: np.ndarray,
    labels: list[str],
    positions: np.ndarray,
    title: str,
    value_name: str,
    axis_title: str,
    words: Words,
    named: int = 5,
) -> go.Figure:
    """One row of a heatmap [C] as bars over its columns (the keys), the ``named`` largest
    labelled with their token; hover names every bar."""
    names = position_labels(labels, positions)
    top = set(np.argsort(-values, kind="stable")[:named].tolist())
    fig = go.Figure(
        go.Bar(
            x=names,
            y=compact(values),
            text=[short_safe(safe(labels[i])) if i in top else "" for i in range(len(names))],
            textposition="outside",
            textfont={"color": "#444", "size": 10},
            cliponaxis=False,
            marker_color=FOCUS_COLOUR,
            hovertemplate=f"{words.key} %{{x}}<br>{value_name} %{{y:.6f}}<extra></extra>",
        )
    )
    token_axes(fig, names, y=False)
    fig.update_xaxes(title_text=axis_title)
    fig.update_yaxes(title_text=value_name, rangemode="tozero")
    return base_layout(fig, title, height=360, top=60)


GAP = 255  # the palette index of the model view's gaps between thumbnails: see-through


def model_view_grid(attentions: np.ndarray, thumb: int = THUMB) -> tuple[np.ndarray, float]:
    """All layers x heads as small multiples: [L, H, T, T] -> (uint8 [L*c - g, H*c - g] grid of
    shades, ``GAP`` between the thumbnails, and the share ``t / c`` of a cell a thumbnail fills),
    each thumbnail average-pooled to ``thumb`` cells a side, layer rows, head columns. The
    shades run to the grid's 99th percentile, as the heatmap's default: at long inputs a
    linear scale to the largest weight leaves the thumbnails white."""
    L, H, T, _ = attentions.shape
    small = downsample(attentions, thumb)  # [L, H, t, t]
    t = small.shape[-1]
    gap = max(1, t // 8)
    cell = t + gap
    top = colour_cap(small)
    shade = np.rint(np.clip(small / max(top, 1e-12), 0, 1) * (GAP - 1)).astype(np.uint8)
    grid = np.full((L * cell - gap, H * cell - gap), GAP, dtype=np.uint8)
    for layer in range(L):
        for head in range(H):
            y, x = layer * cell, head * cell
            grid[y : y + t, x : x + t] = shade[layer, head]
    return grid, t / cell


def model_view_png(grid: np.ndarray, colours=COLOURS) -> str:
    """A ``model_view_grid`` as a data: URI of a one-byte-a-pixel PNG: its palette the colour
    scale in ``GAP`` shades, and ``GAP`` itself see-through."""
    image = Image.frombytes("P", grid.shape[::-1], np.ascontiguousarray(grid).tobytes())
    palette = colour_mapped(np.arange(GAP) / (GAP - 1), colours)
    image.putpalette(np.concatenate([palette, np.zeros((1, 3), np.uint8)]).tobytes())
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=PNG_LEVEL, transparency=GAP)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


HEAD_COLOURS = (  # one per head when several are drawn (Plotly's Dark24), then round again
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip
