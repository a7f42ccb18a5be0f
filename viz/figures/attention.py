"""Attention figures: one head's heatmap, the model view grid, a BertViz-style head view."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.analysis.attention import downsample
from viz.figures.common import (
    Words,
    attention_trace,
    base_layout,
    head_click_targets,
    position_labels,
    safe,
    short_safe,
    token_axes,
)
from viz.names import head_labels, layer_names

THUMB = 32  # thumbnail side in cells; longer inputs are average-pooled down to this


def heatmap(
    matrix: np.ndarray,
    labels: list[str],
    positions: np.ndarray,
    title: str,
    value_name: str,
    axis_titles: tuple[str, str],
    words: Words,
    zmax: float | None = None,
    boundary: int | None = None,
) -> go.Figure:
    """[T, T] rows = queries (from), columns = keys (to). Hover shows both tokens and the
    exact value; axes are positions so repeated tokens stay distinct. ``axis_titles``: x, y.
    ``boundary``: the row/column where a pair's second sentence starts, marked by lines."""
    names = position_labels(labels, positions)
    T = len(names)
    fig = go.Figure(
        attention_trace(
            matrix,
            names,
            value_name,
            zmax if zmax is not None else float(max(matrix.max(), 1e-9)),
            words,
            colorbar={"title": {"text": value_name}, "thickness": 12},
        )
    )
    token_axes(fig, names)
    fig.update_xaxes(title_text=axis_titles[0], side="bottom")
    fig.update_yaxes(title_text=axis_titles[1])
    if boundary is not None and 0 < boundary < T:
        line = {"color": "#d62728", "width": 1.5, "dash": "dot"}
        at = boundary - 0.5  # between two categories
        fig.add_shape(type="line", x0=at, x1=at, y0=-0.5, y1=T - 0.5, line=line)
        fig.add_shape(type="line", y0=at, y1=at, x0=-0.5, x1=T - 0.5, line=line)
    side = 420 + min(T, 80) * 6
    return base_layout(fig, title, height=side)


def model_view(
    attentions: np.ndarray, title: str, words: Words, thumb: int = THUMB
) -> go.Figure:
    """All layers x heads as small multiples, in one light heatmap: [L, H, T, T] -> a grid of
    thumbnails (average-pooled to ``thumb`` cells a side), layer rows, head columns. Nothing
    in it depends on the open head, so the app builds it once per sentence."""
    L, H, T, _ = attentions.shape
    small = downsample(attentions, thumb)  # [L, H, t, t]
    t = small.shape[-1]
    gap = max(1, t // 8)
    cell = t + gap
    grid = np.full((L * cell - gap, H * cell - gap), np.nan, dtype=np.float32)
    for layer in range(L):
        for head in range(H):
            grid[layer * cell : layer * cell + t, head * cell : head * cell + t] = small[
                layer, head
            ]
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            colorscale="Blues",
            zmin=0,
            zmax=float(np.nanmax(grid)) if np.isfinite(grid).any() else 1.0,
            showscale=False,
            hoverinfo="skip",  # the markers below name each thumbnail; no per-cell payload
        )
    )
    centers_x = np.arange(H) * cell + (t - 1) / 2
    centers_y = np.arange(L) * cell + (t - 1) / 2
    fig.update_xaxes(
        tickmode="array",
        tickvals=centers_x,
        ticktext=head_labels(H),
        side="top",
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=centers_y,
        ticktext=layer_names(L, with_embeddings=False),
        autorange="reversed",
        showgrid=False,
        zeroline=False,
        scaleanchor="x",
    )
    head_click_targets(fig, centers_x, centers_y, size=28, words=words)
    return base_layout(fig, title, height=max(340, 70 * L + 100), top=90)


def head_view(
    matrix: np.ndarray,
    labels: list[str],
    title: str,
    threshold: float = 0.05,
    max_lines: int = 3000,
) -> go.Figure:
    """BertViz-style lines from each query (left) to each key (right); opacity = weight.
    Lines below ``threshold`` are dropped, and at most ``max_lines`` strongest are drawn."""
    T = len(labels)
    names = [safe(label) for label in labels]
    q, k = np.nonzero(matrix >= threshold)
    w = matrix[q, k]
    if len(w) > max_lines:
        keep = np.argsort(w)[-max_lines:]
        q, k, w = q[keep], k[keep], w[keep]
    fig = go.Figure()
    bins = [(0.0, 0.1, 0.15), (0.1, 0.3, 0.35), (0.3, 0.6, 0.6), (0.6, 1.01, 0.95)]
    for low, high, opacity in bins:
        sel = (w >= low) & (w < high)
        if not sel.any():
            continue
        xs = np.column_stack([np.zeros(sel.sum()), np.ones(sel.sum()), np.full(sel.sum(), np.nan)])
        ys = np.column_stack([q[sel], k[sel], np.full(sel.sum(), np.nan)])
        fig.add_trace(
            go.Scatter(
                x=xs.ravel(),
                y=ys.ravel(),
                mode="lines",
                hoverinfo="skip",
                line={"color": "#1f77b4", "width": 1 + 3 * low},
                opacity=opacity,
                showlegend=False,
            )
        )
    for side, anchor in ((0, "left"), (1, "right")):
        fig.add_trace(
            go.Scatter(
                x=np.full(T, side),
                y=np.arange(T),
                mode="markers+text",
                text=[short_safe(name) for name in names],
                customdata=names,
                textposition=f"middle {anchor}",
                marker={"size": 4, "color": "#444"},
                hovertemplate="%{customdata}<extra></extra>",
                showlegend=False,
            )
        )
    fig.update_xaxes(visible=False, range=[-0.8, 1.8])
    fig.update_yaxes(visible=False, autorange="reversed")
    return base_layout(fig, title, height=max(400, 18 * T + 80))
