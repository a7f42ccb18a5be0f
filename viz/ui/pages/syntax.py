"""Syntax: which heads follow which dependency relation (Clark et al. 2019) and which layer knows
parts of speech, entities and dependency labels (Tenney et al. 2019), on this sentence, the
bundled English sentences or the user's own. This sentence's parse and a head's strongest arcs
show at once; scoring many sentences runs on a button press, cached."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from viz.errors import UserError
from viz.figures import heads as heads_fig
from viz.figures import lines as lines_fig
from viz.figures import syntax as syntax_fig
from viz.names import head_name
from viz.syntax import heads as syntax_heads
from viz.syntax.annotate import Annotation, align, annotate
from viz.syntax.probe_tokens import TASKS, TENNEY_EXPECTED, TENNEY_LAYERS, TokenProbe
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import has, labeller, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import (
    chart,
    clicked_head,
    figure_words,
    layer_head_controls,
    message,
    open_head,
    table,
)

SOURCES = ("bundled", "sentence", "mine")
SOURCE = state.widget("syntax_source", translated=True, link=state.choice(SOURCES))
MINE = state.widget("syntax_mine", persist=True)
RELATION = state.widget("syntax_relation", persist=True)
TASK = state.widget("syntax_task", translated=True, link=state.choice(TASKS))
MAP = "syntax_map"
RESULTS_KEPT = 8


@st.cache_data(max_entries=64, show_spinner=False)
def sentence_view(key: TraceKey) -> tuple[Annotation, np.ndarray] | tuple[None, tuple]:
    """This sentence's annotation and each token's word, or the refusal (code, params)."""
    t = get_trace(key)
    try:
        ann = annotate(t.text)
    except UserError as err:
        return None, (err.code, err.params)
    return ann, align(ann.words, t.offsets, t.special, t.segment_ids)


def this_sentence(t: Trace, key: TraceKey) -> None:
    st.subheader(tr("syntax_sentence_header"))
    ann, aligned = sentence_view(key)
    if ann is None:
        st.info(message(UserError(aligned[0], **aligned[1])))
        return
    st.caption(tr("syntax_annotator", name=ann.annotator))
    if not ann.has_parse:
        st.info(tr("syntax_no_parse_here"))
    layer, head = layer_head_controls(t)
    keep, parse, head_arcs = syntax_heads.one_head_arcs(t.attentions[layer, head], ann, aligned)
    if len(keep) < 2:
        st.info(tr("syntax_too_short"))
        return
    legend = (tr("syntax_legend_parse"), tr("syntax_legend_match"), tr("syntax_legend_miss"))
    words = [ann.words[w].text for w in keep]
    tags = [ann.words[w].pos for w in keep]
    name = head_name(layer + 1, head + 1)
    title = "syntax_arcs_title" if ann.has_parse else "syntax_arcs_title_words"
    chart(
        syntax_fig.arcs(
            words, tags, parse, head_arcs, tr(title, head=name), legend, pos_names(tags)
        ),
        key="syntax_arcs",
    )
    if parse:
        hits = sum(1 for d, g, _ in parse if head_arcs[d][1] == g)
        st.caption(tr("syntax_arcs_help", hits=hits, n=len(parse), head=name))
    st.button(
        tr("syntax_open", head=name),
        key="syntax_open",
        on_click=open_head,
        args=(layer + 1, head + 1),
    )


def chosen_sentences(t: Trace) -> list[str] | None:
    from viz.syntax.run import bundled_sentences

    source = st.radio(
        tr("syntax_source"),
        SOURCES,
        key=SOURCE,
        horizontal=True,
        format_func=labeller(lambda s: f"syntax_source_{s}"),
    )
    if source == "bundled":
        return bundled_sentences()
    if source == "sentence":
        return [t.text]
    st.text_area(tr("syntax_mine"), key=MINE, height=140)
    lines = [x.strip() for x in st.session_state.get(MINE, "").splitlines() if x.strip()]
    return lines or None


@st.cache_resource(max_entries=RESULTS_KEPT, show_spinner=False)
def head_scores(model: str, digest: str, _texts: tuple[str, ...]):
    from viz.syntax.run import syntax_heads as run_heads

    bar = st.progress(0.0)
    try:
        return run_heads(get_encoder(model), _texts, progress=bar.progress)
    finally:
        bar.empty()


@st.cache_resource(max_entries=RESULTS_KEPT, show_spinner=False)
def probe_scores(model: str, digest: str, task: str, _texts: tuple[str, ...]) -> TokenProbe:
    from viz.syntax.run import token_probe

    bar = st.progress(0.0)
    try:
        return token_probe(get_encoder(model), _texts, task, progress=bar.progress)
    finally:
        bar.empty()


def on_map_click() -> None:
    if (picked := clicked_head(MAP)) is not None:
        open_head(*picked)


def ran(name: str, done_key: tuple, label: str) -> bool:
    """Whether the user asked for this computation (a button press, remembered per input)."""
    if st.session_state.get(str(done_key)):
        return True
    if st.button(label, type="primary", key=name):
        st.session_state[str(done_key)] = True
        return True
    return False


def digest_of(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def heads_section(t: Trace, key: TraceKey, texts: list[str]) -> None:
    st.subheader(tr("syntax_heads_header"))
    digest = digest_of(texts)
    if not ran("syntax_run", ("syntax", key.model, digest), tr("syntax_run", n=len(texts))):
        st.caption(tr("syntax_start"))
        return
    try:
        with st.spinner(tr("syntax_running", n=len(texts))):
            scores, counter = head_scores(key.model, digest, tuple(texts))
    except UserError as err:
        st.info(message(err))
        return
    if not scores:
        st.info(tr("syntax_no_arcs"))
        return
    rows = pd.DataFrame(syntax_heads.as_rows(scores))
    rows = rows.rename(columns={"baseline_offset": "offset"})
    st.caption(tr("syntax_heads_help", n=counter.sentences, skipped=counter.skipped))
    table(rows, hide_index=True, width="stretch", height=min(420, 36 * len(rows) + 40))
    by_name = {s.relation: s for s in scores}
    if st.session_state.get(RELATION) not in by_name:
        st.session_state[RELATION] = scores[0].relation
    relation = st.selectbox(tr("syntax_relation"), list(by_name), key=RELATION)
    s = by_name[relation]
    title = tr(
        "syntax_map_title",
        rel=relation,
        head=s.best_head,
        acc=s.best_accuracy,
        base=s.baseline,
        offset=s.baseline_offset,
    )
    chart(
        heads_fig.head_grid(s.accuracy, title, tr("col_accuracy"), figure_words()),
        key=MAP,
        on_select=on_map_click,
        selection_mode="points",
    )
    st.caption(tr("syntax_map_help"))


def probe_section(t: Trace, key: TraceKey, texts: list[str]) -> None:
    st.subheader(tr("syntax_probe_header"))
    task = st.radio(
        tr("syntax_task"),
        TASKS,
        key=TASK,
        horizontal=True,
        format_func=labeller(lambda x: f"syntax_task_{x}"),
    )
    digest = digest_of(texts)
    label = tr("syntax_probe_run", m=t.facts.num_layers + 1)
    if not ran("syntax_probe_run", ("syntax_probe", key.model, digest, task), label):
        st.caption(tr("syntax_probe_start"))
        return
    try:
        with st.spinner(tr("syntax_probe_running", n=len(texts))):
            probe = probe_scores(key.model, digest, task, tuple(texts))
    except UserError as err:
        st.info(message(err))
        return
    means = np.array([s.mean for s in probe.scores])
    series = {
        tr("syntax_probe_series"): means,
        tr("syntax_majority", label=probe.majority_label): np.full(len(means), probe.majority),
    }
    errors = {tr("syntax_probe_series"): np.array([s.std for s in probe.scores])}
    top = probe.best
    chart(
        lines_fig.by_layer(
            series,
            tr("syntax_probe_title", task=tr(f"syntax_task_{task}")),
            tr("y_accuracy"),
            errors=errors,
            best=(tr("syntax_probe_series"), top.layer),
            best_name=tr("best"),
        ),
        key="syntax_probe_chart",
    )
    st.caption(
        tr(
            "syntax_probe_help",
            words=probe.words,
            labels=probe.labels,
            majority=probe.majority,
            emb=probe.embedding,
            best=top.layer,
            acc=top.mean,
            expected=probe.expected_layer,
            tenney=probe.tenney_layer,
            paper=TENNEY_EXPECTED[task],
            share=TENNEY_EXPECTED[task] / TENNEY_LAYERS,
            layers=t.facts.num_layers,
            folds=top.folds,
        )
    )


def pos_names(tags: list[str]) -> dict[str, str]:
    """The legend's name of each part of speech: its catalogue name where it is a Universal
    POS tag, else the tag as the annotator gave it."""
    return {tag: tr(f"pos_{tag}") for tag in set(tags) if has(f"pos_{tag}")}


def render(t: Trace, key: TraceKey) -> None:
    st.caption(tr("syntax_intro"))
    this_sentence(t, key)
    st.divider()
    texts = chosen_sentences(t)
    if texts is None:
        st.info(tr("syntax_mine_empty"))
        return
    heads_section(t, key, texts)
    st.divider()
    probe_section(t, key, texts)
