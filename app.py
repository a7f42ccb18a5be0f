"""The page: sidebar inputs, URL state, caching, and the order of the views.

Everything that computes lives in ``viz/`` (pure functions); this file lays out, remembers and
caches. User text is only ever shown through widgets, ``st.text``/``st.code``, dataframes and
escaped Plotly labels, never as Markdown or HTML.
"""

from __future__ import annotations

import os

# Before torch loads: idle OpenMP threads sleep instead of spinning. When sessions and the
# server share the cores, spinning made a 16-token forward ~50x slower (bench/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gc  # noqa: E402
import hashlib  # noqa: E402
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz import capture
from viz.analysis import attention as attn
from viz.analysis import contrast as contrast_stats
from viz.analysis import heads as head_stats
from viz.analysis import layers as layer_stats
from viz.analysis import mlm
from viz.analysis import probe as probing
from viz.analysis.head_math import LayerSteps, recompute_layer
from viz.analysis.projection import METHODS, Projection, project_layers
from viz.cache import BoundedCache
from viz.extract import POOLINGS, pooled_embeddings
from viz.figures import attention as attention_fig
from viz.figures import head_math as math_fig
from viz.figures import heads as heads_fig
from viz.figures import layers as layers_fig
from viz.figures import lines as lines_fig
from viz.figures import projection as projection_fig
from viz.i18n import EXAMPLES, LANGUAGES, STRINGS, tr
from viz.memory import return_freed_memory
from viz.models import DEFAULT_MODEL, ModelLoadError, load_encoder
from viz.tokens import MAX_CHARS, word_groups, word_texts
from viz.trace import ModelFacts, Trace
from viz.weights import layer_weights

VIEWS = (
    "attention",
    "layers",
    "embeddings",
    "heads",
    "math",
    "contrast",
    "probe",
    "mlm",
    "ablation",
    "export",
)
ATTENTION_MODES = ("raw", "rollout", "norm")
SAMPLES = Path(__file__).resolve().parent / "viz" / "samples"
CONTRAST_EXAMPLES = {  # (sentences, the shared word) per language
    "en": (
        "We sat on the bank of the river and watched the boats.\n"
        "I deposited my salary at the bank this morning.\n"
        "The river bank was muddy after the storm.\n"
        "The bank raised its interest rates again.",
        "bank",
    ),
    "zh": (  # 花: to spend / a flower
        "我花了很多钱买这本书。\n他每个月都要花掉一半的工资。\n花园里的花都开了。\n她送给我一束红色的花。",
        "花",
    ),
}
HEAD_VIEW_MAX_TOKENS = 128
TSNE_FEW_POINTS = 60  # below this, the 2-D view warns that t-SNE's picture says little
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>$~:")
URL_TEXT_LIMIT = 2000  # longer texts are not put in the address
TRACE_CACHE_BYTES = int(os.environ.get("VIZ_TRACE_CACHE_MB", "192")) * 2**20
ALLOW_PICKLE = os.environ.get("VIZ_ALLOW_PICKLE", "0") == "1"
# For a public deployment: only these models (comma-separated), no other ids or local paths.
ALLOWED_MODELS = [
    m.strip() for m in os.environ.get("VIZ_ALLOWED_MODELS", "").split(",") if m.strip()
]

st.set_page_config(page_title="BERT layer explorer", page_icon="🔎", layout="wide")
return_freed_memory()  # keeps resident memory near the cache bounds below


# ---------------------------------------------------------------- caching (shared by sessions)
@st.cache_resource(max_entries=2, show_spinner=False)
def get_encoder(name: str):
    encoder = load_encoder(name, allow_pickle=ALLOW_PICKLE)
    gc.freeze()  # the model's objects live for the process: keep them out of every GC pass
    return encoder


@st.cache_resource(show_spinner=False)
def trace_cache() -> BoundedCache[Trace]:
    return BoundedCache(TRACE_CACHE_BYTES, size_of=lambda t: t.nbytes)


def get_trace(
    model_name: str,
    text: str,
    pair: str | None,
    mask_word: int | None = None,
    ablate: frozenset[tuple[int, int]] = frozenset(),
) -> Trace:
    """One forward pass per input per process, within the cache's byte bound."""
    encoder = get_encoder(model_name)
    value, cached = trace_cache().get_or_compute(
        (model_name, text, pair, mask_word, ablate),
        lambda: capture.trace(encoder, text, pair, mask_word=mask_word, ablate=ablate),
    )
    if not cached:
        gc.collect()  # a new input: free the figures and arrays of the last one now, not later
    return value


@st.cache_resource(max_entries=8, show_spinner=False)
def model_view_figure(key: tuple, _t: Trace, title: str) -> go.Figure:
    """The grid of every layer and head, built once per trace and left unmarked (the heatmap's
    title names the open head): a layer or head change then leaves its message unchanged, so
    Streamlit sends the browser a reference instead of the 0.5 MB figure and it is not redrawn.
    Read-only after it is built, so sessions can share the object."""
    return attention_fig.model_view(_t.attentions, title)


@st.cache_data(max_entries=8, show_spinner=False)
def head_importance(key: tuple, _t: Trace, _lang: str) -> np.ndarray:
    """[L, H]: each head switched off on its own, how far the last layer moves. The forward
    passes (one per layer: the heads go in one batch) bypass the trace cache.
    The progress bar is made in here: a cached function may only draw on its own elements."""
    encoder = get_encoder(key[0])
    f = _t.facts
    bar = st.progress(0.0)

    def last_layer(layer: int) -> np.ndarray:  # [H, T, D], each head of the layer off in turn
        return capture.each_head_off(encoder, key[1], key[2], layer)

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=tr("ablation_scanning", _lang, i=done, n=total))

    values = layer_stats.head_importance(
        _t.hidden_states[-1], last_layer, f.num_layers, f.num_heads, progress
    )
    bar.empty()
    return values


@st.cache_data(max_entries=8, show_spinner=False)
def rollouts(key: tuple, _t: Trace) -> np.ndarray:
    return attn.rollout(_t.attentions).astype(np.float32)  # [L, T, T]


@st.cache_data(max_entries=8, show_spinner=False)
def norm_attention(key: tuple, _t: Trace, layer: int) -> np.ndarray:
    w = layer_weights(get_encoder(key[0]), layer)
    return attn.norm_based(_t.attentions[layer], _t.values[layer], w.w_o).astype(np.float32)


@st.cache_data(max_entries=4, show_spinner=False)
def layer_steps(key: tuple, _t: Trace, layer: int) -> LayerSteps:
    w = layer_weights(get_encoder(key[0]), layer)
    f = _t.facts
    return recompute_layer(
        _t.hidden_states[layer], w, f.num_heads, _t.score_bias(layer), f.score_factor
    )


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
        model=allowed_model(q.get("model", DEFAULT_MODEL)),
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


# Widgets whose value is a layer number, with their lowest value (0 = the embeddings).
LAYER_WIDGETS = {
    "layer": 1,
    "left_layer": 1,
    "right_layer": 1,
    "proj_layer": 0,
    "export_layer": 0,
    "probe_layer": 0,
}


def fit_to_model(f: ModelFacts) -> None:
    """Bring every layer and head the session holds into this model's range: after a switch from
    a 12-layer model to a 6-layer one, a slider left at 12 would stop the page."""
    s = st.session_state
    for key, low in [*LAYER_WIDGETS.items(), ("head", 1)]:
        top = f.num_heads if key == "head" else f.num_layers
        for name in (key, f"_kept_{key}"):
            if name in s:
                s[name] = max(low, min(int(s[name]), top))
    if "ablate_heads" in s:  # "L12H3" does not exist in a 6-layer model
        exists = set(heads_fig.head_names(f.num_layers, f.num_heads))
        s.ablate_heads = [h for h in s.ablate_heads if h in exists]


def allowed_model(name: str) -> str:
    if ALLOWED_MODELS and name not in ALLOWED_MODELS:
        return ALLOWED_MODELS[0]
    return name


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


# Choice widgets whose options are shown translated. Streamlit keeps a radio's choice by its
# shown label, so after a language switch the browser would show none of them selected.
TRANSLATED_CHOICES = (
    "view",
    "attention_mode",
    "proj_scope",
    "proj_color",
    "probe_source",
    "example_pick",
)


def on_language() -> None:
    """Hand every translated choice back to the browser in the new language's labels."""
    for key in TRANSLATED_CHOICES:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def use_example() -> None:
    choice = st.session_state.get("example_pick")
    if choice in EXAMPLES:
        st.session_state.text = choice


def open_head(layer: int, head: int) -> None:
    st.session_state.update(layer=layer, head=head, view="attention")


def clicked_head(chart_key: str) -> tuple[int, int] | None:
    """(layer, head), 1-based, of the point clicked in a chart whose points carry them first in
    their customdata; None when nothing is selected."""
    points = st.session_state[chart_key].selection.points
    data = points[0].get("customdata") if points else None
    if isinstance(data, dict):  # Plotly may send an array as {"0": .., "1": ..}
        data = [data[k] for k in sorted(data, key=int)]
    if isinstance(data, list | tuple) and len(data) >= 2:
        return int(data[0]), int(data[1])
    return None


def on_model_view_click() -> None:
    """A click on a thumbnail opens that layer and head."""
    if (head := clicked_head("model_view")) is not None:
        st.session_state.update(layer=head[0], head=head[1], average=False)


def on_scan_click() -> None:
    """A click on a cell of the head scan adds that head to the ones switched off."""
    if (head := clicked_head("ablation_scan_map")) is not None:
        name = heads_fig.head_name(*head)
        chosen = list(st.session_state.get("ablate_heads", []))
        if name not in chosen:
            st.session_state["ablate_heads"] = [*chosen, name]


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


def layer_head_controls(
    t: Trace, lang: str, with_head: bool = True, all_heads: bool = False
) -> tuple[int, int]:
    """Layer and head sliders; the head slider is off while the heads are averaged
    (``all_heads``, or the "average" box)."""
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
                disabled=all_heads or st.session_state.get("average", False),
            )
    return st.session_state.layer - 1, st.session_state.head - 1


def second_sentence_start(t: Trace, positions: np.ndarray) -> int | None:
    """Index among the shown ``positions`` where a pair's second sentence starts, or None."""
    if t.pair is None:
        return None
    second = np.flatnonzero(t.segment_ids[positions] == 1)
    return int(second[0]) if len(second) else None


def view_attention(t: Trace, key: tuple, lang: str) -> None:
    mode = st.radio(
        tr("attention_mode", lang),
        ATTENTION_MODES,
        key="attention_mode",
        horizontal=True,
        format_func=lambda m: tr(f"mode_{m}", lang),
    )
    c1, c2, c3 = st.columns(3)
    # rollout averages the heads by definition
    average = c1.checkbox(tr("average_heads", lang), key="average", disabled=mode == "rollout")
    average = average or mode == "rollout"
    hide = c2.checkbox(tr("hide_special", lang), key="hide_special")
    merge = c3.checkbox(tr("merge_subwords", lang), key="merge")
    layer, head = layer_head_controls(t, lang, all_heads=average)
    if mode == "rollout":
        matrix = rollouts(key, t)[layer]
    else:
        stack = t.attentions[layer] if mode == "raw" else norm_attention(key, t, layer)
        matrix = stack.mean(axis=0) if average else stack[head]
    matrix, labels, positions = attn.prepare(
        matrix,
        t.display_tokens,
        t.special,
        t.word_ids,
        hide_special=hide,
        merge_subwords=merge,
        word_names=word_names(t) if merge else None,
    )
    head_name = tr("all_heads", lang) if average else tr("head_n", lang, n=head + 1)
    help_text = tr(f"mode_help_{mode}", lang)
    if mode != "rollout":  # rollout's rows and columns are not queries and keys
        help_text = tr("attention_help", lang) + " " + help_text
    if hide and mode != "norm":
        help_text += " " + tr("hidden_rows", lang)
    st.caption(help_text)
    if mode == "rollout":
        title = tr("rollout_title", lang, layer=layer + 1)
        axes = (tr("axis_input_token", lang), tr("axis_position", lang))
    else:
        title = tr("attention_title", lang, layer=layer + 1, head=head_name)
        axes = (tr("axis_to_key", lang), tr("axis_from_query", lang))
    if mode != "raw":
        title += f" · {tr(f'mode_{mode}', lang)}"
    chart(
        attention_fig.heatmap(
            matrix,
            labels,
            positions,
            title,
            value_name=tr("weight", lang) if mode == "raw" else mode,
            axis_titles=axes,
            boundary=second_sentence_start(t, positions),
        ),
        key="attention_heatmap",
    )
    opened = tr("model_view_open", lang, layer=layer + 1, head=head_name)
    st.caption(tr("model_view_help", lang) + " " + opened)
    chart(
        model_view_figure(key, t, tr("model_view", lang)),
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
                matrix / max(float(matrix.max()), 1e-9) if mode != "raw" else matrix,
                labels,
                f"{tr('layer_n', lang, n=layer + 1)}{tr('comma', lang)}{head_name}"
                + (f" · {tr(f'mode_{mode}', lang)}" if mode != "raw" else ""),
            ),
            key="head_view",
        )
        st.caption(tr("head_view_sides", lang))


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


def projection_subtitle(proj: Projection, lang: str) -> str:
    if proj.method == "PCA" and proj.explained is not None:
        a, b = proj.explained
        return tr("proj_sub_pca", lang, a=a, b=b)
    if proj.method == "t-SNE" and proj.perplexity is not None:
        return tr("proj_sub_tsne", lang, seed=proj.seed, perp=proj.perplexity)
    return proj.params


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
            tr("layer_emb", lang),
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
            proj,
            list(t.display_tokens),
            list(layers),
            color,
            tr("projection_title", lang),
            axes,
            subtitle=projection_subtitle(proj, lang),
        ),
        key="projection",
    )
    if method == "t-SNE" and len(proj.coords) < TSNE_FEW_POINTS:
        st.caption(tr("tsne_few_points", lang, n=len(proj.coords)))


def view_heads(t: Trace, key: tuple, lang: str) -> None:
    with st.spinner(tr("heads_computing", lang)):  # about 1.5 s for bert-base at 512 tokens
        frame = head_table(key, t)
        distance, order = head_distances(key, t)
    st.session_state["_head_frame"] = frame
    st.subheader(tr("heads_table", lang))
    st.caption(tr("heads_help", lang))
    table(
        frame,
        lang,
        key="head_table",
        on_select=on_head_row,
        selection_mode="single-row",
        hide_index=True,
        height=360,
        width="stretch",
    )
    chart(
        heads_fig.head_similarity(distance, order, t.facts.num_heads, tr("heads_similarity", lang)),
        key="head_similarity",
    )
    st.caption(tr("heads_similarity_help", lang))


def view_export(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    st.info(tr("share_help", lang))
    longest = max(len(key[1]), len(key[2] or ""))
    if longest > URL_TEXT_LIMIT:
        st.warning(tr("share_too_long", lang, n=longest, limit=URL_TEXT_LIMIT))
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
        lang,
        hide_index=True,
        width="stretch",
    )


def column_labels(frame: pd.DataFrame, lang: str) -> dict[str, str]:
    """Shown names of a table's columns in ``lang`` (the data and CSVs keep English names)."""
    return {c: tr(f"col_{c}", lang) for c in frame.columns if f"col_{c}" in STRINGS}


def table(frame: pd.DataFrame, lang: str, target=None, **kwargs) -> object:
    """``st.dataframe`` with translated column names."""
    return (target or st).dataframe(frame, column_config=column_labels(frame, lang), **kwargs)


def latex_number(x: float) -> str:
    """1e-12 as 10^{-12}, 2.5e-05 as 2.5 \\times 10^{-5}: '%g' reads like e minus 12 in LaTeX."""
    text = f"{x:.3g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = r"10^{%d}" % int(exponent)
    return power if float(mantissa) == 1 else r"%s \times %s" % (mantissa, power)


def latex(formula: str) -> None:
    st.latex(formula)


def view_math(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    layer, head = layer_head_controls(t, lang)
    labels = list(t.display_tokens)
    options = list(range(t.num_tokens))
    if (
        st.session_state.get("query_token", 1) >= t.num_tokens
        or "query_token" not in st.session_state
    ):
        st.session_state.query_token = min(1, t.num_tokens - 1)  # the first real token
    qi = st.selectbox(
        tr("query_token", lang),
        options,
        key="query_token",
        format_func=lambda i: f"{i} {labels[i]}",
    )
    steps = layer_steps(key, t, layer)
    diff = float(np.abs(steps.out - t.hidden_states[layer + 1]).max())
    (st.success if diff <= 1e-4 else st.error)(
        tr("math_check_ok" if diff <= 1e-4 else "math_check_bad", lang, diff=diff)
    )
    dk, h = f.head_dim, head
    st.markdown(f"**{tr('math_x', lang)}**")
    latex(r"X \in \mathbb{R}^{T \times D},\quad T=%d,\ D=%d" % (t.num_tokens, f.hidden_size))
    dim = tr("dim", lang)
    chart(math_fig.matrix(steps.x, labels, "X", dim, highlight_row=qi), key="math_x")
    st.markdown(f"**{tr('math_qkv', lang, dk=dk)}**")
    latex(
        r"Q_h = X W_Q^{(h)} + b_Q^{(h)},\quad K_h = X W_K^{(h)} + b_K^{(h)},\quad "
        r"V_h = X W_V^{(h)} + b_V^{(h)} \in \mathbb{R}^{T \times %d}" % dk
    )
    cols = st.columns(3)
    for col, name, values in zip(cols, ("Q", "K", "V"), (steps.q[h], steps.k[h], steps.v[h])):
        with col:
            chart(
                math_fig.matrix(
                    values,
                    labels,
                    f"{name}, {tr('head_n', lang, n=h + 1)}",
                    dim,
                    highlight_row=qi if name == "Q" else None,
                ),
                key=f"math_{name}",
            )
    st.markdown(f"**{tr('math_scores', lang)}**")
    factor, relative = f.score_factor, t.score_bias(layer) is not None
    divisor = r"\sqrt{d_k}" if factor == 1 else r"\sqrt{%d\,d_k}" % factor  # DeBERTa: 3 d_k
    latex(
        r"s_{ij} = \frac{q_i \cdot k_j}{%s}%s + m_j,\quad %s=\sqrt{%d}=%.4f,\quad m_j = 0"
        % (divisor, r" + r_{ij}" if relative else "", divisor, factor * dk, np.sqrt(factor * dk))
    )
    if relative:
        st.caption(tr("math_relative", lang))
    chart(
        math_fig.vector(steps.scores[h, qi], labels, f"s[{qi}, :]", tr("score", lang)), key="math_s"
    )
    st.markdown(f"**{tr('math_softmax', lang)}**")
    latex(r"\alpha_{ij} = \frac{e^{s_{ij}}}{\sum_{j'} e^{s_{ij'}}},\quad \sum_j \alpha_{ij} = 1")
    chart(math_fig.vector(steps.probs[h, qi], labels, f"α[{qi}, :]", "α"), key="math_a")
    st.markdown(f"**{tr('math_sum', lang)}**")
    latex(r"z_i^{(h)} = \sum_j \alpha_{ij}\, v_j \in \mathbb{R}^{%d}" % dk)
    chart(
        math_fig.vector(
            steps.heads[h, qi], None, f"z[{qi}], {tr('head_n', lang, n=h + 1)}", tr("value", lang)
        ),
        key="math_z",
    )
    st.markdown(f"**{tr('math_concat', lang)}**")
    latex(
        r"a_i = \big[z_i^{(1)}; \dots; z_i^{(%d)}\big]\, W_O + b_O \in \mathbb{R}^{%d}"
        % (f.num_heads, f.hidden_size)
    )
    chart(math_fig.vector(steps.attn_out[qi], None, f"a[{qi}]", tr("value", lang)), key="math_o")
    st.markdown(f"**{tr('math_ln1', lang)}**")
    latex(
        r"h_i = \mathrm{LayerNorm}(x_i + a_i) = \gamma \odot \frac{x_i + a_i - \mu}"
        r"{\sqrt{\sigma^2 + \varepsilon}} + \beta,\quad \varepsilon = %s"
        % latex_number(f.layer_norm_eps)
    )
    chart(math_fig.vector(steps.h1[qi], None, f"h[{qi}]", tr("value", lang)), key="math_h1")
    st.markdown(f"**{tr('math_ffn', lang, act=f.activation)}**")
    act = (
        r"\mathrm{GELU}(u) = u\,\Phi(u)"
        if f.activation == "gelu"
        else r"\mathrm{%s}" % (f.activation.replace("_", r"\_"))
    )
    latex(
        r"f_i = %s\big(h_i W_1 + b_1\big) W_2 + b_2,\quad W_1 \in \mathbb{R}^{%d \times %d}"
        % (act.split("(")[0] if "(" in act else act, f.hidden_size, f.ffn_size)
    )
    if f.activation == "gelu":
        latex(act)
        st.caption(tr("gelu_phi", lang))
    chart(
        math_fig.matrix(
            steps.ffn_act, labels, f"{f.activation}(h W₁ + b₁)", tr("unit", lang), highlight_row=qi
        ),
        key="math_ffn",
    )
    st.markdown(f"**{tr('math_ln2', lang)}**")
    latex(r"\mathrm{out}_i = \mathrm{LayerNorm}(h_i + f_i)")
    chart(math_fig.vector(steps.out[qi], None, f"out[{qi}]", tr("value", lang)), key="math_out")


def view_contrast(t: Trace, key: tuple, lang: str) -> None:
    model_name = key[0]
    if "contrast_text" not in st.session_state:
        sentences, word = CONTRAST_EXAMPLES[lang]
        st.session_state.update(contrast_text=sentences, contrast_word=word)
    c1, c2 = st.columns([4, 1])
    c1.text_area(tr("contrast_sentences", lang), key="contrast_text", height=120)
    word = c2.text_input(tr("contrast_word", lang), key="contrast_word")
    sentences = [
        line.strip() for line in st.session_state.contrast_text.splitlines() if line.strip()
    ][:20]
    found, missing = [], []
    for i, sentence in enumerate(sentences, start=1):
        tr_i = get_trace(model_name, sentence, None)
        pos = contrast_stats.find_word(
            tr_i.display_tokens, tr_i.word_ids, word, tr_i.text, tr_i.offsets
        )
        (found if pos else missing).append((i, tr_i, pos))
    if missing:
        st.warning(tr("contrast_missing", lang, which=", ".join(f"#{i}" for i, *_ in missing)))
    unknown = count_unknown([x for _, x, _ in found + missing])
    if unknown[0]:
        st.info(tr("unknown_tokens", lang, n=unknown[0], total=unknown[1], unk=plain(unknown[2])))
    if len(found) < 2:
        st.info(tr("contrast_need_two", lang))
        return
    st.caption(tr("contrast_pairs_help", lang))
    vectors = np.stack([contrast_stats.word_vectors(x.hidden_states, pos) for _, x, pos in found])
    pairs = {
        f"#{found[a][0]} vs #{found[b][0]}": contrast_stats.cosine_by_layer(vectors[a], vectors[b])
        for a in range(len(found))
        for b in range(a + 1, len(found))
    }
    chart(
        lines_fig.by_layer(
            dict(list(pairs.items())[:15]), tr("contrast_pairs", lang), tr("y_cosine", lang)
        ),
        key="contrast_pairs",
    )
    self_sim = contrast_stats.self_similarity(vectors)
    aniso = contrast_stats.anisotropy([x.hidden_states[:, ~x.special] for _, x, _ in found])
    st.caption(tr("contrast_help", lang))
    chart(
        lines_fig.by_layer(
            {
                tr("self_similarity", lang): self_sim,
                tr("anisotropy", lang): aniso,
                tr("adjusted", lang): self_sim - aniso,
            },
            tr("contrast_self", lang),
            tr("y_cosine", lang),
        ),
        key="contrast_self",
    )


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


def view_probe(t: Trace, key: tuple, lang: str) -> None:
    source = st.radio(
        tr("probe_data", lang),
        ("sentiment", "topic", "upload"),
        key="probe_source",
        horizontal=True,
        format_func=lambda s: tr("probe_upload" if s == "upload" else f"probe_sample_{s}", lang),
    )
    if source == "upload":
        upload = st.file_uploader(tr("probe_file", lang), type=["csv", "txt"], key="probe_file")
        raw = upload.getvalue() if upload is not None else None
    else:
        raw = (SAMPLES / f"{source}.csv").read_bytes()
    if raw is None:
        st.info(tr("probe_start", lang))
        return
    try:
        data = probing.read_labelled_csv(raw)
    except ValueError as err:
        st.error(plain(str(err)))
        return
    digest = hashlib.sha256(raw).hexdigest()
    done_key = ("probe", key[0], digest)
    if not st.session_state.get(str(done_key)):
        slot = st.empty()
        with slot.container():
            st.info(tr("probe_start", lang))
            clicked = st.button(tr("probe_run", lang), type="primary", key="probe_run")
        if not clicked:
            return
        slot.empty()
        st.session_state[str(done_key)] = True
    n_models = len(POOLINGS) * (t.facts.num_layers + 1)
    with st.spinner(tr("probe_running", lang, n=len(data.texts), m=n_models)):
        features, scores = probe_results(key[0], digest, data)
    top = probing.best(scores)
    series = {p: np.array([s.mean for s in scores if s.pooling == p]) for p in POOLINGS}
    errors = {p: np.array([s.std for s in scores if s.pooling == p]) for p in POOLINGS}
    chance = max(data.classes.values()) / len(data.texts)
    st.caption(tr("probe_help", lang, folds=top.folds, chance=chance))
    chart(
        lines_fig.by_layer(
            series,
            tr("probe_title", lang),
            tr("y_accuracy", lang),
            errors=errors,
            best=(top.pooling, top.layer),
            best_name=tr("best", lang),
        ),
        key="probe_chart",
    )
    close = [
        f"{layer_label(s.layer)} ({s.pooling})"
        for s in sorted(scores, key=lambda s: -s.mean)
        if s is not top and s.mean >= top.mean - top.std
    ]
    st.success(
        tr(
            "probe_best",
            lang,
            layer=top.layer,
            pooling=top.pooling,
            acc=top.mean,
            std=top.std,
            close=", ".join(close) or "-",
        )
    )
    c1, c2 = st.columns(2)
    layer = c1.number_input(
        tr("layer_emb", lang), 0, t.facts.num_layers, value=top.layer, key="probe_layer"
    )
    pooling = c2.selectbox(
        tr("pooling", lang), POOLINGS, index=POOLINGS.index(top.pooling), key="probe_pooling"
    )

    def embeddings_csv() -> bytes:
        frame = pd.DataFrame(
            features[pooling][:, layer], columns=[f"d{i}" for i in range(t.facts.hidden_size)]
        )
        frame.insert(0, "label", list(data.labels))
        frame.insert(0, "text", list(data.texts))
        return frame.to_csv(index=False).encode("utf-8")

    st.download_button(
        tr("probe_download", lang, layer=layer, pooling=pooling, n=len(data.texts)),
        data=embeddings_csv,
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
    table(scores_frame, lang, hide_index=True, width="stretch", height=240)


def unknown_tokens(t: Trace) -> tuple[np.ndarray, str]:
    """bool [T]: the tokens of ``t`` the model read as its unknown token; and that token."""
    unk = getattr(get_encoder(t.facts.name).tokenizer, "unk_token", None) or ""
    return np.array([tok == unk for tok in t.tokens]) & ~t.special, unk


def count_unknown(traces: list[Trace]) -> tuple[int, int, str]:
    """(tokens read as the unknown token, real tokens, the unknown token) over ``traces``."""
    masks = [unknown_tokens(t) for t in traces]
    unknown = sum(int(mask.sum()) for mask, _ in masks)
    return unknown, sum(int((~t.special).sum()) for t in traces), masks[0][1]


def layer_label(layer: int) -> str:
    return "emb" if layer == 0 else f"L{layer}"


def word_names(t: Trace) -> list[str]:
    """One label per word group of ``t``, from the text it covers; a word with a piece the
    vocabulary lacks keeps the →[UNK] mark of its pieces."""
    groups = word_groups(t.word_ids)
    names = word_texts(groups, t.display_tokens, t.offsets, t.segment_ids, t.text, t.pair)
    unknown, unk = unknown_tokens(t)
    return [f"{name}→{unk}" if unknown[g].any() else name for name, g in zip(names, groups)]


def word_choices(t: Trace) -> tuple[list[int], list[str]]:
    groups = word_groups(t.word_ids)
    labels = word_names(t)
    keep = [i for i, g in enumerate(groups) if not t.special[g[0]]]
    return keep, labels


def percent(p: float) -> str:
    """A probability as a percentage with three significant digits: 12.3%, 0.00327%."""
    return f"{p * 100:.3g}%"


def lens_table(result: mlm.LensResult) -> pd.DataFrame:
    rows = []
    for layer, (tokens, probs) in enumerate(zip(result.top_tokens, result.top_probs)):
        row = {"layer": "emb" if layer == 0 else f"L{layer}"}
        for k, (tok, p) in enumerate(zip(tokens, probs), start=1):
            row[f"#{k}"] = f"{tok} ({percent(p)})"
        rows.append(row)
    return pd.DataFrame(rows)


def view_mlm(t: Trace, key: tuple, lang: str) -> None:
    encoder = get_encoder(key[0])
    if not t.facts.has_mlm_head:
        st.info(tr("mlm_unavailable", lang, name=plain(t.facts.name)))
        return
    keep, labels = word_choices(t)
    c1, c2 = st.columns([3, 1])
    word = c1.selectbox(tr("mlm_word", lang), keep, key="mlm_word", format_func=lambda i: labels[i])
    k = c2.slider(tr("mlm_topk", lang), 3, 10, 5, key="mlm_k")
    masked = get_trace(key[0], key[1], key[2], mask_word=word)
    result = mlm.lens(
        encoder, masked, mlm.mask_position(masked, encoder.tokenizer.mask_token_id), k=k
    )
    st.caption(tr("mlm_help", lang))
    st.subheader(tr("mlm_table", lang))
    table(lens_table(result), lang, hide_index=True, width="stretch")
    chart(
        lines_fig.by_layer(
            {result.final_token: result.final_rank.astype(float)},
            tr("mlm_rank", lang, tok=plain(result.final_token)),
            tr("y_rank", lang),
            rank=True,
        ),
        key="mlm_rank",
    )


def view_ablation(t: Trace, key: tuple, lang: str) -> None:
    f = t.facts
    options = heads_fig.head_names(f.num_layers, f.num_heads)
    chosen = st.multiselect(
        tr("ablation_heads", lang),
        options,
        key="ablate_heads",
        placeholder=tr("ablation_pick", lang),
    )
    st.caption(tr("ablation_help", lang))
    if chosen:
        ablation_effects(t, key, lang, options, chosen)
    else:
        st.info(tr("ablation_none", lang))
    head_scan(t, key, lang)


def head_scan(t: Trace, key: tuple, lang: str) -> None:
    """Every head switched off alone, on request (L x H forward passes), as one map."""
    f = t.facts
    st.subheader(tr("ablation_scan_header", lang))
    st.caption(tr("ablation_scan_help", lang))
    if st.button(tr("ablation_scan", lang, n=f.num_layers * f.num_heads), key="ablation_scan"):
        st.session_state["_scanned"] = key
    if st.session_state.get("_scanned") != key:
        return
    values = head_importance(key, t, lang)
    chart(
        heads_fig.head_grid(values, tr("ablation_scan_title", lang), "1 − cos"),
        key="ablation_scan_map",
        on_select=on_scan_click,
        selection_mode="points",
    )
    flat, names = values.ravel(), heads_fig.head_names(f.num_layers, f.num_heads)
    top = [f"{names[i]} ({flat[i]:.3g})" for i in np.argsort(flat)[::-1][:3]]
    st.caption(tr("ablation_scan_top", lang, heads=", ".join(top)))


def ablation_effects(
    t: Trace, key: tuple, lang: str, options: list[str], chosen: list[str]
) -> None:
    """The chosen heads switched off together: how each layer moves, and the MLM head's
    predictions before and after where the model has one."""
    f = t.facts
    ablate = frozenset(
        (options.index(c) // f.num_heads, options.index(c) % f.num_heads) for c in chosen
    )
    changed = get_trace(key[0], key[1], key[2], ablate=ablate)
    drift = layer_stats.drift(t.hidden_states, changed.hidden_states)
    chart(
        lines_fig.bars_by_layer(drift, tr("ablation_drift", lang), "1 − cos"), key="ablation_drift"
    )
    if f.has_mlm_head:
        encoder = get_encoder(key[0])
        keep, labels = word_choices(t)
        word = st.selectbox(
            tr("mlm_word", lang), keep, key="ablation_word", format_func=lambda i: labels[i]
        )
        before = get_trace(key[0], key[1], key[2], mask_word=word)
        after = get_trace(key[0], key[1], key[2], mask_word=word, ablate=ablate)
        pos = mlm.mask_position(before, encoder.tokenizer.mask_token_id)
        st.subheader(tr("ablation_mlm", lang))
        c1, c2 = st.columns(2)
        for col, name, run in ((c1, "before", before), (c2, "after", after)):
            res = mlm.lens(encoder, run, pos, k=5)
            col.markdown(f"**{tr(name, lang)}**")
            table(
                pd.DataFrame(
                    {"token": res.top_tokens[-1], "p": [percent(p) for p in res.top_probs[-1]]}
                ),
                lang,
                target=col,
                hide_index=True,
            )


VIEW_FUNCTIONS = {
    "attention": view_attention,
    "layers": view_layers,
    "embeddings": view_embeddings,
    "heads": view_heads,
    "math": view_math,
    "contrast": view_contrast,
    "probe": view_probe,
    "mlm": view_mlm,
    "ablation": view_ablation,
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
            on_change=on_language,
        )
        lang = s.lang
        st.selectbox(
            tr("example", lang),
            [None, *EXAMPLES],
            key="example_pick",
            format_func=lambda e: tr("example_none", lang) if e is None else e,
            on_change=use_example,
        )
        st.text_area(tr("sentence", lang), key="text", height=110)
        st.text_input(tr("pair", lang), key="pair")
        if ALLOWED_MODELS:
            st.selectbox(tr("model", lang), ALLOWED_MODELS, key="model")
        else:
            st.text_input(tr("model", lang), key="model")
        st.radio(tr("view", lang), VIEWS, key="view", format_func=lambda v: tr(f"view_{v}", lang))
        st.radio(tr("image_format", lang), ("png", "svg"), key="image_format", horizontal=True)
    st.title(tr("title", lang))
    st.caption(tr("subtitle", lang))
    model_name = s.model.strip() or DEFAULT_MODEL
    if ALLOWED_MODELS and model_name not in ALLOWED_MODELS:
        st.error(tr("not_allowed", lang, models=plain(", ".join(ALLOWED_MODELS))))
        return
    pair = s.pair if s.pair.strip() else None
    if not s.text.strip():
        st.error(tr("empty_text", lang))
        write_address()
        return
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
    fit_to_model(f)
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
    if t.dropped_chars:
        st.warning(tr("truncated_chars", lang, read=MAX_CHARS, cut=t.dropped_chars))
    if t.dropped_tokens:
        st.warning(tr("truncated", lang, max=f.max_tokens, n=t.dropped_tokens))
    unknown, real, unk = count_unknown([t])
    if unknown:
        st.info(tr("unknown_tokens", lang, n=unknown, total=real, unk=plain(unk)))
    key = (model_name, s.text, pair)
    VIEW_FUNCTIONS[s.view](t, key, lang)
    write_address()


main()
