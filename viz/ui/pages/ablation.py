"""Head ablation: switch heads off and see how far every later layer moves (and the masked-word
predictions change); or scan every head alone and map how far the last layer moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from viz import capture
from viz.analysis import layers as layer_stats
from viz.analysis import mlm
from viz.figures import heads as heads_fig
from viz.figures import lines as lines_fig
from viz.lens import lens
from viz.names import head_name, head_names, parse_head
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import language, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import (
    chart,
    clicked_head,
    figure_words,
    percent,
    table,
    word_picker,
)

WORD = state.widget("ablation_word", link=state.NUMBER)  # brought into the text's words
HEADS_OFF = state.widget("ablate_heads", link=state.HEADS, clamp=state.existing_heads)
SCAN_MAP = "ablation_scan_map"


@st.cache_data(max_entries=8, show_spinner=False)
def head_importance(key: TraceKey, _lang: str) -> np.ndarray:
    """[L, H]: each head switched off on its own, how far the last layer moves. The forward
    passes (one per layer: the heads go in one batch) bypass the trace cache.
    The progress bar is made in here: a cached function may only draw on its own elements."""
    _t = get_trace(key)
    encoder = get_encoder(key.model)
    f = _t.facts
    bar = st.progress(0.0)

    def last_layer(layer: int) -> np.ndarray:  # [H, T, D], each head of the layer off in turn
        return capture.each_head_off(encoder, key.text, key.pair, layer)

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=tr("ablation_scanning", i=done, n=total))

    values = layer_stats.head_importance(
        _t.hidden_states[-1], last_layer, f.num_layers, f.num_heads, progress
    )
    bar.empty()
    return values


def on_scan_click() -> None:
    """A click on a cell of the head scan adds that head to the ones switched off."""
    if (head := clicked_head(SCAN_MAP)) is not None:
        name = head_name(*head)
        chosen = list(st.session_state.get(HEADS_OFF, []))
        if name not in chosen:
            st.session_state[HEADS_OFF] = [*chosen, name]


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    options = head_names(f.num_layers, f.num_heads)
    chosen = st.multiselect(
        tr("ablation_heads"),
        options,
        key=HEADS_OFF,
        placeholder=tr("ablation_pick"),
    )
    st.caption(tr("ablation_help"))
    if chosen:
        ablation_effects(t, key, chosen)
    else:
        st.info(tr("ablation_none"))
    head_scan(t, key)


def head_scan(t: Trace, key: TraceKey) -> None:
    """Every head switched off alone, on request (L x H forward passes), as one map."""
    f = t.facts
    st.subheader(tr("ablation_scan_header"))
    st.caption(tr("ablation_scan_help"))
    if st.button(tr("ablation_scan", n=f.num_layers * f.num_heads), key="ablation_scan"):
        st.session_state["_scanned"] = key
    if st.session_state.get("_scanned") != key:
        return
    values = head_importance(key, language())
    chart(
        heads_fig.head_grid(values, tr("ablation_scan_title"), "1 − cos", figure_words()),
        key=SCAN_MAP,
        on_select=on_scan_click,
        selection_mode="points",
    )
    flat, names = values.ravel(), head_names(f.num_layers, f.num_heads)
    top = [f"{names[i]} ({flat[i]:.3g})" for i in np.argsort(flat)[::-1][:3]]
    st.caption(tr("ablation_scan_top", heads=", ".join(top)))


def ablation_effects(t: Trace, key: TraceKey, chosen: list[str]) -> None:
    """The chosen heads switched off together: how each layer moves, and the MLM head's
    predictions before and after where the model has one."""
    f = t.facts
    ablate = frozenset((lay - 1, h - 1) for lay, h in map(parse_head, chosen))
    changed = get_trace(key.ablated(ablate))
    # from L1: the embeddings come before every head, so they never move
    drift = layer_stats.drift(t.hidden_states[1:], changed.hidden_states[1:])
    chart(
        lines_fig.bars_by_layer(drift, tr("ablation_drift"), "1 − cos", first_layer=1),
        key="ablation_drift",
    )
    if f.has_mlm_head:
        encoder = get_encoder(key.model)
        word = word_picker(tr("mlm_word"), t, WORD)
        before = get_trace(key.masked(word))
        after = get_trace(key.masked(word).ablated(ablate))
        pos = mlm.mask_position(before, encoder.tokenizer.mask_token_id)
        st.subheader(tr("ablation_mlm"))
        c1, c2 = st.columns(2)
        for col, name, run in ((c1, "before", before), (c2, "after", after)):
            res = lens(encoder, run, pos, k=5)
            col.markdown(f"**{tr(name)}**")
            table(
                pd.DataFrame(
                    {"token": res.top_tokens[-1], "p": [percent(p) for p in res.top_probs[-1]]}
                ),
                target=col,
                hide_index=True,
            )
