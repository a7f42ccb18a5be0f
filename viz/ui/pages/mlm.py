"""MLM lens: mask a word and decode the model's masked-LM head after every layer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viz.analysis import mlm
from viz.figures import lines as lines_fig
from viz.lens import lens
from viz.names import layer_name
from viz.tokens import word_groups
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import tr
from viz.ui.model_picker import offer_mlm_models
from viz.ui.state import TraceKey
from viz.ui.widgets import (
    chart,
    masked_text,
    percent,
    plain,
    table,
    word_picker,
)

TOP_K = (3, 10)  # the slider's range; it starts at 5
WORD = state.widget("mlm_word", link=state.NUMBER)  # brought into the text's words on the page
TOP_K_KEY = state.widget("mlm_k", link=state.Codec(str, lambda text: top_k(int(text))))


def top_k(k: int) -> int:
    if not TOP_K[0] <= k <= TOP_K[1]:
        raise ValueError(k)  # a forged link: the slider starts at 5 instead
    return k


def lens_table(result: mlm.LensResult) -> pd.DataFrame:
    """One row per layer: the top predictions, then the masked word's rank at that layer."""
    rows = []
    for layer, (tokens, probs) in enumerate(zip(result.top_tokens, result.top_probs)):
        row = {"layer": layer_name(layer)}
        for k, (tok, p) in enumerate(zip(tokens, probs), start=1):
            row[f"#{k}"] = f"{tok} ({percent(p)})"
        if result.true_rank is not None:
            row["true_rank"] = int(result.true_rank[layer])
        rows.append(row)
    return pd.DataFrame(rows)


def rank_series(result: mlm.LensResult) -> dict[str, object]:
    """The ranks to draw, named: the last layer's answer and the masked word (one line when
    they are the same token)."""
    final = result.final_rank.astype(float)
    if result.true_rank is None:
        return {tr("mlm_final", tok=result.final_token): final}
    if result.true_id == result.final_id:
        return {tr("mlm_both", tok=result.final_token): final}
    return {
        tr("mlm_final", tok=result.final_token): final,
        tr("mlm_original", tok=result.true_token): result.true_rank.astype(float),
    }


def render(t: Trace, key: TraceKey) -> None:
    encoder = get_encoder(key.model)
    if not t.facts.has_mlm_head:
        st.info(tr("mlm_unavailable", name=plain(t.facts.name)))
        offer_mlm_models("model", t.facts.name)  # the sidebar's model box
        return
    c1, c2 = st.columns([3, 1])
    with c1:
        word = word_picker(tr("mlm_word"), t, WORD)
    st.session_state.setdefault(TOP_K_KEY, 5)
    k = c2.slider(tr("mlm_topk"), *TOP_K, key=TOP_K_KEY)
    tokenizer = encoder.tokenizer
    st.markdown(tr("mlm_masked", text=masked_text(t, word, tokenizer.mask_token)))
    masked = get_trace(key.masked(word))
    true_id = int(t.token_ids[word_groups(t.word_ids)[word][0]])  # its first piece
    result = lens(
        encoder, masked, mlm.mask_position(masked, tokenizer.mask_token_id), k=k, true_id=true_id
    )
    st.caption(tr("mlm_help"))
    st.subheader(tr("mlm_table"))
    table(lens_table(result), hide_index=True, width="stretch")
    chart(
        lines_fig.by_layer(rank_series(result), tr("mlm_rank"), tr("y_rank"), rank=True),
        key="mlm_rank",
    )
    st.caption(
        tr(
            "mlm_rank_help",
            true=plain(result.true_token),
            rank=int(result.true_rank[-1]),
            final=plain(result.final_token),
        )
    )
