"""Token embeddings in 2-D, with each token's path across layers."""

from __future__ import annotations

import html
import unicodedata

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from viz.analysis.projection import Projection
from viz.figures.common import base_layout, safe, short_safe
from viz.names import layer_name

MAX_LABELLED = 200  # beyond this many tokens no point is labelled (hover still names each)


def uncluttered(
    xy: np.ndarray,
    texts: list[str],
    extent: np.ndarray | None = None,
    width: float = 860,
    height: float = 420,
) -> np.ndarray:
    """bool [T]: which points get a text label so that no two labels overlap, in a plot of
    about ``width`` x ``height`` pixels whose axes span ``extent`` [[x0, y0], [x1, y1]]
    (default: the points'). Greedy, in the given order: a label is kept when its box (7 px
    per character, 13 for a wide CJK one; 16 px high) meets no box kept before it. The
    default size is the drawing area of the app's chart, a little under, to err on the side
    of fewer labels."""
    low, high = (xy.min(axis=0), xy.max(axis=0)) if extent is None else extent
    span = np.where(high - low > 0, high - low, 1)
    px = (xy - low) / span * [width, height]
    half_w = np.array([max(_text_width(text), 7) / 2 for text in texts])
    keep = np.zeros(len(texts), dtype=bool)
    for i in range(len(texts)):
        kept = np.flatnonzero(keep)
        dx = np.abs(px[kept, 0] - px[i, 0])
        dy = np.abs(px[kept, 1] - px[i, 1])
        keep[i] = not np.any((dx < half_w[kept] + half_w[i]) & (dy < 16))
    return keep


def _text_width(text: str) -> float:
    return sum(13 if unicodedata.east_asian_width(c) in "WF" else 7 for c in html.unescape(text))


def token_paths(
    proj: Projection,
    labels: list[str],
    layers: list[int],
    color_by: str,
    title: str,
    axis_names: tuple[str, str],
    subtitle: str,
) -> go.Figure:
    """coords are layer-major ([len(layers) * T, 2]); lines join a token's points in layer
    order. ``color_by``: "layer" or "token". ``subtitle``: the method and its parameters, in
    the reader's language."""
    T = len(labels)
    K = len(layers)
    xy = proj.coords.reshape(K, T, 2)
    names = [safe(label) for label in labels]
    fig = go.Figure()
    token_colors = sample_colorscale("Turbo", np.linspace(0.05, 0.95, max(T, 2)))
    layer_colors = sample_colorscale("Viridis", np.linspace(0, 1, max(K, 2)))
    if K > 1:  # one trace for every path line: None separates tokens
        lines = np.concatenate([xy.transpose(1, 0, 2), np.full((T, 1, 2), np.nan)], axis=1)
        fig.add_trace(
            go.Scatter(
                x=lines[..., 0].ravel(),
                y=lines[..., 1].ravel(),
                mode="lines",
                line={"width": 1, "color": "rgba(120,120,120,0.35)"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    short = [short_safe(name) for name in names]
    # the last layer's points (the end of each path) are labelled where labels do not collide
    extent = np.stack([proj.coords.min(axis=0), proj.coords.max(axis=0)])
    shown = uncluttered(xy[-1], short, extent) if T <= MAX_LABELLED else np.zeros(T, dtype=bool)
    for k, layer in enumerate(layers):
        color = layer_colors[k] if color_by == "layer" else token_colors[:T]
        last = k == K - 1
        fig.add_trace(
            go.Scatter(
                x=xy[k, :, 0],
                y=xy[k, :, 1],
                mode="markers+text" if last and shown.any() else "markers",
                text=[label if show else "" for label, show in zip(short, shown)] if last else None,
                customdata=names,
                textposition="top center",
                name=layer_name(layer),
                marker={"size": 8, "color": color, "line": {"width": 0.5, "color": "white"}},
                hovertemplate="%{customdata}<br>" + layer_name(layer) + "<extra></extra>",
                showlegend=color_by == "layer",
            )
        )
    sub = subtitle
    fig.update_xaxes(title_text=axis_names[0], zeroline=False)
    fig.update_yaxes(title_text=axis_names[1], zeroline=False)
    fig.update_layout(legend={"orientation": "h", "y": -0.12})
    subline = f"<span style='font-size:13px;font-weight:normal'>{safe(sub)}</span>"
    return base_layout(fig, f"{title}<br>{subline}", height=620)
