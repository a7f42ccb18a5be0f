"""The sentence's dependency arcs beside a head's strongest arcs, words marked by part of speech.

Words sit on a line at their positions (labels passed in, escaped here); the parse's arcs bow
above the line (governor to dependent), the head's arcs (each word to the other word it attends
to most) bow below it, green where they land on the word's governor.
"""

from __future__ import annotations

import numpy as np

from viz.figures import go
from viz.figures.common import base_layout, safe, shorten

# One colour per universal part of speech, fixed so a tag reads the same in every chart; the
# commonest tags (noun, proper noun, verb, adjective, adverb, adposition, determiner, pronoun,
# punctuation) get hues far apart, the rarer ones lighter shades.
POS_COLOURS = {
    "NOUN": "#1f77b4",
    "PROPN": "#17becf",
    "VERB": "#d62728",
    "AUX": "#ff9896",
    "ADJ": "#ff7f0e",
    "ADV": "#bcbd22",
    "ADP": "#9467bd",
    "DET": "#8c564b",
    "PRON": "#e377c2",
    "NUM": "#7b4173",
    "CCONJ": "#c5b0d5",
    "SCONJ": "#c49c94",
    "PART": "#637939",
    "INTJ": "#f7b6d2",
    "PUNCT": "#7f7f7f",
    "SYM": "#c7c7c7",
    "X": "#393b79",
}
UPOS = tuple(POS_COLOURS)
MATCH, MISS, PARSE = "#2ca02c", "#b0b0b0", "#1f77b4"
STEPS = 24  # points per arc


def pos_colour(tag: str) -> str:
    return POS_COLOURS.get(tag, "#000000")


BELOW = -0.45  # the head's arcs start under the word labels


_T = np.linspace(0, np.pi, STEPS)
_COS, _SIN = np.cos(_T), np.sin(_T)


def _arcs(pairs: list[tuple[int, int]], up: bool) -> tuple[np.ndarray, np.ndarray]:
    """Half-ellipses from x=a to x=b, each as high as half its span (at least 0.3), above the
    words or below their labels; NaN between arcs (a gap in the line)."""
    if not pairs:
        return np.empty(0), np.empty(0)
    ab = np.asarray(pairs, dtype=np.float64)  # [N, 2]
    mid, half = ab.mean(axis=1)[:, None], ((ab[:, 1] - ab[:, 0]) / 2)[:, None]
    height = np.maximum(0.3, np.abs(half))
    x = mid - half * _COS[None, :]  # [N, STEPS]
    y = height * _SIN[None, :] if up else BELOW - height * _SIN[None, :]
    gap = np.full((len(ab), 1), np.nan)
    return np.hstack([x, gap]).ravel(), np.hstack([y, gap]).ravel()


def arcs(
    words: list[str],
    pos: list[str],
    parse: list[tuple[int, int, str]],
    head: list[tuple[int, int, float]],
    title: str,
    legend: tuple[str, str, str],
    pos_names: dict[str, str] | None = None,
) -> go.Figure:
    """``parse``: (dependent, governor, relation) per arc; ``head``: (word, most-attended word,
    its attention) per word. ``legend``: the names of the parse's arcs, of the head's arcs that
    land on the governor, and of its other arcs. ``pos_names``: each part of speech's name in
    the legend, in the reader's language (default: the tag)."""
    parse_name, match_name, miss_name = legend
    traces = []  # one Figure built at the end: add_trace copies every trace it is given
    governor = {d: g for d, g, _ in parse}
    if parse:
        xs, ys = _arcs([(g, d) for d, g, _ in parse], True)
        tips_x = [(d + g) / 2 for d, g, _ in parse]
        tips_y = [max(0.3, abs(d - g) / 2) for d, g, _ in parse]
        tips = [f"{safe(rel)}: {safe(words[g])} → {safe(words[d])}" for d, g, rel in parse]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": PARSE, "width": 1.5},
                name=parse_name,
                hoverinfo="skip",
            )
        )
        traces.append(
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
        pairs = [(w, t) for w, t, _ in head if (governor.get(w) == t) == matched]
        xs, ys = _arcs(pairs, False)
        if len(xs):
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": MATCH if matched else MISS, "width": 2 if matched else 1},
                    name=match_name if matched else miss_name,
                    hoverinfo="skip",
                )
            )
    traces.append(
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
        traces.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"size": 10, "color": pos_colour(tag)},
                name=safe((pos_names or {}).get(tag, tag)),
            )
        )
    fig = go.Figure(data=traces)
    span = max(1, len(words) - 1)
    reach = max([abs(d - g) for d, g, _ in parse] + [abs(w - t) for w, t, _ in head] + [1])
    top = max(0.6, reach / 2) + 0.6
    above = top if parse else 0.6  # no parse: no room kept above the words
    fig.update_xaxes(visible=False, range=[-0.8, span + 0.8])
    fig.update_yaxes(visible=False, range=[BELOW - top, above])
    fig.update_layout(legend={"orientation": "h", "y": -0.05})
    return base_layout(fig, title, height=int(200 + (28 if parse else 16) * min(reach, 16)))


def pos_rings(
    fig: go.Figure,
    xy: np.ndarray,
    pos: list[str],
    hover: list[str],
    pos_names: dict[str, str] | None = None,
    legend_title: str = "",
) -> go.Figure:
    """Rings round a 2-D view's points in each token's part-of-speech colour, one entry per part
    of speech (named by ``pos_names``) in a legend of their own at the right, titled
    ``legend_title``, so the layers' legend below stays as it was. ``xy``: [K, T, 2], the
    points of K layers; ``pos``: T tags, empty where a token has none (special tokens);
    ``hover``: T names, escaped ("3 bank"). The points' own colours (layer or position) stay
    inside the rings."""
    K, T = xy.shape[:2]
    for tag in dict.fromkeys(p for p in pos if p):
        idx = np.array([i for i in range(T) if pos[i] == tag])
        name = safe((pos_names or {}).get(tag, tag))
        fig.add_trace(
            go.Scatter(
                x=xy[:, idx, 0].ravel(),
                y=xy[:, idx, 1].ravel(),
                mode="markers",
                marker={
                    "symbol": "circle-open",
                    "size": 14,
                    "color": pos_colour(tag),
                    "line": {"width": 2.5, "color": pos_colour(tag)},
                },
                name=name,
                legend="legend2",
                customdata=np.tile([hover[i] for i in idx], K),
                hovertemplate="%{customdata} · " + name + "<extra></extra>",
            )
        )
    fig.update_layout(
        showlegend=True,
        legend2={
            "title": {"text": safe(legend_title)},
            "x": 1.02,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
        },
    )
    return fig
