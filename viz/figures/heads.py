"""Head maps: how similar the heads are, and how much each one matters."""

from __future__ import annotations

import numpy as np

from viz.figures import go
from viz.figures.common import Words, base_layout, compact, head_click_targets
from viz.figures.go import named_scale
from viz.names import head_labels, head_names, layer_names


def head_similarity(
    distance: np.ndarray, order: np.ndarray, num_heads: int, title: str, words: Words
) -> go.Figure:
    """[N, N] Jensen-Shannon distances, rows and columns in clustered ``order``."""
    names = head_names(len(distance) // num_heads, num_heads)
    ordered = [names[i] for i in order]
    fig = go.Figure(
        go.Heatmap(
            z=compact(distance[np.ix_(order, order)]),
            x=ordered,
            y=ordered,
            colorscale=named_scale("Viridis_r"),
            zmin=0,
            zmax=float(max(distance.max(), 1e-9)),
            colorbar={"thickness": 12, "title": "JS"},
            hovertemplate=f"%{{y}} vs %{{x}}<br>{words.js_distance} %{{z:.4f}}<extra></extra>",
        )
    )
    step = max(1, int(np.ceil(len(names) / 80)))
    size = 9 if len(names) <= 80 else 8
    fig.update_xaxes(
        tickmode="array", tickvals=ordered[::step], tickfont={"size": size}, tickangle=-90
    )
    fig.update_yaxes(
        tickmode="array", tickvals=ordered[::step], tickfont={"size": size}, autorange="reversed"
    )
    return base_layout(fig, title, height=max(500, 11 * len(names) + 140))


def head_grid(values: np.ndarray, title: str, value_name: str, words: Words) -> go.Figure:
    """[L, H] one value per head: layer rows (first on top), head columns. An invisible marker
    on every cell carries [layer, head] (1-based) and the value: Plotly heatmaps emit no
    selection events, markers do, so a click can pick that head."""
    L, H = values.shape
    heads, layers = head_labels(H), layer_names(L, with_embeddings=False)
    fig = go.Figure(
        go.Heatmap(
            z=compact(values),
            x=heads,
            y=layers,
            colorscale=named_scale("Viridis"),
            zmin=0,
            zmax=float(max(values.max(), 1e-9)),
            colorbar={"thickness": 12, "title": value_name},
            hoverinfo="skip",  # the markers below carry the hover
            xgap=1,
            ygap=1,
        )
    )
    head_click_targets(
        fig, heads, layers, size=30, words=words, values=values, value_name=value_name
    )
    fig.update_xaxes(side="top", tickfont={"size": 10 if H <= 16 else 8}, showgrid=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return base_layout(fig, title, height=max(260, 34 * L + 140), top=90)
