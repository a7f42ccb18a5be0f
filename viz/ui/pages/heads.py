"""Heads: a sortable table of every head's statistics and a clustered map of how alike the heads
are; a click on a row opens that head."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from viz.analysis import heads as head_stats
from viz.figures import heads as heads_fig
from viz.trace import Trace
from viz.ui.cached import get_trace
from viz.ui.i18n import tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, figure_words, open_head, table

TABLE = "head_table"


@st.cache_data(max_entries=64, show_spinner=False)
def head_table(key: TraceKey) -> pd.DataFrame:
    _t = get_trace(key)
    specials = np.flatnonzero(_t.special)
    cls_pos, sep_pos = specials[:1], specials[1:]
    columns = head_stats.head_statistics(
        _t.attentions, _t.display_tokens, _t.special, cls_pos, sep_pos
    )
    L, H = _t.facts.num_layers, _t.facts.num_heads
    frame = pd.DataFrame(
        {"layer": np.repeat(np.arange(1, L + 1), H), "head": np.tile(np.arange(1, H + 1), L)}
    )
    for name, values in columns.items():
        frame[name] = np.round(values, 4)
    return frame


@st.cache_data(max_entries=32, show_spinner=False)
def head_distances(key: TraceKey) -> tuple[np.ndarray, np.ndarray]:
    _t = get_trace(key)
    distance = head_stats.js_distance_matrix(_t.attentions)
    return distance, head_stats.cluster_order(distance)


def on_head_row() -> None:
    rows = st.session_state[TABLE].selection.rows
    frame = st.session_state.get("_head_frame")
    if rows and frame is not None and isinstance(rows[0], int) and 0 <= rows[0] < len(frame):
        row = frame.iloc[rows[0]]  # (a forged row number is ignored)
        open_head(int(row["layer"]), int(row["head"]))


def render(t: Trace, key: TraceKey) -> None:
    with st.spinner(tr("heads_computing")):  # about 1.5 s for bert-base at 512 tokens
        frame = head_table(key)
        distance, order = head_distances(key)
    st.session_state["_head_frame"] = frame
    st.subheader(tr("heads_table"))
    st.caption(tr("heads_help"))
    table(
        frame,
        key=TABLE,
        on_select=on_head_row,
        selection_mode="single-row",
        hide_index=True,
        height=360,
        width="stretch",
    )
    chart(
        heads_fig.head_similarity(
            distance, order, t.facts.num_heads, tr("heads_similarity"), figure_words()
        ),
        key="head_similarity",
    )
    st.caption(tr("heads_similarity_help"))
