"""Which layer should I use? A logistic-regression probe per layer and pooling on labelled
texts (a bundled sample or the user's CSV), and one layer's embeddings to download."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from viz import jobs
from viz.analysis import probe as probing
from viz.background import run_behind, worker
from viz.errors import UserError
from viz.extract import POOLINGS, token_counts
from viz.figures import corpus as corpus_fig
from viz.figures import lines as lines_fig
from viz.names import layer_name
from viz.trace import Trace
from viz.ui import model_picker, state
from viz.ui.cached import allow_pickle, allowed_models, get_encoder
from viz.ui.i18n import labeller, tr
from viz.ui.pages import corpus as corpus_page
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, csv_bytes, message, plain, table

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SOURCES = ("sentiment", "topic", "upload", "index")
SOURCE = state.widget("probe_source", translated=True, link=state.choice(SOURCES))
LAYER = state.widget("probe_layer", persist=True, clamp=state.layers_from(0))
POOLING = state.widget("probe_pooling", persist=True)
RESULT_OF = "_probe_result_of"  # the data (model and digest) the pickers were set for
MODEL = "model"  # the frame's model box (viz/ui/app.py), which a switch to a reader fills
# Tokens per forward pass, and so how often the worker reports progress and can be stopped:
# under 0.1 s of the bundled model on two cores (as fast a run as 512: at 128 the run takes
# half as long again).
BATCH_TOKENS = 256
# What a result may keep (its sentence vectors, every pooling and layer) decides how many rows
# one run reads: 5,000 for the bundled model (160 MB), about 2,000 for bert-base.
FEATURE_BYTES = 256 * 2**20
RESULTS_KEPT = 2  # probe results shared by all sessions
UNKNOWN_EXAMPLES = 20  # texts with [UNK] tokens shown to the local models to find a reader


@st.cache_data(max_entries=4, show_spinner=False)
def parsed(digest: str, _raw: bytes) -> tuple[probing.LabelledTexts | None, tuple | None]:
    """The file's texts and labels, or the (code, parameters) of why it was refused: a refusal
    is cached too, so a rerun does not read a refused file again."""
    try:
        return probing.read_labelled_csv(_raw), None
    except UserError as err:
        return None, (err.code, err.params)


@dataclass(frozen=True)
class Plan:
    """What a probe run reads of the data, from the tokenizer alone (no model)."""

    rows: np.ndarray  # [n] indexes of the texts read
    lengths: np.ndarray  # [n] their tokens, cut at probing.TEXT_TOKENS
    total_rows: int
    total_tokens: int  # of every row, each cut at probing.TEXT_TOKENS
    max_rows: int  # rows one run may read with this model (FEATURE_BYTES)
    cut: int  # texts longer than probing.TEXT_TOKENS
    unknown: int  # tokens read as the unknown token, over the whole texts
    real: int  # tokens other than the special ones, over the whole texts
    unk: str
    unknown_texts: str  # some of the texts with unknown tokens, one per line


@st.cache_data(max_entries=4, show_spinner=False)
def plan_run(model_name: str, digest: str, _data: probing.LabelledTexts) -> Plan:
    encoder = get_encoder(model_name)
    lengths, unknown = token_counts(encoder, _data.texts)
    cut = np.minimum(lengths, probing.TEXT_TOKENS)
    f = encoder.facts
    per_row = len(POOLINGS) * (f.num_layers + 1) * f.hidden_size * 4
    max_rows = min(probing.MAX_ROWS, FEATURE_BYTES // per_row)
    rows = probing.within_budget(_data.labels, cut, probing.TOKEN_BUDGET, max_rows=max_rows)
    specials = encoder.tokenizer.num_special_tokens_to_add()
    with_unknown = np.flatnonzero(unknown)[:UNKNOWN_EXAMPLES]
    return Plan(
        rows=rows,
        lengths=cut[rows],
        total_rows=len(_data.texts),
        total_tokens=int(cut.sum()),
        max_rows=max_rows,
        cut=int((lengths > probing.TEXT_TOKENS).sum()),
        unknown=int(unknown.sum()),
        real=int(lengths.sum()) - specials * len(lengths),
        unk=getattr(encoder.tokenizer, "unk_token", None) or "",
        unknown_texts="\n".join(_data.texts[i] for i in with_unknown),
    )


# Shared by every session without a copy (st.cache_data would unpickle the vectors, 160 MB for
# the largest upload, on every rerun of every session that shows them); read-only arrays.
@st.cache_resource(max_entries=RESULTS_KEPT, show_spinner=False)
def probe_results(model_name: str, digest: str, _data: probing.LabelledTexts, _lengths):
    # In the worker process at a lower OS priority: other sessions' pages go first, and the
    # probe's Python work does not hold the server's GIL (viz.background.Worker).
    bar = st.progress(0.0)
    features, scores = worker().run(
        jobs.probe_texts,
        model_name,
        allow_pickle(),
        list(_data.texts),
        list(_data.labels),
        np.asarray(_lengths),
        probing.TEXT_TOKENS,
        BATCH_TOKENS,
        progress=bar.progress,
    )
    for array in features.values():
        array.setflags(write=False)
    bar.empty()
    return features, scores


def embeddings_csv(data: probing.LabelledTexts, vectors: np.ndarray) -> bytes:
    """One row per text: the text, its label, then its vector [D]."""
    frame = pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])
    frame.insert(0, "label", list(data.labels))
    frame.insert(0, "text", list(data.texts))
    return csv_bytes(frame)


def read_upload() -> bytes | None:
    """The uploaded file's bytes, or None (nothing uploaded, or refused by its size before it is
    read: the page says why)."""
    upload = st.file_uploader(
        tr("probe_file"),
        type=["csv", "txt"],
        key="probe_file",
        max_upload_size=probing.MAX_UPLOAD_MB,
    )
    if upload is None:
        st.info(tr("probe_start"))
        return None
    try:
        probing.check_size(upload.size)
    except UserError as err:
        st.error(message(err))
        return None
    return upload.getvalue()


def plan_notices(plan: Plan, model_name: str) -> None:
    """What the page says about the data before a run: texts cut, rows sampled, [UNK]."""
    if plan.cut:
        st.info(tr("probe_cut", n=plan.cut, total=plan.total_rows, max=probing.TEXT_TOKENS))
    if len(plan.rows) < plan.total_rows:
        st.warning(
            tr(
                "probe_sampled",
                budget=probing.TOKEN_BUDGET,
                limit=plan.max_rows,
                tokens=plan.total_tokens,
                max=probing.TEXT_TOKENS,
                total=plan.total_rows,
                n=len(plan.rows),
            )
        )
    if plan.unknown:
        st.warning(tr("probe_unknown", n=plan.unknown, total=plan.real, unk=plain(plan.unk)))
        allowed = allowed_models()
        better = [
            m
            for m in model_picker.readers(model_picker.local_models(), plan.unknown_texts)
            if m.name != model_name and (not allowed or m.name in allowed)
        ]
        if better:
            st.button(
                tr("switch_to", model=better[0].name),
                key="probe_switch_reader",
                on_click=model_picker.switch_to,
                args=(MODEL, better[0].name),
            )
        else:
            st.caption(tr("probe_no_reader") + " " + tr("models_offline_help"))


@dataclass(frozen=True)
class IndexData:
    """The labelled lines of an index that a probe reads, or why there are none."""

    rows: np.ndarray  # [n] lines read
    labels: tuple[str, ...]
    labelled: int  # lines with a label of a class large enough to split
    rare: tuple[str, ...]  # labels left out: fewer than probing.MIN_PER_LABEL lines
    rare_lines: int
    classes: dict[str, int]  # of the lines read


def run_pressed(done_key: tuple, button: str) -> bool:
    """True once the run button was pressed for ``done_key`` (the data and model): until then
    the page shows the button and what pressing it does; afterwards reruns go straight on."""
    if st.session_state.get(str(done_key)):
        return True
    slot = st.empty()
    with slot.container():
        st.info(tr("probe_start"))
        clicked = st.button(tr("probe_run"), type="primary", key=button)
    if not clicked:
        return False
    slot.empty()
    st.session_state[str(done_key)] = True
    return True


def index_rows(labels: list[str], texts: list[str], max_rows: int) -> IndexData:
    """The lines of an index a probe reads: labelled, not blank, of a label with enough lines
    to split; at most ``max_rows`` of them, a seeded sample that keeps each label's share."""
    usable = [i for i, (lab, txt) in enumerate(zip(labels, texts)) if lab and txt.strip()]
    counts: dict[str, int] = {}
    for i in usable:
        counts[labels[i]] = counts.get(labels[i], 0) + 1
    rare = tuple(lab for lab, n in counts.items() if n < probing.MIN_PER_LABEL)
    kept = np.array([i for i in usable if labels[i] not in rare], np.int64)
    picked = probing.within_budget(
        [labels[i] for i in kept], np.ones(len(kept)), budget=len(kept), max_rows=max_rows
    )
    rows = kept[picked] if len(kept) else kept
    classes: dict[str, int] = {}
    for i in rows:
        classes[labels[i]] = classes.get(labels[i], 0) + 1
    return IndexData(
        rows=rows,
        labels=tuple(labels[i] for i in rows),
        labelled=len(kept),
        rare=rare,
        rare_lines=sum(counts[lab] for lab in rare),
        classes=classes,
    )


def index_features(index, rows: np.ndarray) -> np.ndarray:
    """[n, K, D] the stored mean-pooled vectors of ``rows`` at every layer of the index."""
    return np.stack([index.line_vectors(layer)[rows] for layer in index.layers], axis=1)


@st.cache_resource(max_entries=RESULTS_KEPT, show_spinner=False)
def index_probe(folder: str, stamp: float, _index, _data: IndexData):
    """Per layer of the index (in its order), the probe's scores on its stored line vectors."""
    bar = st.progress(0.0)

    def work(report):
        features = {"mean": index_features(_index, _data.rows)}
        return probing.probe_layers(features, _data.labels, progress=report)

    scores = run_behind(work, progress=bar.progress)
    bar.empty()
    return scores


def render_index(t: Trace, key: TraceKey) -> None:
    """The probe on the labels of a corpus index, at each of its layers, from the vectors it
    stores (the Corpus page's choice of index, shared with it)."""
    st.caption(tr("probe_index_help"))
    index = corpus_page.choose_index(key)
    if index is None:
        return
    folder = str(index.folder)
    stamp = corpus_page.index_stamp(folder)
    m = index.manifest
    st.caption(
        tr("corpus_about", lines=m["lines"], tokens=m["tokens"], words=m["words"], folder=folder)
    )
    if not index.manifest.get("labels"):
        st.info(tr("probe_index_no_labels"))
        return
    f = t.facts
    max_rows = min(probing.MAX_ROWS, FEATURE_BYTES // (len(index.layers) * f.hidden_size * 4))
    data = index_rows(index.labels(), index.texts(), max_rows)
    if data.rare:
        st.info(
            tr(
                "probe_index_rare",
                n=data.rare_lines,
                need=probing.MIN_PER_LABEL,
                labels=", ".join(map(repr, data.rare[:5])),
            )
        )
    if len(data.classes) < 2:
        shown = ", ".join(f"{lab!r}: {n}" for lab, n in list(data.classes.items())[:5])
        st.info(tr("probe_index_one_class", need=probing.MIN_PER_LABEL, classes=shown or "-"))
        return
    if len(data.rows) < data.labelled:
        st.info(tr("probe_index_sampled", n=len(data.rows), total=data.labelled))
    if not run_pressed(("probe_index", folder, stamp), "probe_index_run"):
        return
    with st.spinner(tr("probe_index_running", n=len(data.rows), m=len(index.layers))):
        scores = index_probe(folder, stamp, index, data)
    top = probing.best(scores)
    layers = index.layers
    chance = max(data.classes.values()) / len(data.rows)
    st.caption(tr("probe_index_help_chart", folds=top.folds, chance=chance))
    chart(
        corpus_fig.probe_by_layer(
            [layer_name(ly) for ly in layers],
            np.array([s.mean for s in scores]),
            np.array([s.std for s in scores]),
            top.layer,
            tr("probe_title"),
            tr("y_accuracy"),
            "mean",
            tr("best"),
            chance=chance,
            chance_name=tr("probe_chance"),
        ),
        key="probe_index_chart",
    )
    close = [
        layer_name(layers[s.layer])
        for s in sorted(scores, key=lambda s: -s.mean)
        if s is not top and s.mean >= top.mean - top.std
    ]
    st.success(
        tr(
            "probe_index_best",
            layer=layer_name(layers[top.layer]),
            acc=top.mean,
            std=top.std,
            close=", ".join(close) or "-",
        )
    )
    table(
        pd.DataFrame(
            [
                {
                    "layer": layer_name(layers[s.layer]),
                    "accuracy": round(s.mean, 4),
                    "std": round(s.std, 4),
                }
                for s in scores
            ]
        ),
        hide_index=True,
        width="stretch",
        height=min(400, 35 * (len(scores) + 1) + 3),  # every layer without a scroll bar
    )


def render(t: Trace, key: TraceKey) -> None:
    source = st.radio(
        tr("probe_data"),
        SOURCES,
        key=SOURCE,
        horizontal=True,
        format_func=labeller(lambda s: "probe_upload" if s == "upload" else f"probe_sample_{s}"),
    )
    if source == "index":
        render_index(t, key)
        return
    if source == "upload":
        raw = read_upload()
    else:
        raw = (SAMPLES / f"{source}.csv").read_bytes()
    if raw is None:
        return
    digest = hashlib.sha256(raw).hexdigest()
    whole, refused = parsed(digest, raw)
    if refused:
        st.error(message(UserError(refused[0], **refused[1])))
        return
    with st.spinner(tr("probe_counting", n=len(whole.texts))):
        plan = plan_run(key.model, digest, whole)
    plan_notices(plan, key.model)
    data = whole.subset(plan.rows)
    worker().start()  # its imports go on while the user reads the notices
    if not run_pressed(("probe", key.model, digest), "probe_run"):
        return
    n_models = len(POOLINGS) * (t.facts.num_layers + 1)
    with st.spinner(tr("probe_running", n=len(data.texts), m=n_models)):
        features, scores = probe_results(key.model, digest, data, plan.lengths)
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
        tr(
            "probe_download" if len(data.texts) == plan.total_rows else "probe_download_sample",
            layer=layer,
            pooling=pooling,
            n=len(data.texts),
        ),
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
