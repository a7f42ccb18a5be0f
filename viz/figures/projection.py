"""Token embeddings in 2-D, with each token's path across layers."""

from __future__ import annotations

import html

import numpy as np
from plotly.colors import sample_colorscale

from viz.analysis.projection import Projection
from viz.figures import go
from viz.figures.common import (
    base_layout,
    position_labels,
    safe,
    short_safe,
    text_width,
    thinned_ticks,
)
from viz.figures.go import named_scale
from viz.names import layer_name

MAX_LABELLED = 200  # beyond this many tokens no point is labelled (hover still names each)
LABEL_LIFT = 11  # pixels between a point and its label, so the label never covers its marker
KEY_TICKS = 24  # at most this many tokens named on the colour key of "colour by token"


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
    half_w = np.array([max(text_width(html.unescape(text)), 7) / 2 for text in texts])
    keep = np.zeros(len(texts), dtype=bool)
    for i in range(len(texts)):
        kept = np.flatnonzero(keep)
        dx = np.abs(px[kept, 0] - px[i, 0])
        dy = np.abs(px[kept, 1] - px[i, 1])
        keep[i] = not np.any((dx < half_w[kept] + half_w[i]) & (dy < 16))
    return keep


def token_paths(
    proj: Projection,
    labels: list[str],
    layers: list[int],
    color_by: str,
    title: str,
    axis_names: tuple[str, str],
    subtitle: str,
    colour_key: str = "",
) -> go.Figure:
    """coords are layer-major ([len(layers) * T, 2]); lines join a token's points in layer
    order. ``color_by``: "layer" (a legend names the layers) or "token" (colour follows the
    token's position, and a colour bar titled ``colour_key`` names the positions).
    ``subtitle``: the method and its parameters, in the reader's language. Labels sit a little
    above their points; hover names every point with its position."""
    T = len(labels)
    K = len(layers)
    xy = proj.coords.reshape(K, T, 2)
    names = position_labels(labels)  # "3 bank": the position matches the colour key
    fig = go.Figure()
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
    short = [short_safe(safe(label)) for label in labels]
    # the last layer's points (the end of each path) are labelled where labels do not collide
    extent = np.stack([proj.coords.min(axis=0), proj.coords.max(axis=0)])
    shown = uncluttered(xy[-1], short, extent) if T <= MAX_LABELLED else np.zeros(T, dtype=bool)
    key_ticks, key_text = thinned_ticks(names, KEY_TICKS)
    for k, layer in enumerate(layers):
        last = k == K - 1
        marker = {"size": 8, "line": {"width": 0.5, "color": "white"}}
        if color_by == "layer":
            marker["color"] = layer_colors[k]
        else:
            marker.update(
                color=np.arange(T), colorscale=named_scale("Turbo"), cmin=0, cmax=max(T - 1, 1)
            )
            if last:  # one colour bar, the key from position to colour
                marker.update(
                    showscale=True,
                    colorbar={
                        "title": {"text": colour_key, "side": "right"},
                        "tickmode": "array",
                        "tickvals": key_ticks,
                        "ticktext": key_text,
                        "thickness": 12,
                    },
                )
        fig.add_trace(
            go.Scatter(
                x=xy[k, :, 0],
                y=xy[k, :, 1],
                mode="markers",
                # kept with the points they name; drawn as the annotations below
                text=[label if show else "" for label, show in zip(short, shown)] if last else None,
                customdata=names,
                name=layer_name(layer),
                marker=marker,
                hovertemplate="%{customdata}<br>" + layer_name(layer) + "<extra></extra>",
                showlegend=color_by == "layer",
            )
        )
    for i in np.flatnonzero(shown):
        fig.add_annotation(
            x=float(xy[-1, i, 0]),
            y=float(xy[-1, i, 1]),
            text=short[i],
            showarrow=False,
            yshift=LABEL_LIFT,
            font={"size": 11, "color": "#444"},
            bgcolor="rgba(255,255,255,0.6)",
            borderpad=0,
        )
    fig.update_xaxes(title_text=axis_names[0], zeroline=False)
    fig.update_yaxes(title_text=axis_names[1], zeroline=False)
    fig.update_layout(legend={"orientation": "h", "y": -0.12})
    subline = f"<span style='font-size:13px;font-weight:normal'>{safe(subtitle)}</span>"
    return base_layout(fig, f"{title}<br>{subline}", height=620)
