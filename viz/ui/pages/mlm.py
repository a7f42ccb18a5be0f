"""MLM lens: mask a word and decode the model's masked-LM head after every layer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viz.analysis import mlm
from viz.figures import lines as lines_fig
from viz.names import layer_name
from viz.trace import Trace
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, percent, plain, table, word_choices


def lens_table(result: mlm.LensResult) -> pd.DataFrame:
    rows = []
    for layer, (tokens, probs) in enumerate(zip(result.top_tokens, result.top_probs)):
        row = {"layer": layer_name(layer)}
        for k, (tok, p) in enumerate(zip(tokens, probs), start=1):
            row[f"#{k}"] = f"{tok} ({percent(p)})"
        rows.append(row)
    return pd.DataFrame(rows)


def render(t: Trace, key: TraceKey) -> None:
    encoder = get_encoder(key.model)
    if not t.facts.has_mlm_head:
        st.info(tr("mlm_unavailable", name=plain(t.facts.name)))
        return
    keep, labels = word_choices(t)
    c1, c2 = st.columns([3, 1])
    word = c1.selectbox(tr("mlm_word"), keep, key="mlm_word", format_func=lambda i: labels[i])
    k = c2.slider(tr("mlm_topk"), 3, 10, 5, key="mlm_k")
    masked = get_trace(key.masked(word))
    result = mlm.lens(
        encoder, masked, mlm.mask_position(masked, encoder.tokenizer.mask_token_id), k=k
    )
    st.caption(tr("mlm_help"))
    st.subheader(tr("mlm_table"))
    table(lens_table(result), hide_index=True, width="stretch")
    chart(
        lines_fig.by_layer(
            {result.final_token: result.final_rank.astype(float)},
            tr("mlm_rank", tok=plain(result.final_token)),
            tr("y_rank"),
            rank=True,
        ),
        key="mlm_rank",
    )
