"""The page: sidebar inputs, caching, and the order of the views. All computing lives in viz/."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.capture import trace
from viz.models import DEFAULT_MODEL, ModelLoadError, load_encoder
from viz.trace import Trace

st.set_page_config(page_title="BERT layer explorer", layout="wide")


@st.cache_resource(show_spinner="Loading the model (once per server)...", max_entries=3)
def get_encoder(name: str):
    return load_encoder(name)


@st.cache_data(max_entries=64, show_spinner="Running the encoder...")
def get_trace(model_name: str, text: str, pair: str | None) -> Trace:
    return trace(get_encoder(model_name), text, pair)


with st.sidebar:
    text = st.text_area("Sentence", "The bank by the river flooded, so the bank closed early.")
    pair = st.text_input("Second sentence (optional)", "") or None
    model_name = st.text_input("Model (Hugging Face id or local folder)", DEFAULT_MODEL)

try:
    result = get_trace(model_name.strip(), text, pair)
except (ModelLoadError, ValueError) as err:
    st.error(str(err))
    st.stop()

f = result.facts
st.caption(f"{f.name} ({f.model_type}): {f.num_layers} layers x {f.num_heads} heads, "
           f"hidden {f.hidden_size}; {result.num_tokens} tokens")
if result.dropped_tokens:
    st.warning(f"The input was cut to {f.max_tokens} tokens: {result.dropped_tokens} dropped.")
layer = st.slider("Layer", 1, f.num_layers, 1) - 1
head = st.slider("Head", 1, f.num_heads, 1) - 1
labels = list(result.display_tokens)
positions = np.arange(result.num_tokens)
fig = go.Figure(go.Heatmap(z=result.attentions[layer, head], x=positions, y=positions,
                           colorscale="Blues", zmin=0, zmax=1))
fig.update_xaxes(tickvals=positions, ticktext=labels)
fig.update_yaxes(tickvals=positions, ticktext=labels, autorange="reversed")
st.plotly_chart(fig)
st.dataframe(pd.DataFrame({"token": labels, "id": result.token_ids, "word": result.word_ids,
                           "segment": result.segment_ids}))
