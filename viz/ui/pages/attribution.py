"""Attribution: which input tokens a target depends on (gradient methods), and how much each
layer really mixes the tokens (context mixing), with where attention agrees with the mixing.

Gradient x input, attention x gradient and the three decompositions run on every visit (well
under a second); Integrated Gradients and Value Zeroing run the model or the layers many times,
so they run on a button press, with a progress bar, and are kept per (model, text, pair,
method, target) in a cache every session shares."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from viz.analysis import attention as attn
from viz.attribution import METHODS
from viz.attribution.agreement import row_spearman
from viz.attribution.gradients import DEFAULT_STEPS, GRADIENT_METHODS, GradientResult
from viz.attribution.mixing import MIXING_METHODS, ROLLED_OUT, MixingResult
from viz.attribution.targets import Target
from viz.cache import BoundedCache
from viz.errors import UserError
from viz.figures import attention as attention_fig
from viz.figures import lines as lines_fig
from viz.figures.common import FONT, safe, shorten
from viz.names import layer_name
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder
from viz.ui.i18n import tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, figure_words, message, plain, second_sentence_start

METHOD = state.widget("attr_method", link=state.choice(GRADIENT_METHODS))
KIND = state.widget("attr_target", link=state.choice(("similarity", "mlm", "token")))
POSITION = state.widget("attr_position", link=state.NUMBER)
TARGET_LAYER = state.widget("attr_layer", link=state.NUMBER, clamp=state.layers_from(0))
MIX = state.widget("attr_mix", link=state.choice(MIXING_METHODS))
MIX_LAYER = state.widget("attr_mix_layer", link=state.NUMBER, clamp=state.layers_from(1))
ROLLED = state.widget("attr_rolled", link=state.FLAG)
WRAP = 12  # tokens per line of the shaded text
CACHE_BYTES = 64 * 2**20


class _NotYetError(Exception):
    """Raised inside the cache's compute: the slow result is not there yet."""


def _size(value: object) -> int:
    arrays = [v for v in vars(value).values() if isinstance(v, np.ndarray)]
    return sum(a.nbytes for a in arrays) + 1024


@st.cache_resource(show_spinner=False)
def _results() -> BoundedCache:
    return BoundedCache(CACHE_BYTES, size_of=_size)


def _cached(cache_key: tuple, compute=None):
    """The result under ``cache_key``, computed by ``compute`` (None: only if already there)."""

    def missing():
        raise _NotYetError

    try:
        return _results().get_or_compute(cache_key, compute or missing)[0]
    except _NotYetError:
        return None


def _progress(label: str):
    bar = st.progress(0.0, text=label)
    return bar, lambda done: bar.progress(min(1.0, float(done)), text=label)


# ---------------------------------------------------------------- gradient methods
def _target_choice(t: Trace, key: TraceKey) -> Target:
    kinds = (["similarity"] if t.pair is not None else []) + (
        ["mlm"] if t.facts.has_mlm_head else []
    )
    kinds.append("token")
    if st.session_state.get(KIND) not in kinds:
        st.session_state[KIND] = kinds[0]
    c1, c2, c3 = st.columns([2, 2, 2])
    kind = c1.selectbox(tr("attr_target"), kinds, format_func=lambda k: tr(f"attr_t_{k}"), key=KIND)
    if kind == "similarity":
        return Target("similarity")
    words = [i for i in range(t.num_tokens) if not t.special[i]] or [0]
    positions = words if kind == "mlm" else list(range(t.num_tokens))
    if st.session_state.get(POSITION) not in positions:
        st.session_state[POSITION] = words[0]
    position = c2.selectbox(
        tr("attr_position"),
        positions,
        format_func=lambda i: f"{i} {shorten(t.display_tokens[i])}",
        key=POSITION,
    )
    if kind == "mlm":
        return Target("mlm", position=int(position))
    L = t.facts.num_layers
    st.session_state.setdefault(TARGET_LAYER, L)
    layer = c3.slider(tr("attr_layer"), 0, L, key=TARGET_LAYER)
    return Target("token", layer=int(layer), position=int(position))


def _explains(r: GradientResult, t: Trace) -> str:
    target = r.target
    values = dict(value=r.value, baseline=r.baseline_value)
    if target.kind == "similarity":
        return tr("attr_explains_similarity", **values)
    if target.kind == "mlm":
        return tr("attr_explains_mlm", position=target.position, **values)
    return tr(
        "attr_explains_token",
        position=target.position,
        tok=plain(t.display_tokens[target.position]),
        layer=layer_name(target.layer),
        **values,
    )


def shaded_tokens(r: GradientResult, title: str, score_name: str) -> go.Figure:
    """The tokens as cells of text, each shaded by its score (red raises the target, blue
    lowers it), WRAP to a line; a pair's second sentence starts on a line of its own."""
    cells: list[tuple[int, int, int]] = []  # (row, column, token index)
    row, col, segment = 0, 0, int(r.segments[0]) if len(r.segments) else 0
    for i in range(len(r.tokens)):
        if int(r.segments[i]) != segment or col == WRAP:
            row, col, segment = row + 1, 0, int(r.segments[i])
        cells.append((row, col, i))
        col += 1
    rows = row + 1
    z = np.full((rows, WRAP), np.nan)
    text = np.full((rows, WRAP), "", dtype=object)
    hover = np.full((rows, WRAP), "", dtype=object)
    for rr, cc, i in cells:
        z[rr, cc] = r.scores[i]
        text[rr, cc] = safe(shorten(r.display_tokens[i], 10))
        hover[rr, cc] = f"{i} {safe(r.display_tokens[i])}: {r.scores[i]:.4g}"
    top = float(np.nanmax(np.abs(r.scores))) if len(r.scores) else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="RdBu",
            reversescale=True,
            zmid=0.0,
            zmin=-max(top, 1e-12),
            zmax=max(top, 1e-12),
            xgap=2,
            ygap=2,
            colorbar={
                "title": {"text": score_name, "side": "right"},
                "orientation": "h",
                "thickness": 12,
                "len": 0.5,
                "y": -0.05,
                "yanchor": "top",
            },
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        height=150 + 44 * rows,
        margin={"l": 10, "r": 10, "t": 50, "b": 60},
        font={"family": FONT},
    )
    return fig


def _gradient_section(t: Trace, key: TraceKey) -> None:
    st.subheader(tr("attr_grad_header"))
    st.session_state.setdefault(METHOD, "grad_input")
    method = st.radio(
        tr("attr_method"),
        GRADIENT_METHODS,
        format_func=lambda m: tr(f"attr_m_{m}"),
        key=METHOD,
        horizontal=True,
    )
    target = _target_choice(t, key)
    name = tr(f"attr_m_{method}")
    steps = DEFAULT_STEPS if method == "integrated_gradients" else 0
    cache_key = ("gradient", key.model, key.text, key.pair, method, str(target), steps)

    def compute(progress=None):
        from viz.attribution.gradients import attribute_gradient

        encoder = get_encoder(key.model)
        return lambda: attribute_gradient(
            encoder, key.text, key.pair, method, target, steps or DEFAULT_STEPS, progress
        )

    try:
        result = _cached(cache_key, None if METHODS[method].slow else compute())
        if result is None:
            st.caption(tr("attr_slow_help", method=name, steps=DEFAULT_STEPS))
            if not st.button(tr("attr_run", method=name), key="attr_run_gradient"):
                return
            bar, progress = _progress(tr("attr_running", method=name))
            result = _cached(cache_key, compute(progress))
            bar.empty()
    except UserError as err:
        st.info(message(err))
        return
    st.caption(_explains(result, t))
    chart(
        shaded_tokens(result, tr("attr_scores_title", method=name), tr("attr_score")),
        key="attr_tokens",
    )
    if result.delta is not None:
        st.caption(
            tr(
                "attr_complete",
                total=float(result.scores.sum()),
                change=result.value - result.baseline_value,
                steps=result.steps,
            )
        )
    st.caption(tr("attr_baseline_help"))


# ---------------------------------------------------------------- context mixing
def _mixing(key: TraceKey, t: Trace, method: str, progress=None) -> MixingResult | None:
    from viz.attribution.mixing import mixing

    cache_key = ("mixing", key.model, key.text, key.pair, method)
    if METHODS[method].slow and progress is None:
        return _cached(cache_key)
    encoder = get_encoder(key.model)
    return _cached(cache_key, lambda: mixing(encoder, t, method, progress))


def _mix_heatmap(
    t: Trace, matrix: np.ndarray, title: str, method: str, x_ticks: int = 60
) -> go.Figure:
    positions = np.arange(t.num_tokens)
    return attention_fig.heatmap(
        matrix,
        list(t.display_tokens),
        positions,
        title,
        tr("attr_norm") if method == "norm_residual" else tr("attr_share"),
        (tr("attr_axis_to"), tr("attr_axis_from")),
        figure_words(),
        boundary=second_sentence_start(t, positions),
        x_ticks=x_ticks,
    )


def _mixing_section(t: Trace, key: TraceKey) -> None:
    from viz.attribution.mixing import check_family

    st.subheader(tr("attr_mix_header"))
    try:
        check_family(get_encoder(key.model))
    except UserError as err:
        st.info(message(err))
        return
    L = t.facts.num_layers
    c1, c2, c3 = st.columns([3, 2, 2])
    st.session_state.setdefault(MIX, "alti")
    method = c1.selectbox(
        tr("attr_mix_method"), MIXING_METHODS, format_func=lambda m: tr(f"attr_m_{m}"), key=MIX
    )
    st.session_state.setdefault(MIX_LAYER, 1)
    layer = c2.slider(tr("attr_mix_layer"), 1, L, key=MIX_LAYER)
    can_roll = method in ROLLED_OUT
    rolled = c3.checkbox(tr("attr_rolled"), key=ROLLED, disabled=not can_roll) and can_roll
    name = tr(f"attr_m_{method}")
    result = _mixing(key, t, method)
    if result is None:
        st.caption(tr("attr_slow_mix_help", method=name))
        if st.button(tr("attr_run", method=name), key="attr_run_mixing"):
            bar, progress = _progress(tr("attr_running", method=name))
            result = _mixing(key, t, method, progress)
            bar.empty()
    if result is not None:
        matrix = (result.rollout if rolled else result.scores)[layer - 1]
        explains = "attr_mix_explains_rolled" if rolled else "attr_mix_explains"
        st.caption(tr(explains, layer=layer_name(layer)))
        chart(
            _mix_heatmap(
                t, matrix, tr("attr_mix_title", method=name, layer=layer_name(layer)), method
            ),
            key="attr_mix_chart",
        )
        if not can_roll:
            st.caption(tr("attr_rolled_na"))
    _comparison(t, key, layer)


def _comparison(t: Trace, key: TraceKey, layer: int) -> None:
    """Raw attention, rollout and every mixing measure at hand: side by side at one layer, and
    their rank agreement at every layer."""
    per_layer = {"attention": t.attentions.mean(axis=1).astype(np.float64)}
    rolled = {"rollout": attn.rollout(t.attentions)}
    for method in MIXING_METHODS:
        r = _mixing(key, t, method)
        if r is None:
            continue
        per_layer[method] = r.scores
        if r.rollout is not None:
            rolled[method] = r.rollout
    st.subheader(tr("attr_side_header", layer=layer_name(layer)))
    names = list(per_layer)
    for first in range(0, len(names), 2):
        columns = st.columns(2)
        for column, name in zip(columns, names[first : first + 2]):
            with column:
                chart(
                    _mix_heatmap(
                        t, per_layer[name][layer - 1], tr(f"attr_s_{name}"), name, x_ticks=30
                    ),
                    key=f"attr_side_{name}",
                )
    if "value_zeroing" not in per_layer:
        st.caption(tr("attr_vz_pending"))
    st.subheader(tr("attr_agree_header"))
    against = {
        tr(f"attr_m_{m}"): row_spearman(per_layer["attention"], per_layer[m])
        for m in names
        if m != "attention"
    }
    chart(
        lines_fig.by_layer(against, tr("attr_agree_title"), tr("attr_agree_y"), first_layer=1),
        key="attr_agree",
    )
    against_rollout = {
        tr(f"attr_m_{m}"): row_spearman(rolled["rollout"], rolled[m])
        for m in rolled
        if m != "rollout"
    }
    chart(
        lines_fig.by_layer(
            against_rollout, tr("attr_agree_rollout_title"), tr("attr_agree_y"), first_layer=1
        ),
        key="attr_agree_rollout",
    )
    st.caption(tr("attr_agree_help"))


def render(t: Trace, key: TraceKey) -> None:
    st.caption(tr("attr_intro"))
    _gradient_section(t, key)
    _mixing_section(t, key)
