"""Attention: one layer and head as a heatmap (raw, rollout or norm-based) beside every layer and
head as thumbnails, and a BertViz-style head view.

At 500 tokens a weight is about 1/500, so three things keep a long input readable: a window of
rows and columns, a colour scale that adapts to the values shown, and one token in focus (its
row outlined and drawn as bars, its lines alone in the head view)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from viz.analysis import attention as attn
from viz.errors import UserError
from viz.figures import attention as attention_fig
from viz.figures.common import ColourScale, safe, shorten
from viz.names import head_labels
from viz.syntax.annotate import with_jieba_words
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import labeller, language, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import (
    AVERAGE,
    HEAD,
    LAYER,
    chart,
    clicked_head,
    figure_words,
    layer_head_controls,
    message,
    second_sentence_start,
    word_names,
)
from viz.weights import layer_weights

FRAGMENT = True  # a slider step reruns only this page (viz/ui/app.py)
MODES = ("raw", "rollout", "norm")
SCALES = ("p99", "row", "max")  # 99th-percentile cap, each row to its maximum, linear to the max
HEAD_VIEW_HEADS = ("one", "all")
HEAD_VIEW_MAX_TOKENS = 128  # a side of the head view; more lines than this are a hairball
WINDOW_FROM = 40  # from this many tokens on, the page offers windows of rows and columns
CAP_PERCENTILE = 99.0
GRID_WIDTH = 400  # about the model view's width in pixels, in its column beside the heatmap
HEATMAP_X_TICKS = 30  # the heatmap gets three fifths of the width: fewer column labels than rows


def _span(text: str) -> tuple[int, int]:
    first, last = (int(part) for part in text.split("-"))
    if not 0 <= first <= last <= 100_000:
        raise ValueError(text)
    return first, last


SPAN = state.Codec(lambda v: f"{int(v[0])}-{int(v[1])}", _span)  # a window: "100-160"
MODE = state.widget("attention_mode", translated=True, link=state.choice(MODES))
HIDE_SPECIAL = state.widget("hide_special", link=state.FLAG)
MERGE = state.widget("merge", link=state.FLAG)
POS_TAGS = state.widget("pos_tags", link=state.FLAG)
# the colour scale and the windows are shared with the layers page's side-by-side heatmaps
SCALE = state.widget("attention_scale", translated=True, link=state.choice(SCALES))
ROWS = state.widget("attention_rows", link=SPAN)
COLS = state.widget("attention_cols", link=SPAN)
QUERY = state.widget("attention_query", link=state.NUMBER)
HV_HEADS = state.widget("head_view_heads", translated=True, link=state.choice(HEAD_VIEW_HEADS))
HEAD_VIEW_ROWS = "_head_view_rows"  # positions of the head view's left tokens, for a click


@st.cache_data(max_entries=8, show_spinner=False)
def rollouts(key: TraceKey) -> np.ndarray:
    return attn.rollout(get_trace(key).attentions).astype(np.float32)  # [L, T, T]


@st.cache_data(max_entries=8, show_spinner=False)
def norm_attention(key: TraceKey, layer: int) -> np.ndarray:
    t, w = get_trace(key), layer_weights(get_encoder(key.model), layer)
    return attn.norm_based(t.attentions[layer], t.values[layer], w.w_o).astype(np.float32)


@st.cache_resource(max_entries=8, show_spinner=False)
def model_view_figure(key: TraceKey, title: str, _lang: str) -> go.Figure:
    """The grid of every layer and head, built once per trace and left unmarked (the heatmap's
    title names the open head): a layer or head change then leaves its message unchanged, so
    Streamlit sends the browser a reference instead of the 0.5 MB figure and it is not redrawn.
    Read-only after it is built, so sessions can share the object."""
    return attention_fig.model_view(
        get_trace(key).attentions, title, figure_words(), width=GRID_WIDTH
    )


def on_model_view_click() -> None:
    """A click on a thumbnail opens that layer and head."""
    if (head := clicked_head("model_view")) is not None:
        st.session_state.update({LAYER: head[0], HEAD: head[1], AVERAGE: False})


def on_head_view_click() -> None:
    """A click on a token on the head view's left puts it in focus; a second click lets go.
    A selection the page never sent (a forged message) is ignored."""
    s = st.session_state
    rows = s.get(HEAD_VIEW_ROWS, [])
    try:
        point = s["head_view"].selection.points[0]
        left = point.get("x") == 0  # the right side (keys) only hovers
        i = point.get("point_index", point.get("point_number"))
    except (AttributeError, IndexError, KeyError, TypeError):
        return
    if left and isinstance(i, int) and 0 <= i < len(rows):
        s[QUERY] = None if s.get(QUERY) == rows[i] else rows[i]


# ---------------------------------------------------------------- controls
def follow_default(key: str, default: object) -> None:
    """Until the user sets it, the widget ``key`` takes ``default``, which depends on the text
    (a window that covers it, a scope that suits its length). A value the address brought counts
    as set: whoever made the link chose it."""
    s, moved = st.session_state, f"_moved_{key}"
    if moved not in s:
        s[moved] = key in s
    if not s[moved]:
        s[key] = default


def moved(key: str):
    """An ``on_change`` that marks ``key`` as set by the user (see ``follow_default``)."""
    return lambda: st.session_state.__setitem__(f"_moved_{key}", True)


def _window_slider(target, key: str, label: str, last: int) -> tuple[int, int]:
    follow_default(key, (0, last))
    first, end = st.session_state[key]
    first, end = min(int(first), last), min(int(end), last)
    st.session_state[key] = (first, end) if first < end else (0, last)
    return target.slider(label, 0, last, key=key, on_change=moved(key))


def heatmap_controls(
    t: Trace, target=None
) -> tuple[str, tuple[int, int] | None, tuple[int, int] | None]:
    """The colour scale (in ``target``, a column) and, for a long input, windows of token
    positions for the rows and the columns below it: (scale, rows, columns), the windows None
    when the input is short."""
    target = target or st
    scale = target.selectbox(
        tr("colour_scale"),
        SCALES,
        key=SCALE,
        format_func=labeller(lambda s: f"scale_{s}"),
        help=tr("colour_scale_help"),
    )
    if t.num_tokens < WINDOW_FROM:
        return scale, None, None
    last = t.num_tokens - 1
    c1, c2 = st.columns(2)
    rows = _window_slider(c1, ROWS, tr("window_rows"), last)
    cols = _window_slider(c2, COLS, tr("window_cols"), last)
    return scale, rows, cols


def colour_scale(kind: str, matrix: np.ndarray, value_name: str) -> tuple[ColourScale, str]:
    """The scale ``kind`` for the values shown, and the caption sentence that names it."""
    if kind == "row":
        return ColourScale("row", 1.0, tr("scale_bar_row", value=value_name)), tr("scale_help_row")
    if kind == "max":
        top = float(max(matrix.max(), 1e-9))
        bar = tr("scale_bar_max", value=value_name, top=top)
        return ColourScale("linear", top, bar), tr("scale_help_max", top=top)
    cap = attn.colour_cap(matrix, CAP_PERCENTILE)
    above = float((matrix > cap).mean())
    bar = tr("scale_bar_p99", value=value_name, cap=cap)
    return ColourScale("linear", cap, bar), tr("scale_help_p99", cap=cap, share=above)


# ---------------------------------------------------------------- the page
def token_tags(t: Trace) -> list[str] | None:
    """Each token's part of speech from the annotator of the text's script (spaCy, jieba);
    empty for special tokens. None, and a notice, when no annotator reads the text."""
    from viz.syntax.annotate import annotated_trace

    try:
        annotation, token_word = annotated_trace(t)
    except UserError as err:
        st.caption(message(err))
        return None
    return [annotation.words[w].pos if w >= 0 else "" for w in token_word.tolist()]


def render(t: Trace, key: TraceKey) -> None:
    s = st.session_state
    mode = st.radio(
        tr("attention_mode"),
        MODES,
        key=MODE,
        horizontal=True,
        format_func=labeller(lambda m: f"mode_{m}"),
    )
    c1, c2, c3, c4 = st.columns(4)
    # rollout averages the heads by definition
    average = c1.checkbox(tr("average_heads"), key=AVERAGE, disabled=mode == "rollout")
    average = average or mode == "rollout"
    hide = c2.checkbox(tr("hide_special"), key=HIDE_SPECIAL)
    merge = c3.checkbox(tr("merge_subwords"), key=MERGE)
    words = with_jieba_words(t) if merge else t  # Chinese: jieba's words, not characters
    tags = token_tags(t) if c4.checkbox(tr("pos_tags"), key=POS_TAGS) else None
    layer, head = layer_head_controls(t, all_heads=average)
    scale_column, focus_column = st.columns(2)
    scale_kind, rows_window, cols_window = heatmap_controls(t, scale_column)

    def prepared(m: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        m, labels, positions = attn.prepare(
            m,
            t.display_tokens,
            t.special,
            words.word_ids,
            hide_special=hide,
            merge_subwords=merge,
            word_names=word_names(words) if merge else None,
        )
        if tags is not None:  # a word's tag after its label (a merged word: its first piece's)
            labels = [f"{x}·{tags[p]}" if tags[p] else x for x, p in zip(labels, positions)]
        return m, labels, positions

    if mode == "rollout":
        stack, matrix = None, rollouts(key)[layer]
    else:
        stack = t.attentions[layer] if mode == "raw" else norm_attention(key, layer)
        matrix = stack.mean(axis=0) if average else stack[head]
    matrix, labels, positions = prepared(matrix)
    r = attn.in_window(positions, rows_window)
    c = attn.in_window(positions, cols_window)
    if not len(r) or not len(c):  # a window between two merged words: show everything
        r, c = np.arange(len(positions)), np.arange(len(positions))
    shown = matrix[np.ix_(r, c)]
    row_labels, col_labels = [labels[i] for i in r], [labels[i] for i in c]
    row_pos, col_pos = positions[r], positions[c]

    value_name = tr("weight" if mode == "raw" else f"value_{mode}")
    scale, scale_help = colour_scale(scale_kind, shown, value_name)
    focus_options = [None, *[int(p) for p in row_pos]]
    if s.get(QUERY) not in focus_options:
        s[QUERY] = None
    names = {int(p): f"{int(p)} {label}" for p, label in zip(row_pos, row_labels)}
    focus_pos = focus_column.selectbox(
        tr("focus_token"),
        focus_options,
        key=QUERY,
        format_func=lambda p: tr("focus_none") if p is None else names[p],
        help=tr("focus_token_help"),
    )
    focus = None if focus_pos is None else focus_options.index(focus_pos) - 1

    head_name = tr("all_heads") if average else tr("head_n", n=head + 1)
    help_text = tr(f"mode_help_{mode}")
    if mode != "rollout":  # rollout's rows and columns are not queries and keys
        help_text = tr("attention_help") + " " + help_text
    if hide and mode != "norm":
        help_text += " " + tr("hidden_rows")
    if max(len(r), len(c)) > attention_fig.IMAGE_ABOVE:
        gapless = attention_fig.contiguous(row_pos) and attention_fig.contiguous(col_pos)
        image_note = "heatmap_image" if gapless else "heatmap_image_no_hover"
        scale_help += " " + tr(image_note, n=attention_fig.IMAGE_ABOVE)
    st.caption(help_text + " " + scale_help)
    if mode == "rollout":
        title = tr("rollout_title", layer=layer + 1)
        axes = (tr("axis_input_token"), tr("axis_position"))
    else:
        title = tr("attention_title", layer=layer + 1, head=head_name)
        axes = (tr("axis_to_key"), tr("axis_from_query"))
    if mode != "raw":
        title += f" · {tr(f'mode_{mode}')}"
    if len(r) < len(positions) or len(c) < len(positions):
        title += " · " + tr("window_title", r0=int(row_pos[0]), r1=int(row_pos[-1]),
                            c0=int(col_pos[0]), c1=int(col_pos[-1]))  # fmt: skip
    # beside the grid, so a click on a thumbnail opens a head the reader can see
    left, right = st.columns([3, 2])
    with left:
        chart(
            attention_fig.heatmap(
                shown,
                row_labels,
                row_pos,
                title,
                value_name=value_name,
                axis_titles=axes,
                words=figure_words(),
                boundary=(
                    second_sentence_start(t, row_pos),
                    second_sentence_start(t, col_pos),
                ),
                scale=scale,
                col_labels=col_labels,
                col_positions=col_pos,
                focus=focus,
                x_ticks=HEATMAP_X_TICKS,
            ),
            key="attention_heatmap",
        )
        if focus is not None:
            name = safe(shorten(names[focus_pos]))
            chart(
                attention_fig.row_bars(
                    shown[focus],
                    col_labels,
                    col_pos,
                    tr("focus_row_title", name=name),
                    value_name,
                    axes[0],
                    figure_words(),
                ),
                key="attention_row",
            )
    with right:
        chart(
            model_view_figure(key, tr("model_view"), language()),
            key="model_view",
            on_select=on_model_view_click,
            selection_mode="points",
        )
        st.caption(
            tr("model_view_help") + " " + tr("model_view_open", layer=layer + 1, head=head_name)
        )
    head_view(mode, stack, prepared, (matrix, labels, positions), layer, head_name, r, c, focus)


def head_view(
    mode: str,
    stack: np.ndarray | None,
    prepared,
    opened: tuple[np.ndarray, list[str], np.ndarray],
    layer: int,
    head_name: str,
    r: np.ndarray,
    c: np.ndarray,
    focus: int | None,
) -> None:
    """Lines from the tokens of the rows window (left) to those of the columns window (right):
    the heatmap's matrix (``opened``: prepared, before the windows), or every head of the layer
    (``stack``, prepared here) in its own colour."""
    many = st.radio(
        tr("head_view_heads"),
        HEAD_VIEW_HEADS,
        key=HV_HEADS,
        horizontal=True,
        format_func=labeller(lambda h: f"head_view_{h}"),
        disabled=stack is None,  # rollout has no heads
    )
    if max(len(r), len(c)) > HEAD_VIEW_MAX_TOKENS:
        st.info(tr("head_view_long", n=HEAD_VIEW_MAX_TOKENS, t=max(len(r), len(c))))
        return
    if many == "all" and stack is not None:
        matrices, labels, positions = prepared(stack)  # [H, T', T']
        head_names, what = head_labels(stack.shape[0]), tr("all_heads_coloured")
    else:
        (matrices, labels, positions), head_names, what = opened, None, head_name
    matrices = matrices[..., r[:, None], c[None, :]]
    if mode != "raw":  # lengths or shares: opacity needs 0..1
        matrices = matrices / max(float(matrices.max()), 1e-9)
    st.session_state[HEAD_VIEW_ROWS] = [int(p) for p in positions[r]]
    title = tr("head_view_title", layer=layer + 1, head=what)
    if mode != "raw":
        title += f" · {tr(f'mode_{mode}')}"
    chart(
        attention_fig.head_view(
            matrices,
            [labels[i] for i in r],
            title,
            col_labels=[labels[i] for i in c],
            head_names=head_names,
            focus=focus,
        ),
        key="head_view",
        on_select=on_head_view_click,
        selection_mode="points",
    )
    st.caption(tr("head_view_sides"))
