"""Attention: one layer and head as a heatmap (raw, rollout or norm-based), every layer and
head as thumbnails, and a BertViz-style head view."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from viz.analysis import attention as attn
from viz.figures import attention as attention_fig
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
    second_sentence_start,
    word_names,
)
from viz.weights import layer_weights

MODES = ("raw", "rollout", "norm")
HEAD_VIEW_MAX_TOKENS = 128
MODE = state.widget("attention_mode", translated=True, link=state.choice(MODES))
HIDE_SPECIAL = state.widget("hide_special", link=state.FLAG)
MERGE = state.widget("merge", link=state.FLAG)


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
    return attention_fig.model_view(get_trace(key).attentions, title, figure_words())


def on_model_view_click() -> None:
    """A click on a thumbnail opens that layer and head."""
    if (head := clicked_head("model_view")) is not None:
        st.session_state.update({LAYER: head[0], HEAD: head[1], AVERAGE: False})


def render(t: Trace, key: TraceKey) -> None:
    mode = st.radio(
        tr("attention_mode"),
        MODES,
        key=MODE,
        horizontal=True,
        format_func=labeller(lambda m: f"mode_{m}"),
    )
    c1, c2, c3 = st.columns(3)
    # rollout averages the heads by definition
    average = c1.checkbox(tr("average_heads"), key=AVERAGE, disabled=mode == "rollout")
    average = average or mode == "rollout"
    hide = c2.checkbox(tr("hide_special"), key=HIDE_SPECIAL)
    merge = c3.checkbox(tr("merge_subwords"), key=MERGE)
    layer, head = layer_head_controls(t, all_heads=average)
    if mode == "rollout":
        matrix = rollouts(key)[layer]
    else:
        stack = t.attentions[layer] if mode == "raw" else norm_attention(key, layer)
        matrix = stack.mean(axis=0) if average else stack[head]
    matrix, labels, positions = attn.prepare(
        matrix,
        t.display_tokens,
        t.special,
        t.word_ids,
        hide_special=hide,
        merge_subwords=merge,
        word_names=word_names(t) if merge else None,
    )
    head_name = tr("all_heads") if average else tr("head_n", n=head + 1)
    help_text = tr(f"mode_help_{mode}")
    if mode != "rollout":  # rollout's rows and columns are not queries and keys
        help_text = tr("attention_help") + " " + help_text
    if hide and mode != "norm":
        help_text += " " + tr("hidden_rows")
    st.caption(help_text)
    if mode == "rollout":
        title = tr("rollout_title", layer=layer + 1)
        axes = (tr("axis_input_token"), tr("axis_position"))
    else:
        title = tr("attention_title", layer=layer + 1, head=head_name)
        axes = (tr("axis_to_key"), tr("axis_from_query"))
    if mode != "raw":
        title += f" · {tr(f'mode_{mode}')}"
    chart(
        attention_fig.heatmap(
            matrix,
            labels,
            positions,
            title,
            value_name=tr("weight" if mode == "raw" else f"value_{mode}"),
            axis_titles=axes,
            words=figure_words(),
            boundary=second_sentence_start(t, positions),
        ),
        key="attention_heatmap",
    )
    opened = tr("model_view_open", layer=layer + 1, head=head_name)
    st.caption(tr("model_view_help") + " " + opened)
    chart(
        model_view_figure(key, tr("model_view"), language()),
        key="model_view",
        on_select=on_model_view_click,
        selection_mode="points",
    )
    st.subheader(tr("head_view"))
    if len(labels) > HEAD_VIEW_MAX_TOKENS:
        st.info(tr("head_view_long", n=HEAD_VIEW_MAX_TOKENS, t=len(labels)))
    else:
        chart(
            attention_fig.head_view(
                matrix / max(float(matrix.max()), 1e-9) if mode != "raw" else matrix,
                labels,
                f"{tr('layer_n', n=layer + 1)}{tr('comma')}{head_name}"
                + (f" · {tr(f'mode_{mode}')}" if mode != "raw" else ""),
            ),
            key="head_view",
        )
        st.caption(tr("head_view_sides"))
