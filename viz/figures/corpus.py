"""The corpus page's charts: the map of lines, how many neighbours share the word, and a probe's
accuracy at an index's layers."""

from __future__ import annotations

import numpy as np

from viz.figures import go
from viz.figures.common import base_layout, compact, safe, shorten
from viz.figures.lines import colour

HOVER_CHARS = 120  # a longer line is cut in its hover box
MARGIN = 0.05  # of the span, around the points of every layer


def span(coords: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """[..., 2] coordinates of every layer -> the (x, y) ranges that hold them all, so that a
    map drawn at any one layer keeps the same axes."""
    flat = np.asarray(coords, np.float64).reshape(-1, 2)
    low, high = flat.min(axis=0), flat.max(axis=0)
    pad = np.maximum((high - low) * MARGIN, 1e-6)
    low, high = low - pad, high + pad
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def corpus_map(
    coords: np.ndarray,
    colours: list[str] | np.ndarray,
    texts: list[str],
    title: str,
    axes: tuple[str, str],
    subtitle: str,
    colour_name: str = "",
    ranges: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> go.Figure:
    """[N, 2] points coloured by ``colours`` [N]: text values get a colour (and legend entry)
    each, numbers a colour scale named ``colour_name``. Hover shows the line's text, escaped
    (it is user text). ``ranges`` fixes the axes (else they fit these points)."""
    fig = go.Figure()
    hover = [safe(shorten(t, HOVER_CHARS)) for t in texts]
    if isinstance(colours, np.ndarray) and colours.dtype.kind in "iuf":
        fig.add_trace(
            go.Scatter(
                x=compact(coords[:, 0]),
                y=compact(coords[:, 1]),
                mode="markers",
                marker={
                    "size": 7,
                    "color": compact(colours),
                    "colorscale": "Viridis",
                    "opacity": 0.8,
                    "colorbar": {"title": {"text": safe(colour_name)}},
                },
                customdata=np.stack([hover, colours.astype(str)], axis=1),
                hovertemplate="%{customdata[0]}<br>"
                + safe(colour_name)
                + ": %{customdata[1]}<extra></extra>",
                showlegend=False,
            )
        )
    else:
        for i, value in enumerate(dict.fromkeys(colours)):
            pick = np.array([c == value for c in colours])
            fig.add_trace(
                go.Scatter(
                    x=compact(coords[pick, 0]),
                    y=compact(coords[pick, 1]),
                    mode="markers",
                    name=safe(shorten(value or "—", 30)),
                    marker={"size": 7, "color": colour(i), "opacity": 0.8},
                    customdata=[h for h, p in zip(hover, pick) if p],
                    hovertemplate="%{customdata}<extra></extra>",
                )
            )
    fig.update_xaxes(title_text=axes[0], zeroline=False)
    fig.update_yaxes(title_text=axes[1], zeroline=False)
    if ranges is not None:
        fig.update_xaxes(range=list(ranges[0]), autorange=False)
        fig.update_yaxes(range=list(ranges[1]), autorange=False)
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    subline = f"<span style='font-size:13px;font-weight:normal'>{safe(subtitle)}</span>"
    return base_layout(fig, f"{safe(title)}<br>{subline}", height=520, top=70)


def same_word(layer_labels: list[str], counts: list[int], k: int, title: str, y_title: str):
    """How many of a word's ``k`` nearest corpus words are the same word, layer by layer."""
    fig = go.Figure(
        go.Scatter(
            x=layer_labels,
            y=counts,
            mode="lines+markers+text",
            text=[f"{c}/{k}" for c in counts],
            textposition="top center",
            line={"color": colour(0)},
            hovertemplate="%{x}: %{y} / " + str(k) + "<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=safe(y_title), range=[0, k * 1.15 + 0.5])
    fig.update_xaxes(type="category")
    return base_layout(fig, safe(title), height=320)


def probe_by_layer(
    layer_labels: list[str],
    means: np.ndarray,
    stds: np.ndarray,
    best: int,
    title: str,
    y_title: str,
    series_name: str,
    best_name: str,
    chance: float | None = None,
    chance_name: str = "",
) -> go.Figure:
    """A probe's cross-validated accuracy at the given layers (not necessarily every layer of
    the model), error bars of one std, the ``best`` (an index into the layers) starred."""
    fig = go.Figure(
        go.Scatter(
            x=layer_labels,
            y=compact(means),
            mode="lines+markers",
            name=safe(series_name),
            line={"color": colour(0)},
            error_y={"type": "data", "array": compact(stds), "visible": True},
            hovertemplate="%{x}: %{y:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[layer_labels[best]],
            y=[float(means[best])],
            mode="markers",
            name=safe(best_name),
            marker={"symbol": "star", "size": 16, "color": "#d62728"},
            hoverinfo="skip",
        )
    )
    if chance is not None:
        fig.add_hline(
            y=chance,
            line={"dash": "dot", "color": "#888"},
            annotation_text=safe(chance_name),
            annotation_position="bottom right",
        )
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text=safe(y_title))
    return base_layout(fig, safe(title), height=380)
