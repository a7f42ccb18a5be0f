"""The page: sidebar inputs, URL state, caching, and the order of the views.

Everything that computes lives in ``viz/`` (pure functions); this file lays out, remembers and
caches. User text is only ever shown through widgets, ``st.text``/``st.code``, dataframes and
escaped Plotly labels, never as Markdown or HTML.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import streamlit as st

from viz import capture
from viz.analysis import attention as attn
from viz.analysis import heads as head_stats
from viz.analysis import layers as layer_stats
from viz.analysis.projection import METHODS, project_layers
from viz.cache import BoundedCache
from viz.figures import attention as attention_fig
from viz.figures import heads as heads_fig
from viz.figures import layers as layers_fig
from viz.figures import projection as projection_fig
from viz.i18n import EXAMPLES, LANGUAGES, tr
from viz.models import DEFAULT_MODEL, ModelLoadError, load_encoder
from viz.trace import Trace

VIEWS = ("attention", "layers", "embeddings", "heads", "export")
HEAD_VIEW_MAX_TOKENS = 128
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>$~:")
URL_TEXT_LIMIT = 2000  # longer texts are not put in the address
TRACE_CACHE_BYTES = int(os.environ.get("VIZ_TRACE_CACHE_MB", "512")) * 2**20
ALLOW_PICKLE = os.environ.get("VIZ_ALLOW_PICKLE", "0") == "1"

st.set_page_config(page_title="BERT layer explorer", page_icon="🔎", layout="wide")


# ---------------------------------------------------------------- caching (shared by sessions)
@st.cache_resource(max_entries=2, show_spinner=False)
def get_encoder(name: str):
    return load_encoder(name, allow_pickle=ALLOW_PICKLE)


@st.cache_resource(show_spinner=False)
def trace_cache() -> BoundedCache[Trace]:
    return BoundedCache(TRACE_CACHE_BYTES, size_of=lambda t: t.nbytes)


def get_trace(model_name: str, text: str, pair: str | None) -> Trace:
    """One forward pass per (model, text, pair) per process, within the cache's byte bound."""
    encoder = get_encoder(model_name)
    value, _ = trace_cache().get_or_compute(
        (model_name, text, pair), lambda: capture.trace(encoder, text, pair)
    )
    return value


@st.cache_data(max_entries=64, show_spinner=False)
def layer_analyses(key: tuple, _t: Trace) -> dict[str, np.ndarray]:
    return {
        "cka": layer_stats.cka_matrix(_t.hidden_states),
        "cos": layer_stats.cosine_matrix(_t.hidden_states),
        "change": layer_stats.token_change(_t.hidden_states),
        "norms": layer_stats.norms(_t.hidden_states),
        "contrib": layer_stats.contributions(_t.hidden_states, _t.attn_outputs, _t.ffn_outputs),
    }


@st.cache_data(max_entries=64, show_spinner=False)
def head_table(key: tuple, _t: Trace) -> pd.DataFrame:
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
def head_distances(key: tuple, _t: Trace) -> tuple[np.ndarray, np.ndarray]:
    distance = head_stats.js_distance_matrix(_t.attentions)
    return distance, head_stats.cluster_order(distance)


@st.cache_data(max_entries=64, show_spinner=False)
def projection(key: tuple, _t: Trace, layers: tuple[int, ...], method: str):
    return project_layers(_t.hidden_states, list(layers), method)


# ---------------------------------------------------------------- state <-> address
def init_state() -> None:
    """First run of a session: take model, text, view, layer and head from the address."""
    if st.session_state.get("_initialised"):
        return
    q = st.query_params
    st.session_state.update(
        lang=q.get("lang", "en") if q.get("lang") in LANGUAGES else "en",
        text=q.get("text", EXAMPLES[0]),
        pair=q.get("pair", ""),
        model=q.get("model", DEFAULT_MODEL),
        view=q.get("view") if q.get("view") in VIEWS else "attention",
        layer=_int(q.get("layer"), 1),
        head=_int(q.get("head"), 1),
        _initialised=True,
    )


def plain(text: str) -> str:
    """Escape Markdown (and LaTeX/HTML-looking) characters so user text shows as typed."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in text)


# Streamlit forgets a widget's value when a run does not draw it (an error page, another view);
# these survive such runs.
KEPT = (
    "layer",
    "head",
    "average",
    "hide_special",
    "merge",
    "proj_method",
    "proj_scope",
    "proj_color",
    "proj_layer",
    "left_layer",
    "right_layer",
    "export_layer",
)


def restore_kept() -> None:
    for key in KEPT:
        if key not in st.session_state and f"_kept_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"_kept_{key}"]


def keep() -> None:
    for key in KEPT:
        if key in st.session_state:
            st.session_state[f"_kept_{key}"] = st.session_state[key]


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except ValueError:
        return default


def write_address() -> None:
    keep()
    s = st.session_state
    params = {
        "model": s.model,
        "view": s.view,
        "layer": str(s.layer),
        "head": str(s.head),
        "lang": s.lang,
    }
    if len(s.text) <= URL_TEXT_LIMIT:
        params["text"] = s.text
    if s.pair and len(s.pair) <= URL_TEXT_LIMIT:
        params["pair"] = s.pair
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)


def use_example() -> None:
    choice = st.session_state.get("example_pick")
    if choice in EXAMPLES:
        st.session_state.text = choice


def open_head(layer: int, head: int) -> None:
    st.session_state.update(layer=layer, head=head, view="attention")


def on_model_view_click() -> None:
    points = st.session_state["model_view"].selection.points
    if points and "customdata" in points[0]:
        layer, head = points[0]["customdata"][:2]
        st.session_state.update(layer=int(layer), head=int(head), average=False)


def on_head_row() -> None:
    rows = st.session_state["head_table"].selection.rows
    frame = st.session_state.get("_head_frame")
    if rows and frame is not None:
        row = frame.iloc[rows[0]]
        open_head(int(row["layer"]), int(row["head"]))


# ---------------------------------------------------------------- views
def chart(fig, key: str | None = None, **kwargs) -> object:
    fmt = st.session_state.get("image_format", "png")
    config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2}}
    return st.plotly_chart(fig, config=config, key=key, width="stretch", **kwargs)


def layer_head_controls(t: Trace, lang: str, with_head: bool = True) -> tuple[int, int]:
    f = t.facts
    cols = st.columns([3, 3, 2, 2, 2]) if with_head else st.columns([3, 3])
    with cols[0]:
        st.slider(tr("layer", lang), 1, f.num_layers, key="layer")
    if with_head:
        with cols[1]:
            st.slider(
                tr("head", lang),
                1,
                f.num_heads,
                key="head",
                disabled=st.session_state.get("average", False),
            )
    return st.session_state.layer - 1, st.session_state.head - 1


def view_attention(t: Trace, key: tuple, lang: str) -> None:
    c1, c2, c3 = st.columns(3)
    average = c1.checkbox(tr("average_heads", lang), key="average")
    hide = c2.checkbox(tr("hide_special", lang), key="hide_special")
    merge = c3.checkbox(tr("merge_subwords", lang), key="merge")
    layer, head = layer_head_controls(t, lang)
    matrix = t.attentions[layer].mean(axis=0) if average else t.attentions[layer, head]
    matrix, labels, positions = attn.prepare(
        matrix, t.display_tokens, t.special, t.word_ids, hide_special=hide, merge_subwords=merge
    )
    head_name = tr("all_heads", lang) if average else tr("head_n", lang, n=head + 1)
    st.caption(tr("attention_help", lang))
    chart(
        attention_fig.heatmap(
            matrix, labels, positions, tr("attention_title", lang, layer=layer + 1, head=head_name)
        ),
        key="attention_heatmap",
    )
    st.caption(tr("model_view_help", lang))
    chart(
        attention_fig.model_view(
            t.attentions, tr("model_view", lang), selected=None if average else (layer, head)
        ),
        key="model_view",
        on_select=on_model_view_click,
        selection_mode="points",
    )
    st.subheader(tr("head_view", lang))
    if len(labels) > HEAD_VIEW_MAX_TOKENS:
        st.info(tr("head_view_long", lang, n=HEAD_VIEW_MAX_TOKENS, t=len(labels)))
    else:
        chart(
            attention_fig.head_view(
                matrix, labels, f"{tr('layer', lang)} {layer + 1}, {head_name}"
            ),
            key="head_view",
        )


def view_layers(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    results = layer_analyses(key, t)
    st.subheader(tr("compare_two", lang))
    c1, c2, c3 = st.columns([2, 2, 3])
    left = c1.number_input(tr("left_layer", lang), 1, f.num_layers, value=1, key="left_layer")
    right = c2.number_input(
        tr("right_layer", lang), 1, f.num_layers, value=f.num_layers, key="right_layer"
    )
    c3.slider(tr("head", lang), 1, f.num_heads, key="head")
    head = st.session_state.head - 1
    labels = list(t.display_tokens)
    chart(
        layers_fig.side_by_side(
            t.attentions[left - 1, head],
            t.attentions[right - 1, head],
            labels,
            (f"{tr('layer', lang)} {left}", f"{tr('layer', lang)} {right}"),
            f"{tr('head_n', lang, n=head + 1)}",
        ),
        key="side_by_side",
    )
    st.caption(tr("similarity_help", lang))
    c1, c2 = st.columns(2)
    with c1:
        chart(layers_fig.similarity(results["cka"], tr("cka_title", lang), "CKA"), key="cka")
    with c2:
        chart(layers_fig.similarity(results["cos"], tr("cos_title", lang), "cos"), key="cos")
    chart(
        layers_fig.token_change(results["change"], labels, tr("change_title", lang)),
        key="token_change",
    )
    c1, c2 = st.columns(2)
    with c1:
        chart(
            layers_fig.norms_by_layer(results["norms"], labels, tr("norms_title", lang)),
            key="norms",
        )
    with c2:
        chart(
            layers_fig.contributions(
                results["contrib"],
                (tr("contrib_attn", lang), tr("contrib_ffn", lang)),
                tr("contrib_title", lang),
            ),
            key="contrib",
        )
        st.caption(tr("contrib_help", lang))


def view_embeddings(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    c1, c2, c3 = st.columns(3)
    method = c1.radio(tr("method", lang), METHODS, horizontal=True, key="proj_method")
    scope = c2.radio(
        tr("which_layers", lang),
        ("all", "one"),
        horizontal=True,
        key="proj_scope",
        format_func=lambda s: tr("all_layers" if s == "all" else "one_layer", lang),
    )
    color = c3.radio(
        tr("color_by", lang),
        ("layer", "token"),
        horizontal=True,
        key="proj_color",
        format_func=lambda s: tr(f"color_{s}", lang),
    )
    if scope == "one":
        st.slider(
            tr("layer", lang) + " (0 = emb)",
            0,
            f.num_layers,
            key="proj_layer",
            value=min(st.session_state.layer, f.num_layers),
        )
        layers = (st.session_state.proj_layer,)
    else:
        layers = tuple(range(f.num_layers + 1))
    st.caption(tr("projection_help", lang))
    with st.spinner(tr("projecting", lang)):
        proj = projection(key, t, layers, method)
    axes = ("PC 1", "PC 2") if method == "PCA" else ("t-SNE 1", "t-SNE 2")
    chart(
        projection_fig.token_paths(
            proj, list(t.display_tokens), list(layers), color, tr("projection_title", lang), axes
        ),
        key="projection",
    )


def view_heads(t: Trace, key: tuple, lang: str) -> None:
    frame = head_table(key, t)
    st.session_state["_head_frame"] = frame
    st.subheader(tr("heads_table", lang))
    st.caption(tr("heads_help", lang))
    st.dataframe(
        frame,
        key="head_table",
        on_select=on_head_row,
        selection_mode="single-row",
        hide_index=True,
        height=360,
        width="stretch",
    )
    distance, order = head_distances(key, t)
    chart(
        heads_fig.head_similarity(distance, order, t.facts.num_heads, tr("heads_similarity", lang)),
        key="head_similarity",
    )


def view_export(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    st.info(tr("share_help", lang))
    st.download_button(
        tr("download_trace", lang),
        data=t.to_npz_bytes,
        file_name="trace.npz",
        mime="application/octet-stream",
        on_click="ignore",
    )
    layer = st.slider(
        tr("export_layer", lang), 0, f.num_layers, value=f.num_layers, key="export_layer"
    )

    def layer_csv() -> bytes:
        frame = pd.DataFrame(
            t.hidden_states[layer], columns=[f"d{i}" for i in range(f.hidden_size)]
        )
        frame.insert(0, "token", list(t.tokens))
        frame.insert(0, "position", np.arange(t.num_tokens))
        return frame.to_csv(index=False).encode("utf-8")

    st.download_button(
        tr("download_layer", lang, layer=layer),
        data=layer_csv,
        file_name=f"layer{layer}_tokens.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.download_button(
        tr("download_heads", lang),
        data=lambda: head_table(key, t).to_csv(index=False).encode("utf-8"),
        file_name="heads.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.subheader(tr("tokens", lang))
    st.dataframe(
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


VIEW_FUNCTIONS = {
    "attention": view_attention,
    "layers": view_layers,
    "embeddings": view_embeddings,
    "heads": view_heads,
    "export": view_export,
}


# ---------------------------------------------------------------- the page
def main() -> None:
    init_state()
    restore_kept()
    s = st.session_state
    with st.sidebar:
        st.radio(
            tr("language", s.lang),
            list(LANGUAGES),
            key="lang",
            horizontal=True,
            format_func=LANGUAGES.get,
        )
        lang = s.lang
        st.selectbox(
            tr("example", lang),
            [None, *EXAMPLES],
            key="example_pick",
            format_func=lambda e: tr("example_none", lang) if e is None else e,
            on_change=use_example,
        )
        st.text_area(tr("sentence", lang), key="text", height=110, max_chars=200_000)
        st.text_input(tr("pair", lang), key="pair", max_chars=200_000)
        st.text_input(tr("model", lang), key="model")
        st.radio(tr("view", lang), VIEWS, key="view", format_func=lambda v: tr(f"view_{v}", lang))
        st.radio(tr("image_format", lang), ("png", "svg"), key="image_format", horizontal=True)
    st.title(tr("title", lang))
    st.caption(tr("subtitle", lang))
    model_name = s.model.strip() or DEFAULT_MODEL
    pair = s.pair if s.pair.strip() else None
    try:
        with st.spinner(tr("loading_model", lang)):
            get_encoder(model_name)
        with st.spinner(tr("running", lang)):
            t = get_trace(model_name, s.text, pair)
    except ModelLoadError as err:
        st.error(tr("bad_model", lang, msg=plain(str(err))))
        write_address()
        return
    except ValueError as err:
        st.error(plain(str(err)))
        write_address()
        return
    f = t.facts
    s.layer = min(s.layer, f.num_layers)
    s.head = min(s.head, f.num_heads)
    st.caption(
        tr(
            "facts",
            lang,
            name=plain(f.name),
            type=f.model_type,
            L=f.num_layers,
            H=f.num_heads,
            D=f.hidden_size,
            T=t.num_tokens,
        )
    )
    if t.dropped_tokens:
        st.warning(tr("truncated", lang, max=f.max_tokens, n=t.dropped_tokens))
    key = (model_name, s.text, pair)
    VIEW_FUNCTIONS[s.view](t, key, lang)
    write_address()


main()
