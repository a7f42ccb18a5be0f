"""The corpus page's charts: the map of lines, how many neighbours share the word, and a probe's
accuracy at an index's layers."""

from __future__ import annotations

import numpy as np

from viz.figures import go
from viz.figures.common import base_layout, compact, safe, shorten
from viz.figures.lines import colour

HOVER_CHARS = 120  # a longer line is cut in its hover box
MARGIN = 0.05  # of the span, around the points of every layer
# The frame holds every line at every layer but a few far from the rest: on each side of each
# axis, the outermost OUTLIER_SHARE of the lines (at least one) are left out when they lie
# beyond the others by more than GAP of the others' span, and drawn on its edge. One odd line
# would otherwise set the axes and squeeze every other line into a corner; a group of lines
# (a cluster of another language) is more than a few, and stays in
OUTLIER_SHARE = 0.01
GAP = 0.5
OUTSIDE_SYMBOL = "diamond-open"

Ranges = tuple[tuple[float, float], tuple[float, float]]


def span(coords: np.ndarray) -> Ranges:
    """[K, N, 2] coordinates of N lines at K layers (or [N, 2] at one) -> the (x, y) ranges
    that hold them all but a few far outliers (see ``OUTLIER_SHARE``), so that a map drawn at
    any one layer keeps the same axes."""
    c = np.asarray(coords, np.float64)
    c = c.reshape(-1, *c.shape[-2:])  # [K, N, 2]
    lows, highs = np.sort(c.min(axis=0), axis=0), np.sort(c.max(axis=0), axis=0)  # [N, 2]
    n = c.shape[1]
    cut = max(1, int(n * OUTLIER_SHARE)) if n > 2 else 0
    low, high = lows[0].copy(), highs[-1].copy()
    if cut:
        kept_low, kept_high = lows[cut], highs[-1 - cut]
        rest = np.maximum(kept_high - kept_low, 0)
        low = np.where(kept_low - low > GAP * rest, kept_low, low)
        high = np.where(high - kept_high > GAP * rest, kept_high, high)
    pad = np.maximum((high - low) * MARGIN, 1e-6)
    low, high = low - pad, high + pad
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def outside(coords: np.ndarray, ranges: Ranges) -> np.ndarray:
    """[N, 2] -> [N] bool: the points beyond the frame ``ranges``."""
    (x0, x1), (y0, y1) = ranges
    x, y = coords[:, 0], coords[:, 1]
    return (x < x0) | (x > x1) | (y < y0) | (y > y1)


def corpus_map(
    coords: np.ndarray,
    colours: list[str] | np.ndarray,
    texts: list[str],
    title: str,
    axes: tuple[str, str],
    subtitle: str,
    colour_name: str = "",
    ranges: Ranges | None = None,
    outside_note: str = "",
) -> go.Figure:
    """[N, 2] points coloured by ``colours`` [N]: text values get a colour (and legend entry)
    each, numbers a colour scale named ``colour_name``. Hover shows the line's text, escaped
    (it is user text); ``subtitle`` may have several lines. ``ranges`` fixes the axes (else
    they fit these points); a point beyond them is drawn on the frame's edge as an open
    diamond, ``outside_note`` in its hover."""
    fig = go.Figure()
    hover = [safe(shorten(t, HOVER_CHARS)) for t in texts]
    symbols = np.full(len(coords), "circle", dtype=object)

    def symbol(pick: np.ndarray) -> str | list[str]:
        chosen = symbols[pick]
        return list(chosen) if (chosen != "circle").any() else "circle"

    if ranges is not None:
        out = outside(coords, ranges)
        coords = np.stack(
            [np.clip(coords[:, 0], *ranges[0]), np.clip(coords[:, 1], *ranges[1])], axis=1
        )
        symbols[out] = OUTSIDE_SYMBOL
        note = "<br>" + safe(outside_note) if outside_note else ""
        hover = [h + note if o else h for h, o in zip(hover, out)]
    if isinstance(colours, np.ndarray) and colours.dtype.kind in "iuf":
        fig.add_trace(
            go.Scatter(
                x=compact(coords[:, 0]),
                y=compact(coords[:, 1]),
                mode="markers",
                marker={
                    "size": 7,
                    "symbol": symbol(np.ones(len(coords), bool)),
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
                cliponaxis=False,  # a point on the frame's edge drawn whole
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
                    marker={
                        "size": 7,
                        "symbol": symbol(pick),
                        "color": colour(i),
                        "opacity": 0.8,
                    },
                    customdata=[h for h, p in zip(hover, pick) if p],
                    hovertemplate="%{customdata}<extra></extra>",
                    cliponaxis=False,
                )
            )
    fig.update_xaxes(title_text=axes[0], zeroline=False)
    fig.update_yaxes(title_text=axes[1], zeroline=False)
    if ranges is not None:
        fig.update_xaxes(range=list(ranges[0]), autorange=False)
        fig.update_yaxes(range=list(ranges[1]), autorange=False)
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    sublines = [
        f"<span style='font-size:13px;font-weight:normal'>{safe(line)}</span>"
        for line in subtitle.split("\n")
    ]
    top = 50 + 20 * len(sublines)
    return base_layout(fig, "<br>".join([safe(title), *sublines]), height=500 + top, top=top)


def same_word(
    layer_labels: list[str],
    counts: dict[str, list[int]],
    k: int,
    title: str,
    y_title: str,
    colours: list[str] | None = None,
) -> go.Figure:
    """How many of a word's ``k`` nearest corpus words are the same word, layer by layer: bars
    stacked by the label of the neighbours' lines (``counts``: label -> a count per layer; one
    series for an index without labels), their total above each bar; ``colours``, one a
    series, keep each label's colour of the map. The axis spans 0 to k."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(counts.items()):
        fig.add_trace(
            go.Bar(
                x=layer_labels,
                y=list(ys),
                name=safe(shorten(name or "—", 30)),
                marker={"color": colours[i] if colours else colour(i)},
                hovertemplate=safe(name or "—") + ": %{y} / " + str(k) + "<extra></extra>",
            )
        )
    totals = np.sum([list(ys) for ys in counts.values()], axis=0) if counts else []
    for x, total in zip(layer_labels, totals):
        fig.add_annotation(
            x=x, y=int(total), text=f"{int(total)}/{k}", showarrow=False, yshift=9, yanchor="bottom"
        )
    fig.update_yaxes(title_text=safe(y_title), range=[0, k])
    fig.update_xaxes(type="category")
    fig.update_layout(
        barmode="stack", showlegend=len(counts) > 1, legend={"orientation": "h", "y": -0.2}
    )
    return base_layout(fig, safe(title), height=340, top=60)


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
