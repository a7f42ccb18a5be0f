"""The corpus page's charts: the map of lines, and how many neighbours share the word."""

from __future__ import annotations

import numpy as np

from viz.figures import go
from viz.figures.common import base_layout, compact, safe, shorten
from viz.figures.lines import colour

HOVER_CHARS = 120  # a longer line is cut in its hover box


def corpus_map(
    coords: np.ndarray,
    labels: list[str],
    texts: list[str],
    title: str,
    axes: tuple[str, str],
    subtitle: str,
) -> go.Figure:
    """[N, 2] points, one colour (and legend entry) per label; hover shows the line's text,
    escaped (it is user text)."""
    fig = go.Figure()
    for i, label in enumerate(dict.fromkeys(labels)):
        pick = np.array([lab == label for lab in labels])
        fig.add_trace(
            go.Scatter(
                x=compact(coords[pick, 0]),
                y=compact(coords[pick, 1]),
                mode="markers",
                name=safe(shorten(label or "—", 30)),
                marker={"size": 7, "color": colour(i), "opacity": 0.8},
                customdata=[safe(shorten(t, HOVER_CHARS)) for t, p in zip(texts, pick) if p],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text=axes[0], zeroline=False)
    fig.update_yaxes(title_text=axes[1], zeroline=False)
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    subline = f"<span style='font-size:13px;font-weight:normal'>{safe(subtitle)}</span>"
    return base_layout(fig, f"{safe(title)}<br>{subline}", height=520, top=70)


def same_word(layer_labels: list[str], shares: list[float], title: str, y_title: str):
    """The share of a word's nearest corpus words that are the same word, layer by layer."""
    fig = go.Figure(
        go.Scatter(
            x=layer_labels,
            y=[100 * s for s in shares],
            mode="lines+markers",
            line={"color": colour(0)},
            hovertemplate="%{x}: %{y:.0f}%<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=safe(y_title), range=[0, 105], ticksuffix="%")
    fig.update_xaxes(type="category")
    return base_layout(fig, safe(title), height=320)
