"""Small figures for the math of one head: a matrix with token rows, one vector as bars."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from viz.figures.common import base_layout, compact, position_labels, thinned_ticks

DIVERGING = "RdBu_r"


def diverging_range(values: np.ndarray, tail: float = 0.5) -> tuple[float, float, list]:
    """(zmin, zmax, colorscale) for values of either sign: [zmin, zmax] spans the ``tail``-th
    to the (100 - ``tail``)-th percentile and always holds 0; the colours are the part of a
    symmetric red-white-blue scale that this range covers, so 0 stays white and equal
    magnitudes get equal shades on both sides."""
    low = min(float(np.percentile(values, tail)), 0.0)
    high = max(float(np.percentile(values, 100 - tail)), 0.0)
    if high - low <= 0:
        low, high = -1.0, 1.0
    reach = max(-low, high)
    zero = -low / (high - low)
    at = np.union1d(np.linspace(0.0, 1.0, 21), [zero])  # positions on the shown bar, 0 among them
    on_full = 0.5 + 0.5 * (low + at * (high - low)) / reach  # the same values on the full scale
    colours = sample_colorscale(DIVERGING, list(on_full))
    return low, high, [[float(p), c] for p, c in zip(at, colours)]


def matrix(
    values: np.ndarray,
    row_labels: list[str],
    title: str,
    column_name: str = "dim",
    highlight_row: int | None = None,
    diverging: bool = True,
) -> go.Figure:
    """[rows, cols] with token rows; exact values on hover. A diverging scale runs from the
    0.5th to the 99.5th percentile of the values, not their extremes: a few outlier dimensions
    (GELU outputs of 25 among values near 0) would otherwise leave every other cell white.
    Outliers show saturated. White is 0 and one shade means one magnitude on either side, but
    the scale covers only the range the data has: GELU never goes below about -0.17, so its
    colour bar stops there instead of mirroring the positive side."""
    rows = position_labels(row_labels)
    cols = np.arange(values.shape[1])
    if diverging:
        zmin, zmax, scale = diverging_range(values)
    else:
        zmin, zmax, scale = 0.0, float(np.abs(values).max()) or 1.0, "Blues"
    fig = go.Figure(
        go.Heatmap(
            z=compact(values),
            x=cols,
            y=rows,
            colorscale=scale,
            zmin=zmin,
            zmax=zmax,
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


def visible_keys(
    visible: np.ndarray, labels: list[str], title: str, words: tuple[str, str, str, str], query: int
) -> go.Figure:
    """[T, T] bool: which keys (columns) each query (row) of a local layer may see; the chosen
    query's row outlined. ``words``: the query and key axis titles, then the hover words for a
    key seen and one masked out."""
    rows = position_labels(labels)
    seen, hidden = words[2], words[3]
    fig = go.Figure(
        go.Heatmap(
            z=visible.astype(np.int8),
            x=rows,
            y=rows,
            zmin=0,
            zmax=1,
            colorscale=[[0.0, "#f2f2f2"], [1.0, "#2b6cb0"]],
            showscale=False,
            customdata=np.where(visible, seen, hidden),
            hovertemplate="%{y} → %{x}<br>%{customdata}<extra></extra>",
        )
    )
    idx, text = thinned_ticks(rows, 40)
    ticks = {"type": "category", "tickmode": "array", "tickvals": [rows[i] for i in idx]}
    fig.update_yaxes(**ticks, ticktext=text, autorange="reversed", title_text=words[0])
    fig.update_xaxes(**ticks, ticktext=text, tickangle=-60, title_text=words[1])
    fig.add_shape(
        type="rect",
        xref="paper",
        x0=0,
        x1=1,
        y0=query - 0.5,
        y1=query + 0.5,
        yref="y",
        line={"color": "#d62728", "width": 2},
    )
    return base_layout(fig, title, height=min(520, 200 + 16 * len(rows)))
