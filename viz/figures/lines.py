"""Per-layer line and bar charts shared by the contrast, probe, MLM-lens and ablation views."""

from __future__ import annotations

import numpy as np
from plotly.colors import qualitative

from viz.figures import go
from viz.figures.common import base_layout, safe
from viz.names import layer_names

# Every line gets its colour here, not from the page's theme: a marker drawn for one series
# (the probe's best layer) must take that series' colour, whatever theme draws the chart.
PALETTE = qualitative.D3
GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#7f7f7f")  # same sense, different senses, untagged


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


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
    colours = {name: colour(i) for i, name in enumerate(series)}
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
                line={"color": colours[name]},
                marker={"color": colours[name]},
                error_y={"type": "data", "array": err, "visible": True, "color": colours[name]}
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
                # the best series' colour, outlined so the star stands out from its line
                marker={
                    "symbol": "star",
                    "size": 20,
                    "color": colours[name],
                    "line": {"color": "#222", "width": 1.5},
                },
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


def grouped_by_layer(
    groups: dict[str, dict[str, np.ndarray]],
    means: dict[str, str],
    title: str,
    y_title: str,
    max_lines: int = 40,
) -> go.Figure:
    """Lines over layers in groups (x: emb, L1, ...): each group's lines thin in one colour
    (at most ``max_lines`` of them), and its mean over all of its lines thick and dashed.
    ``groups``: group name -> {line name: values [L+1]}, in the order of ``GROUP_COLOURS``;
    ``means``: group name -> the legend entry of its mean. A legend click hides a group."""
    fig = go.Figure()
    for i, (group, lines) in enumerate(groups.items()):
        if not lines:
            continue
        c = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        x = layer_names(len(next(iter(lines.values()))) - 1)
        for name, values in list(lines.items())[:max_lines]:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=values,
                    mode="lines",
                    line={"color": c, "width": 1},
                    opacity=0.45,
                    name=safe(name),
                    legendgroup=safe(group),
                    showlegend=False,
                    hovertemplate="%{x}: %{y:.4f}<extra>" + safe(name) + "</extra>",
                )
            )
        mean = np.mean(np.stack(list(lines.values())), axis=0)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                mode="lines+markers",
                line={"color": c, "width": 4, "dash": "dash"},
                marker={"color": c, "size": 8},
                name=safe(means[group]),
                legendgroup=safe(group),
                hovertemplate="%{x}: %{y:.4f}<extra>" + safe(means[group]) + "</extra>",
            )
        )
    fig.update_yaxes(title_text=y_title)
    fig.update_layout(legend={"orientation": "h", "y": -0.18})
    return base_layout(fig, title, height=440)
