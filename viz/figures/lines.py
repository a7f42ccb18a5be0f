"""Per-layer line and bar charts shared by the contrast, probe, MLM-lens and ablation views."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures.common import base_layout, safe
from viz.names import layer_names


def by_layer(
    series: dict[str, np.ndarray],
    title: str,
    y_title: str,
    errors: dict[str, np.ndarray] | None = None,
    rank: bool = False,
    best: tuple[str, int] | None = None,
    first_layer: int = 0,
    best_name: str = "best",
) -> go.Figure:
    """One line per series over layers (x: emb, L1, ...). ``best`` = (series, layer index)
    is marked with a star; ``errors`` draws error bars. ``rank``: the values are ranks (1 = top),
    drawn on a log axis with 1 at the top."""
    fig = go.Figure()
    for name, values in series.items():
        n = len(values)
        x = layer_names(n - 1 + first_layer)[first_layer:]
        err = errors.get(name) if errors else None
        fig.add_trace(
            go.Scatter(
                x=x,
                y=values,
                mode="lines+markers",
                name=safe(name),
                error_y={"type": "data", "array": err, "visible": True}
                if err is not None
                else None,
                hovertemplate="%{x}: %{y:.4f}<extra>" + safe(name) + "</extra>",
            )
        )
    if best is not None:
        name, layer = best
        values = series[name]
        x = layer_names(len(values) - 1 + first_layer)[first_layer:]
        fig.add_trace(
            go.Scatter(
                x=[x[layer]],
                y=[values[layer]],
                mode="markers",
                marker={"symbol": "star", "size": 18, "color": "#d62728"},
                name=best_name,
                hoverinfo="skip",
            )
        )
    fig.update_yaxes(title_text=y_title)
    if rank:
        worst = max(float(np.max(v)) for v in series.values())
        top = max(worst, 10)
        ticks = [m * 10**e for e in range(7) for m in (1, 2, 5) if m * 10**e <= top]  # 1 2 5 10 ..
        fig.update_yaxes(
            type="log",
            range=[np.log10(top * 1.5), np.log10(0.8)],  # reversed: rank 1 on top
            tickvals=ticks,
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.18})
    return base_layout(fig, title, height=420)


def bars_by_layer(values: np.ndarray, title: str, y_title: str, first_layer: int = 0) -> go.Figure:
    x = layer_names(len(values) - 1 + first_layer)[first_layer:]
    fig = go.Figure(
        go.Bar(x=x, y=values, marker_color="#ff7f0e", hovertemplate="%{x}: %{y:.6f}<extra></extra>")
    )
    fig.update_yaxes(title_text=y_title)
    return base_layout(fig, title, height=380)
