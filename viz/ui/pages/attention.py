"""Attention: one layer and head as a heatmap (raw, rollout or norm-based) beside every layer and
head as thumbnails, and a BertViz-style head view.

At 500 tokens a weight is about 1/500, so three things keep a long input readable: a window of
rows and columns, a colour scale that adapts to the values shown, and one token in focus (its
row outlined and drawn as bars, its lines alone in the head view)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import streamlit as st

from viz.analysis import attention as attn
from viz.errors import UserError
from viz.figures import attention as attention_fig
from viz.figures.common import MAX_TICKS, ColourScale, safe, shorten
from viz.names import head_labels
from viz.syntax.annotate import with_jieba_words
from viz.trace import Trace
from viz.ui import canvas, state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import labeller, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import (
    AVERAGE,
    HEAD,
    LAYER,
    chart,
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
LAYER_SLIDER, HEATMAP, HEAD_VIEW = "attention_layer", "attention_heatmap", "head_view"
MODEL_VIEW = "model_view"


@st.cache_data(max_entries=8, show_spinner=False)
def rollouts(key: TraceKey) -> np.ndarray:
    return attn.rollout(get_trace(key).attentions).astype(np.float32)  # [L, T, T]


@st.cache_data(max_entries=8, show_spinner=False)
def value_norms(key: TraceKey) -> np.ndarray:
    """[L, H, T] float64: ‖f(x_j)‖ of every layer, head and token. Norm-based attention is the
    weights times these, so a layer's one head costs a product of [T, T], and one entry holds
    every layer (an entry a layer would be evicted in turn by a model of more layers than
    entries, and every run would compute them all again)."""
    t, encoder = get_trace(key), get_encoder(key.model)
    return np.stack(
        [attn.value_norms(t.values[n], layer_weights(encoder, n).w_o) for n in range(len(t.values))]
    )


def norm_attention(key: TraceKey, layer: int, head: int | None = None) -> np.ndarray:
    """Norm-based attention of ``layer``: [H, T, T], or [T, T] of one ``head``, float32."""
    t, norms = get_trace(key), value_norms(key)[layer]
    if head is None:
        return (t.attentions[layer] * norms[:, None, :]).astype(np.float32)
    return (t.attentions[layer, head] * norms[head][None, :]).astype(np.float32)


@st.cache_data(max_entries=8, show_spinner=False)
def model_view_image(key: TraceKey) -> tuple[str, float]:
    """The grid of every layer and head as a PNG, and the share of a cell a thumbnail fills:
    built once per trace (the browser outlines the open head itself)."""
    grid, fill = attention_fig.model_view_grid(get_trace(key).attentions)
    return attention_fig.model_view_png(grid), fill


def on_model_view_click() -> None:
    """A click on a thumbnail opens that layer and head (the frame brings a forged number
    into the model's range)."""
    if (head := canvas.head_clicked(MODEL_VIEW)) is not None and min(head) >= 1:
        st.session_state.update({LAYER: head[0], HEAD: head[1], AVERAGE: False})


def on_head_view_click() -> None:
    """A click on a token on the head view's left puts it in focus; a second click lets go.
    A position the page never showed (a forged message) is ignored."""
    s = st.session_state
    position = canvas.focus_clicked(HEAD_VIEW)
    if position is not None and position in s.get(HEAD_VIEW_ROWS, []):
        s[QUERY] = None if s.get(QUERY) == position else position


def on_layer_moved() -> None:
    """The reader stepped the layer slider: the browser has redrawn, the page follows."""
    layer = canvas.layer_moved(LAYER_SLIDER)
    if layer is not None:
        st.session_state[LAYER] = layer


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
    s[LAYER] = max(1, min(int(s.get(LAYER, 1)), t.facts.num_layers))
    layer, head = layer_head_controls(
        t, all_heads=average, layer_slider=lambda: canvas.layer_slider(
            LAYER_SLIDER, t.facts.num_layers, s[LAYER], tr("layer"), on_layer_moved
        ),
    )  # fmt: skip
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

    def heads_at(n: int) -> np.ndarray | None:  # [H, T, T] of layer n; None for rollout
        if mode == "rollout":
            return None
        return t.attentions[n] if mode == "raw" else norm_attention(key, n)

    def matrix_at(n: int) -> np.ndarray:
        if mode == "rollout":
            return rollouts(key)[n]
        if mode == "norm" and not average:
            return norm_attention(key, n, head)
        stack = heads_at(n)
        return stack.mean(axis=0) if average else stack[head]

    matrix, labels, positions = prepared(matrix_at(layer))
    r = attn.in_window(positions, rows_window)
    c = attn.in_window(positions, cols_window)
    if not len(r) or not len(c):  # a window between two merged words: show everything
        r, c = np.arange(len(positions)), np.arange(len(positions))
    layers = range(t.facts.num_layers)
    # every layer, for the slider to step through in the browser
    every = [prepared(matrix_at(n))[0][np.ix_(r, c)] for n in layers]
    shown = every[layer]
    row_labels, col_labels = [labels[i] for i in r], [labels[i] for i in c]
    row_pos, col_pos = positions[r], positions[c]

    value_name = tr("weight" if mode == "raw" else f"value_{mode}")
    scales = [colour_scale(scale_kind, m, value_name) for m in every]
    scale_help = scales[layer][1]
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
        scale_help += " " + tr("heatmap_image", n=attention_fig.IMAGE_ABOVE)
    st.caption(help_text + " " + scale_help)

    def title(n: int) -> str:
        if mode == "rollout":
            text = tr("rollout_title", layer=n + 1)
        else:
            text = tr("attention_title", layer=n + 1, head=head_name)
        if mode != "raw":
            text += f" · {tr(f'mode_{mode}')}"
        if len(r) < len(positions) or len(c) < len(positions):
            text += " · " + tr("window_title", r0=int(row_pos[0]), r1=int(row_pos[-1]),
                               c0=int(col_pos[0]), c1=int(col_pos[-1]))  # fmt: skip
        return text

    if mode == "rollout":
        axes = (tr("axis_input_token"), tr("axis_position"))
    else:
        axes = (tr("axis_to_key"), tr("axis_from_query"))
    texts = canvas.Texts(
        query=tr("w_query"),
        key=tr("w_key"),
        value=value_name,
        png=tr("canvas_png"),
        png_help=tr("canvas_png_help"),
        click_help=tr("head_view_click"),
        legend_help=tr("head_view_legend"),
    )
    # what the browser holds: a new set whenever the values shown change
    set_id = hashlib.sha1(
        repr((key, mode, average, head, hide, merge, r.tolist(), c.tolist(), scale_kind)).encode()
    ).hexdigest()[:16]
    # beside the grid, so a click on a thumbnail opens a head the reader can see
    left, right = st.columns([3, 2])
    with left:
        canvas.heatmap(
            HEATMAP,
            set_id,
            every,
            [scale for scale, _ in scales],
            [title(n) for n in layers],
            [f"{int(p)} {x}" for p, x in zip(row_pos, row_labels)],
            [f"{int(p)} {x}" for p, x in zip(col_pos, col_labels)],
            axes,
            texts,
            boundary=(second_sentence_start(t, row_pos), second_sentence_start(t, col_pos)),
            focus=focus,
            x_ticks=HEATMAP_X_TICKS,
            y_ticks=MAX_TICKS,
            download=f"attention_{'rollout' if mode == 'rollout' else mode}",
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
        png, fill = model_view_image(key)
        canvas.model_view(
            MODEL_VIEW,
            png,
            fill,
            t.facts.num_layers,
            t.facts.num_heads,
            None if average or mode == "rollout" else head,
            tr("model_view"),
            replace(texts, click_help=tr("model_view_click")),
            (tr("w_layer"), tr("w_head")),
            on_model_view_click,
        )
        st.caption(
            tr("model_view_help") + " " + tr("model_view_open", layer=layer + 1, head=head_name)
        )
    head_view(mode, heads_at, prepared, set_id, (labels, positions), head_name, r, c, focus,
              texts, t.facts.num_layers)  # fmt: skip


def head_view(
    mode: str,
    heads_at,
    prepared,
    set_id: str,
    opened: tuple[list[str], np.ndarray],
    head_name: str,
    r: np.ndarray,
    c: np.ndarray,
    focus: int | None,
    texts: canvas.Texts,
    layers: int,
) -> None:
    """Lines from the tokens of the rows window (left) to those of the columns window (right):
    the heatmap's matrices, or every head of the layer (``heads_at(layer)``, prepared here)
    in its own colour, for every layer."""
    many = st.radio(
        tr("head_view_heads"),
        HEAD_VIEW_HEADS,
        key=HV_HEADS,
        horizontal=True,
        format_func=labeller(lambda h: f"head_view_{h}"),
        disabled=mode == "rollout",  # rollout has no heads
    )
    if max(len(r), len(c)) > HEAD_VIEW_MAX_TOKENS:
        st.info(tr("head_view_long", n=HEAD_VIEW_MAX_TOKENS, t=max(len(r), len(c))))
        return
    labels, positions = opened
    st.session_state[HEAD_VIEW_ROWS] = [int(p) for p in positions[r]]
    stacks, head_names, what = None, None, head_name
    if many == "all" and mode != "rollout":
        stacks = []
        for n in range(layers):
            matrices = prepared(heads_at(n))[0]  # [H, T', T']
            stacks.append(matrices[:, r[:, None], c[None, :]])
        head_names, what = head_labels(stacks[0].shape[0]), tr("all_heads_coloured")

    def title(n: int) -> str:
        text = tr("head_view_title", layer=n + 1, head=what)
        return text + (f" · {tr(f'mode_{mode}')}" if mode != "raw" else "")

    canvas.head_view(
        HEAD_VIEW,
        set_id,
        [title(n) for n in range(layers)],
        [labels[i] for i in r],
        [labels[i] for i in c],
        [int(p) for p in positions[r]],
        texts,
        normalise=mode != "raw",
        focus=focus,
        on_focus=on_head_view_click,
        stacks=stacks,
        head_names=head_names,
        download=f"head_view_{mode}",
    )
    st.caption(tr("head_view_sides"))
