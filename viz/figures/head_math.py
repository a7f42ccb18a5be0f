"""Small figures for the math of one head: a matrix with token rows, one vector as bars."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures.common import base_layout, compact, position_labels, thinned_ticks


def matrix(
    values: np.ndarray,
    row_labels: list[str],
    title: str,
    column_name: str = "dim",
    highlight_row: int | None = None,
    diverging: bool = True,
) -> go.Figure:
    """[rows, cols] with token rows; exact values on hover. A diverging scale spans the 99.5th
    percentile of |value|, not the maximum: a few outlier dimensions (GELU outputs of 25 among
    values near 0) would otherwise leave every other cell white. Outliers show saturated."""
    rows = position_labels(row_labels)
    cols = np.arange(values.shape[1])
    magnitude = np.abs(values)
    limit = float(np.percentile(magnitude, 99.5) if diverging else magnitude.max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=compact(values),
            x=cols,
            y=rows,
            colorscale="RdBu_r" if diverging else "Blues",
            zmin=-limit if diverging else 0,
            zmax=limit,
            colorbar={"thickness": 10},
            hovertemplate="%{y}<br>" + column_name + " %{x}<br>%{z:.6f}<extra></extra>",
        )
    )
    idx, text = thinned_ticks(rows, 40)
    fig.update_yaxes(
        type="category",
        tickmode="array",
        tickvals=[rows[i] for i in idx],
        ticktext=text,
        autorange="reversed",
        tickfont={"size": 10},
    )
    fig.update_xaxes(title_text=column_name)
    if highlight_row is not None:
        fig.add_shape(
            type="rect",
            xref="paper",
            x0=0,
            x1=1,
            y0=highlight_row - 0.5,
            y1=highlight_row + 0.5,
            yref="y",
            line={"color": "#d62728", "width": 2},
        )
    return base_layout(fig, title, height=min(520, 160 + 16 * len(rows)))


def vector(values: np.ndarray, labels: list[str] | None, title: str, value_name: str) -> go.Figure:
    """One row of numbers as bars: over tokens (labels given) or over dimensions."""
    x = position_labels(labels) if labels is not None else np.arange(len(values))
    fig = go.Figure(
        go.Bar(
            x=x,
            y=compact(values),
            marker_color="#1f77b4",
            hovertemplate="%{x}<br>" + value_name + " %{y:.6f}<extra></extra>",
        )
    )
    if labels is not None:
        idx, text = thinned_ticks(list(x), 60)
        fig.update_xaxes(
            type="category",
            tickmode="array",
            tickvals=[x[i] for i in idx],
            ticktext=text,
            tickangle=-60,
        )
    fig.update_yaxes(title_text=value_name)
    return base_layout(fig, title, height=300)
