"""The math of one head: every step of a layer for one query token, with the model's own numbers
beside the formula, and how far the recomputation is from what the model produced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from viz.analysis.head_math import LayerSteps, recompute_layer, score_parts
from viz.figures import head_math as math_fig
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, get_trace
from viz.ui.i18n import tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, layer_head_controls, plain, table
from viz.weights import layer_weights

QUERY = state.widget("query_token", link=state.NUMBER)  # brought into range below


@st.cache_data(max_entries=4, show_spinner=False)
def layer_steps(key: TraceKey, layer: int) -> LayerSteps:
    _t = get_trace(key)
    w = layer_weights(get_encoder(key.model), layer)
    f = _t.facts
    return recompute_layer(
        _t.hidden_states[layer], w, f.num_heads, _t.score_bias(layer), f.score_factor
    )


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


def score_table(t: Trace, steps: LayerSteps, layer: int, head: int, query: int) -> pd.DataFrame:
    """One row per key: its token and the numbers of steps 3 and 4 for the query token (the
    relative-position term only for a model that adds one). The column names are translated
    where the table is shown."""
    parts = score_parts(steps, head, query, t.score_bias(layer), t.facts.score_factor)
    frame = pd.DataFrame({"position": np.arange(t.num_tokens), "key": list(t.display_tokens)})
    names = (
        ("qk", "scaled", "relative", "score", "alpha")
        if "relative" in parts
        else ("qk", "scaled", "alpha")
    )  # without a relative term the score is the scaled q·k
    for name in names:
        frame[name] = np.round(parts[name], 6)
    return frame


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    family = get_encoder(key.model).family
    if not family.layer_math:  # recomputing BERT's layer here would show wrong numbers
        why = tr("math_diff_sep").join(tr(f"math_diff_{code}") for code in family.differs)
        st.info(tr("math_unavailable", family=plain(f.model_type), why=why))
        return
    layer, head = layer_head_controls(t)
    labels = list(t.display_tokens)
    options = list(range(t.num_tokens))
    if st.session_state.get(QUERY, 1) >= t.num_tokens or QUERY not in st.session_state:
        st.session_state[QUERY] = min(1, t.num_tokens - 1)  # the first real token
    qi = st.selectbox(
        tr("query_token"),
        options,
        key=QUERY,
        format_func=lambda i: f"{i} {labels[i]}",
    )
    steps = layer_steps(key, layer)
    diff = float(np.abs(steps.out - t.hidden_states[layer + 1]).max())
    (st.success if diff <= 1e-4 else st.error)(
        tr("math_check_ok" if diff <= 1e-4 else "math_check_bad", diff=diff)
    )
    dk, h = f.head_dim, head
    st.markdown(f"**{tr('math_x')}**")
    latex(r"X \in \mathbb{R}^{T \times D},\quad T=%d,\ D=%d" % (t.num_tokens, f.hidden_size))
    dim = tr("dim")
    chart(math_fig.matrix(steps.x, labels, "X", dim, highlight_row=qi), key="math_x")
    st.markdown(f"**{tr('math_qkv', dk=dk)}**")
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
                    f"{name}, {tr('head_n', n=h + 1)}",
                    dim,
                    highlight_row=qi if name == "Q" else None,
                ),
                key=f"math_{name}",
            )
    st.markdown(f"**{tr('math_scores')}**")
    factor, relative = f.score_factor, t.score_bias(layer) is not None
    divisor = r"\sqrt{d_k}" if factor == 1 else r"\sqrt{%d\,d_k}" % factor  # DeBERTa: 3 d_k
    latex(
        r"s_{ij} = \frac{q_i \cdot k_j}{%s}%s + m_j,\quad %s=\sqrt{%d}=%.4f,\quad m_j = 0"
        % (divisor, r" + r_{ij}" if relative else "", divisor, factor * dk, np.sqrt(factor * dk))
    )
    st.caption(tr("math_mask_help"))
    if relative:
        st.caption(tr("math_relative"))
    chart(math_fig.vector(steps.scores[h, qi], labels, f"s[{qi}, :]", tr("score")), key="math_s")
    st.markdown(f"**{tr('math_softmax')}**")
    latex(r"\alpha_{ij} = \frac{e^{s_{ij}}}{\sum_{j'} e^{s_{ij'}}},\quad \sum_j \alpha_{ij} = 1")
    chart(math_fig.vector(steps.probs[h, qi], labels, f"α[{qi}, :]", "α"), key="math_a")
    st.caption(tr("math_numbers", i=qi, tok=plain(labels[qi])))
    table(
        score_table(t, steps, layer, h, qi),
        hide_index=True,
        width="stretch",
        height=min(400, 38 + 35 * t.num_tokens),
    )
    st.markdown(f"**{tr('math_sum')}**")
    latex(r"z_i^{(h)} = \sum_j \alpha_{ij}\, v_j \in \mathbb{R}^{%d}" % dk)
    chart(
        math_fig.vector(steps.heads[h, qi], None, f"z[{qi}], {tr('head_n', n=h + 1)}", tr("value")),
        key="math_z",
    )
    st.markdown(f"**{tr('math_concat')}**")
    latex(
        r"a_i = \big[z_i^{(1)}; \dots; z_i^{(%d)}\big]\, W_O + b_O \in \mathbb{R}^{%d}"
        % (f.num_heads, f.hidden_size)
    )
    chart(math_fig.vector(steps.attn_out[qi], None, f"a[{qi}]", tr("value")), key="math_o")
    st.markdown(f"**{tr('math_ln1')}**")
    latex(
        r"h_i = \mathrm{LayerNorm}(x_i + a_i) = \gamma \odot \frac{x_i + a_i - \mu}"
        r"{\sqrt{\sigma^2 + \varepsilon}} + \beta,\quad \varepsilon = %s"
        % latex_number(f.layer_norm_eps)
    )
    chart(math_fig.vector(steps.h1[qi], None, f"h[{qi}]", tr("value")), key="math_h1")
    st.markdown(f"**{tr('math_ffn', act=f.activation)}**")
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
        st.caption(tr("gelu_phi"))
    chart(
        math_fig.matrix(
            steps.ffn_act, labels, f"{f.activation}(h W₁ + b₁)", tr("unit"), highlight_row=qi
        ),
        key="math_ffn",
    )
    st.markdown(f"**{tr('math_ln2')}**")
    latex(r"\mathrm{out}_i = \mathrm{LayerNorm}(h_i + f_i)")
    chart(math_fig.vector(steps.out[qi], None, f"out[{qi}]", tr("value")), key="math_out")
