"""The sentence's dependency arcs beside a head's strongest arcs, words marked by part of speech.

Words sit on a line at their positions (labels passed in, escaped here); the parse's arcs bow
above the line (governor to dependent), the head's arcs (each word to the other word it attends
to most) bow below it, green where they land on the word's governor.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from viz.figures.common import base_layout, safe, shorten

# One colour per universal part of speech, fixed so a tag reads the same in every chart.
UPOS = (
    "NOUN",
    "PROPN",
    "VERB",
    "AUX",
    "ADJ",
    "ADV",
    "ADP",
    "DET",
    "PRON",
    "NUM",
    "CCONJ",
    "SCONJ",
    "PART",
    "INTJ",
    "PUNCT",
    "SYM",
    "X",
)
PALETTE = qualitative.Dark24
POS_COLOURS = {tag: PALETTE[i % len(PALETTE)] for i, tag in enumerate(UPOS)}
MATCH, MISS, PARSE = "#2ca02c", "#b0b0b0", "#1f77b4"
STEPS = 24  # points per arc


def pos_colour(tag: str) -> str:
    return POS_COLOURS.get(tag, "#7f7f7f")


BELOW = -0.45  # the head's arcs start under the word labels


def _arc(a: int, b: int, up: bool) -> tuple[list[float], list[float]]:
    """A half-ellipse from x=a to x=b, as high as half their distance (at least 0.3); above
    the words, or below their labels."""
    t = np.linspace(0, np.pi, STEPS)
    mid, half = (a + b) / 2, (b - a) / 2
    height = max(0.3, abs(b - a) / 2)
    if up:
        return list(mid - half * np.cos(t)), list(height * np.sin(t))
    return list(mid - half * np.cos(t)), list(BELOW - height * np.sin(t))


def arcs(
    words: list[str],
    pos: list[str],
    parse: list[tuple[int, int, str]],
    head: list[tuple[int, int, float]],
    title: str,
    legend: tuple[str, str, str],
) -> go.Figure:
    """``parse``: (dependent, governor, relation) per arc; ``head``: (word, most-attended word,
    its attention) per word. ``legend``: the names of the parse's arcs, of the head's arcs that
    land on the governor, and of its other arcs."""
    parse_name, match_name, miss_name = legend
    fig = go.Figure()
    governor = {d: g for d, g, _ in parse}
    if parse:
        xs, ys, tips_x, tips_y, tips = [], [], [], [], []
        for d, g, rel in parse:
            x, y = _arc(g, d, True)
            xs += x + [None]
            ys += y + [None]
            tips_x.append((d + g) / 2)
            tips_y.append(max(y))
            tips.append(f"{safe(rel)}: {safe(words[g])} → {safe(words[d])}")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": PARSE, "width": 1.5},
                name=parse_name,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=tips_x,
                y=tips_y,
                mode="text",
                text=[safe(rel) for _, _, rel in parse],
                textposition="top center",
                textfont={"size": 10, "color": PARSE},
                hovertext=tips,
                hoverinfo="text",
                showlegend=False,
            )
        )
    for matched in (True, False):
        xs, ys = [], []
        for w, target, _ in head:
            if (governor.get(w) == target) == matched:
                x, y = _arc(w, target, False)
                xs += x + [None]
                ys += y + [None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": MATCH if matched else MISS, "width": 2 if matched else 1},
                    name=match_name if matched else miss_name,
                    hoverinfo="skip",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=list(range(len(words))),
            y=[0] * len(words),
            mode="markers+text",
            text=[safe(shorten(w, 12)) for w in words],
            textposition="bottom center",
            textfont={"size": 12},
            marker={"size": 12, "color": [pos_colour(p) for p in pos], "line": {"width": 0}},
            hovertext=[f"{i} {safe(w)} · {safe(p)}" for i, (w, p) in enumerate(zip(words, pos))],
            hoverinfo="text",
            showlegend=False,
        )
    )
    for tag in dict.fromkeys(pos):  # a legend entry per part of speech present
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"size": 10, "color": pos_colour(tag)},
                name=safe(tag),
            )
        )
    span = max(1, len(words) - 1)
    reach = max([abs(d - g) for d, g, _ in parse] + [abs(w - t) for w, t, _ in head] + [1])
    top = max(0.6, reach / 2) + 0.6
    above = top if parse else 0.6  # no parse: no room kept above the words
    fig.update_xaxes(visible=False, range=[-0.8, span + 0.8])
    fig.update_yaxes(visible=False, range=[BELOW - top, above])
    fig.update_layout(legend={"orientation": "h", "y": -0.05})
    return base_layout(fig, title, height=int(200 + (28 if parse else 16) * min(reach, 16)))
