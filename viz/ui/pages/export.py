"""Export & share: the whole trace (.npz), one layer's token embeddings and the head table
(CSV), the token table, and what a shared link carries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from viz.trace import Trace
from viz.ui import state
from viz.ui.i18n import tr
from viz.ui.pages.heads import head_table
from viz.ui.state import URL_TEXT_LIMIT, TraceKey
from viz.ui.widgets import csv_bytes, table

LAYER = state.widget("export_layer", link=state.NUMBER, clamp=state.layers_from(0))


def layer_csv(t: Trace, layer: int) -> bytes:
    """One row per token: its position, the token the model read, the label the page shows
    (银→[UNK] where the model read [UNK]), then the vector at ``layer``."""
    frame = pd.DataFrame(
        t.hidden_states[layer], columns=[f"d{i}" for i in range(t.facts.hidden_size)]
    )
    frame.insert(0, "shown as", list(t.display_tokens))
    frame.insert(0, "token", list(t.tokens))
    frame.insert(0, "position", np.arange(t.num_tokens))
    return csv_bytes(frame)


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    st.info(tr("share_help"))
    longest = max(len(key.text), len(key.pair or ""))
    if longest > URL_TEXT_LIMIT:
        st.warning(tr("share_too_long", n=longest, limit=URL_TEXT_LIMIT))
    st.download_button(
        tr("download_trace"),
        data=t.to_npz_bytes,
        file_name="trace.npz",
        mime="application/octet-stream",
        on_click="ignore",
    )
    layer = st.slider(tr("export_layer"), 0, f.num_layers, value=f.num_layers, key=LAYER)

    st.download_button(
        tr("download_layer", layer=layer),
        data=lambda: layer_csv(t, layer),
        file_name=f"layer{layer}_tokens.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.download_button(
        tr("download_heads"),
        data=lambda: csv_bytes(head_table(key)),
        file_name="heads.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.subheader(tr("tokens"))
    table(
        pd.DataFrame(
            {
                "token": list(t.tokens),
                "shown as": list(t.display_tokens),
                "id": t.token_ids,
                "word": t.word_ids,
                "segment": t.segment_ids,
                "special": t.special,
            }
        ),
        hide_index=True,
        width="stretch",
    )
