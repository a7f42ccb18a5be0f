"""Compare layers: two layers side by side, layer x layer similarity (CKA, cosine), how much
each token changes, hidden-state norms, and what each block adds to the residual stream."""

from __future__ import annotations

import numpy as np
import streamlit as st

from viz.analysis import attention as attn
from viz.analysis import layers as layer_stats
from viz.figures import layers as layers_fig
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import tr
from viz.ui.pages.attention import colour_scale, heatmap_controls
from viz.ui.state import TraceKey
from viz.ui.widgets import HEAD, chart, figure_words, second_sentence_start

FRAGMENT = True  # its controls rerun only this page (viz/ui/app.py)
LEFT = state.widget("left_layer", link=state.NUMBER, clamp=state.layers_from(1))
RIGHT = state.widget("right_layer", link=state.NUMBER, clamp=state.layers_from(1))


@st.cache_data(max_entries=64, show_spinner=False)
def layer_analyses(key: TraceKey) -> dict[str, np.ndarray]:
    """Pre-norm models add each block's output to the residual stream as it is and normalise
    only once, after the last layer: the norms and the blocks' shares are the stream's, and
    the final norm's output is kept apart."""
    _t = get_trace(key)
    pre_norm = "pre_norm" in get_encoder(key.model).family.differs
    hidden, attn_out, ffn_out = _t.hidden_states, _t.attn_outputs, _t.ffn_outputs
    stream = layer_stats.residual_stream(hidden, attn_out, ffn_out, pre_norm)
    return {
        "cka": layer_stats.cka_matrix(hidden),
        "cos": layer_stats.cosine_matrix(hidden),
        "change": layer_stats.token_change(hidden),
        "norms": layer_stats.norms(stream),
        "final_norm": layer_stats.norms(hidden[-1:]).mean() if pre_norm else None,
        "contrib": layer_stats.contributions(hidden, attn_out, ffn_out, pre_norm),
    }


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    results = layer_analyses(key)
    st.subheader(tr("compare_two"))
    c1, c2, c3 = st.columns([2, 2, 3])
    left = c1.number_input(tr("left_layer"), 1, f.num_layers, value=1, key=LEFT)
    right = c2.number_input(tr("right_layer"), 1, f.num_layers, value=f.num_layers, key=RIGHT)
    c3.slider(tr("head"), 1, f.num_heads, key=HEAD)
    head = st.session_state[HEAD] - 1
    scale_kind, rows_window, cols_window = heatmap_controls(t, st.columns([1, 2])[0])
    positions = np.arange(t.num_tokens)
    r = attn.in_window(positions, rows_window)
    c = attn.in_window(positions, cols_window)
    pair = [t.attentions[layer - 1, head][np.ix_(r, c)] for layer in (left, right)]
    scale, scale_help = colour_scale(scale_kind, np.stack(pair), tr("weight"))
    labels = list(t.display_tokens)
    chart(
        layers_fig.side_by_side(
            pair[0],
            pair[1],
            [labels[i] for i in r],
            (tr("layer_n", n=left), tr("layer_n", n=right)),
            tr("head_n", n=head + 1),
            tr("weight"),
            figure_words(),
            scale=scale,
            positions=r,
            col_labels=[labels[i] for i in c],
            col_positions=c,
            boundary=(second_sentence_start(t, r), second_sentence_start(t, c)),
        ),
        key="side_by_side",
    )
    st.caption(scale_help)
    st.caption(tr("similarity_help"))
    c1, c2 = st.columns(2)
    with c1:
        chart(layers_fig.similarity(results["cka"], tr("cka_title"), "CKA"), key="cka")
    with c2:
        chart(layers_fig.similarity(results["cos"], tr("cos_title"), "cos"), key="cos")
    chart(
        layers_fig.token_change(results["change"], labels, tr("change_title")),
        key="token_change",
    )
    c1, c2 = st.columns(2)
    with c1:
        chart(
            layers_fig.norms_by_layer(results["norms"], labels, tr("norms_title"), figure_words()),
            key="norms",
        )
        if results["final_norm"] is not None:
            st.caption(tr("norms_pre_norm", final=float(results["final_norm"])))
    with c2:
        chart(
            layers_fig.contributions(
                results["contrib"],
                (tr("contrib_attn"), tr("contrib_ffn")),
                tr("contrib_title"),
                figure_words(),
            ),
            key="contrib",
        )
        st.caption(tr("contrib_help_pre" if results["final_norm"] is not None else "contrib_help"))
