"""Layer comparison figures: two layers side by side, similarity matrices, token change,
norms and block contributions."""

from __future__ import annotations

import numpy as np
from plotly.subplots import make_subplots

from viz.figures import go
from viz.figures.common import (
    MAX_TICKS,
    ColourScale,
    Words,
    attention_trace,
    base_layout,
    compact,
    position_labels,
    token_axes,
)
from viz.figures.go import named_scale
from viz.names import layer_names


def side_by_side(
    left: np.ndarray,
    right: np.ndarray,
    labels: list[str],
    titles: tuple[str, str],
    title: str,
    value_name: str,
    words: Words,
    *,
    scale: ColourScale | None = None,
    positions: np.ndarray | None = None,
    col_labels: list[str] | None = None,
    col_positions: np.ndarray | None = None,
    boundary: tuple[int | None, int | None] | None = None,
) -> go.Figure:
    """Two [R, C] matrices with a shared colour scale (default: linear to the larger maximum).
    ``positions``: the rows' token positions, ``col_labels``/``col_positions``: the columns'
    when they are not the rows' (a window). ``boundary``: the row and column index where a
    pair's second sentence starts, marked by lines in both panels, as in the attention
    heatmap."""
    names = position_labels(labels, positions)
    cols = names if col_labels is None else position_labels(col_labels, col_positions)
    R, C = len(names), len(cols)
    if scale is None:
        scale = ColourScale("linear", float(max(left.max(), right.max(), 1e-9)), value_name)
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.12)
    row_b, col_b = boundary if boundary is not None else (None, None)
    line = {"color": "#d62728", "width": 1.5, "dash": "dot"}
    for col, matrix in ((1, left), (2, right)):
        fig.add_trace(
            attention_trace(
                matrix,
                names,
                value_name,
                scale,
                words,
                cols,
                showscale=col == 2,
            ),
            row=1,
            col=col,
        )
        # half the width each, and column labels lean: fewer of them than of the rows
        token_axes(fig, cols, row=1, col=col, y=False, max_ticks=MAX_TICKS * 2 // 5)
        token_axes(fig, names, row=1, col=col, x=False, max_ticks=MAX_TICKS // 2)
        if col_b is not None and 0 < col_b < C:
            at = col_b - 0.5
            fig.add_shape(type="line", x0=at, x1=at, y0=-0.5, y1=R - 0.5, line=line, row=1, col=col)
        if row_b is not None and 0 < row_b < R:
            at = row_b - 0.5
            fig.add_shape(type="line", y0=at, y1=at, x0=-0.5, x1=C - 0.5, line=line, row=1, col=col)
    return base_layout(fig, title, height=430 + min(R, 80) * 5)


def similarity(matrix: np.ndarray, title: str, value_name: str) -> go.Figure:
    """[L+1, L+1] layer-by-layer similarity."""
    names = layer_names(matrix.shape[0] - 1)
    fig = go.Figure(
        go.Heatmap(
            z=compact(matrix),
            x=names,
            y=names,
            colorscale=named_scale("Viridis"),
            zmin=float(min(0, matrix.min())),
            zmax=1,
            text=np.round(matrix, 2),
            texttemplate="%{text}" if len(names) <= 13 else None,
            hovertemplate="%{y} vs %{x}<br>" + value_name + " %{z:.4f}<extra></extra>",
            colorbar={"thickness": 12},
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return base_layout(fig, title, height=460)


def token_change(change: np.ndarray, labels: list[str], title: str) -> go.Figure:
    """[L, T] 1 - cosine between a token's vector before and after each layer."""
    names = position_labels(labels)
    rows = layer_names(change.shape[0], with_embeddings=False)
    fig = go.Figure(
        go.Heatmap(
            z=compact(change),
            x=names,
            y=rows,
            colorscale=named_scale("Oranges"),
            zmin=0,
            hovertemplate="%{x}<br>%{y}: 1 − cos = %{z:.4f}<extra></extra>",
            colorbar={"thickness": 12},
        )
    )
    token_axes(fig, names, y=False)
    fig.update_yaxes(autorange="reversed")
    return base_layout(fig, title, height=300 + 22 * len(rows))


def norms_by_layer(norms: np.ndarray, labels: list[str], title: str, words: Words) -> go.Figure:
    """[L+1, T] hidden-state norms: median and range over tokens per layer, plus each token on
    hover (specials often stand out)."""
    names = layer_names(norms.shape[0] - 1)
    fig = go.Figure()
    fig.add_trace(
        go.Box(
            y=compact(norms.ravel()),
            x=np.repeat(names, norms.shape[1]),
            text=np.tile(position_labels(labels), norms.shape[0])
            if norms.shape[1] <= 128
            else None,
            boxpoints="all" if norms.shape[1] <= 128 else "outliers",
            jitter=0.4,
            pointpos=0,
            marker={"size": 4},
            line={"width": 1},
            name="‖h‖",
            hovertemplate="%{x} %{text}<br>‖h‖ = %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(showlegend=False)
    fig.update_yaxes(title_text=words.norm)
    return base_layout(fig, title, height=420)


def contributions(
    contrib: np.ndarray, names: tuple[str, str], title: str, words: Words
) -> go.Figure:
    """[L, 2] mean ‖update‖ / ‖residual‖ of the attention and feed-forward blocks."""
    rows = layer_names(contrib.shape[0], with_embeddings=False)
    fig = go.Figure(
        [
            go.Bar(
                x=rows,
                y=contrib[:, 0],
                name=names[0],
                marker_color="#1f77b4",
                hovertemplate="%{x}: %{y:.4f}<extra>" + names[0] + "</extra>",
            ),
            go.Bar(
                x=rows,
                y=contrib[:, 1],
                name=names[1],
                marker_color="#ff7f0e",
                hovertemplate="%{x}: %{y:.4f}<extra>" + names[1] + "</extra>",
            ),
        ]
    )
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.08})
    fig.update_yaxes(title_text=words.update_ratio)
    return base_layout(fig, title, height=400)
