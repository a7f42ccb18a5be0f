"""Which layer should I use? A logistic-regression probe per layer and pooling on labelled
texts (a bundled sample or the user's CSV), and one layer's embeddings to download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from viz.analysis import probe as probing
from viz.extract import POOLINGS, pooled_embeddings
from viz.figures import lines as lines_fig
from viz.names import layer_name
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder
from viz.ui.i18n import labeller, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, csv_bytes, message, table

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SOURCES = ("sentiment", "topic", "upload")
SOURCE = state.widget("probe_source", translated=True, link=state.choice(SOURCES))
LAYER = state.widget("probe_layer", persist=True, clamp=state.layers_from(0))
POOLING = state.widget("probe_pooling", persist=True)
RESULT_OF = "_probe_result_of"  # the data (model and digest) the pickers were set for


@st.cache_data(max_entries=2, show_spinner=False)
def probe_results(model_name: str, digest: str, _data: probing.LabelledTexts):
    encoder = get_encoder(model_name)
    bar = st.progress(0.0)
    features = pooled_embeddings(
        encoder, _data.texts, POOLINGS, batch_size=32, progress=lambda p: bar.progress(0.5 * p)
    )
    scores = probing.probe_layers(
        features, _data.labels, progress=lambda p: bar.progress(0.5 + 0.5 * p)
    )
    bar.empty()
    return features, scores


def embeddings_csv(data: probing.LabelledTexts, vectors: np.ndarray) -> bytes:
    """One row per text: the text, its label, then its vector [D]."""
    frame = pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])
    frame.insert(0, "label", list(data.labels))
    frame.insert(0, "text", list(data.texts))
    return csv_bytes(frame)


def render(t: Trace, key: TraceKey) -> None:
    source = st.radio(
        tr("probe_data"),
        SOURCES,
        key=SOURCE,
        horizontal=True,
        format_func=labeller(lambda s: "probe_upload" if s == "upload" else f"probe_sample_{s}"),
    )
    if source == "upload":
        upload = st.file_uploader(tr("probe_file"), type=["csv", "txt"], key="probe_file")
        raw = upload.getvalue() if upload is not None else None
    else:
        raw = (SAMPLES / f"{source}.csv").read_bytes()
    if raw is None:
        st.info(tr("probe_start"))
        return
    try:
        data = probing.read_labelled_csv(raw)
    except ValueError as err:
        st.error(message(err))
        return
    digest = hashlib.sha256(raw).hexdigest()
    done_key = ("probe", key.model, digest)
    if not st.session_state.get(str(done_key)):
        slot = st.empty()
        with slot.container():
            st.info(tr("probe_start"))
            clicked = st.button(tr("probe_run"), type="primary", key="probe_run")
        if not clicked:
            return
        slot.empty()
        st.session_state[str(done_key)] = True
    n_models = len(POOLINGS) * (t.facts.num_layers + 1)
    with st.spinner(tr("probe_running", n=len(data.texts), m=n_models)):
        features, scores = probe_results(key.model, digest, data)
    top = probing.best(scores)
    if st.session_state.get(RESULT_OF) != (key.model, digest):  # new data: follow its result
        st.session_state.update(
            {RESULT_OF: (key.model, digest), LAYER: top.layer, POOLING: top.pooling}
        )
    series = {p: np.array([s.mean for s in scores if s.pooling == p]) for p in POOLINGS}
    errors = {p: np.array([s.std for s in scores if s.pooling == p]) for p in POOLINGS}
    chance = max(data.classes.values()) / len(data.texts)
    st.caption(tr("probe_help", folds=top.folds, chance=chance))
    chart(
        lines_fig.by_layer(
            series,
            tr("probe_title"),
            tr("y_accuracy"),
            errors=errors,
            best=(top.pooling, top.layer),
            best_name=tr("best"),
        ),
        key="probe_chart",
    )
    close = [
        f"{layer_name(s.layer)} ({s.pooling})"
        for s in sorted(scores, key=lambda s: -s.mean)
        if s is not top and s.mean >= top.mean - top.std
    ]
    st.success(
        tr(
            "probe_best",
            layer=top.layer,
            pooling=top.pooling,
            acc=top.mean,
            std=top.std,
            close=", ".join(close) or "-",
        )
    )
    c1, c2 = st.columns(2)
    layer = c1.number_input(tr("layer_emb"), 0, t.facts.num_layers, key=LAYER)
    pooling = c2.selectbox(tr("pooling"), POOLINGS, key=POOLING)

    st.download_button(
        tr("probe_download", layer=layer, pooling=pooling, n=len(data.texts)),
        data=lambda: embeddings_csv(data, features[pooling][:, layer]),
        file_name=f"layer{layer}_{pooling}.csv",
        mime="text/csv",
        on_click="ignore",
    )
    scores_frame = pd.DataFrame(
        [
            {
                "pooling": s.pooling,
                "layer": s.layer,
                "accuracy": round(s.mean, 4),
                "std": round(s.std, 4),
            }
            for s in scores
        ]
    )
    table(scores_frame, hide_index=True, width="stretch", height=240)
