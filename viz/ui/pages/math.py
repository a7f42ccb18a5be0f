"""The math of one head: every step of a layer for one query token, with the model's own numbers
beside the formula, and how far the recomputation is from what the model produced.

The steps follow the order the model runs: post-norm (BERT: residual add, then LayerNorm) or
pre-norm (a norm before attention and before the feed-forward block, the residual add after,
the final norm after the last layer), with the rotation of q and k, grouped keys and values,
a local layer's window and a gated feed-forward block where the family has them."""

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
from viz.weights import LayerWeights, layer_weights, layer_windows

QUERY = state.widget("query_token", link=state.NUMBER)  # brought into range below


@st.cache_data(max_entries=4, show_spinner=False)
def layer_steps(key: TraceKey, layer: int) -> tuple[LayerSteps, LayerWeights]:
    _t = get_trace(key)
    w = layer_weights(get_encoder(key.model), layer)
    f = _t.facts
    steps = recompute_layer(
        _t.hidden_states[layer], w, f.num_heads, _t.score_bias(layer), f.score_factor
    )
    return steps, w.described()


@st.cache_data(max_entries=8, show_spinner=False)
def windows(model: str) -> list[int | None]:
    return layer_windows(get_encoder(model))


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
    relative-position term only for a model that adds one; the score, -inf outside the window,
    for a local layer). The column names are translated where the table is shown."""
    parts = score_parts(steps, head, query, t.score_bias(layer), t.facts.score_factor)
    frame = pd.DataFrame({"position": np.arange(t.num_tokens), "key": list(t.display_tokens)})
    names = ("qk", "scaled") + (("relative",) if "relative" in parts else ())
    if "relative" in parts or steps.visible is not None:
        names += ("score",)  # else the score is the scaled q·k
    names += ("alpha",)
    for name in names:
        frame[name] = np.round(parts[name], 6)
    return frame


NORM_FORMULAS = {
    "layer": r"\mathrm{LayerNorm}(%s) = \gamma \odot \frac{%s - \mu}{\sqrt{\sigma^2 + \varepsilon}}"
    r" + \beta,\quad \varepsilon = %s",
    "rms": r"\mathrm{RMSNorm}(%s) = \gamma \odot \frac{%s}"
    r"{\sqrt{\mathrm{mean}(%s^2) + \varepsilon}},\quad \varepsilon = %s",
}


def norm_latex(lhs: str, arg: str, kind: str, eps: float) -> str:
    """``lhs = Norm(arg)`` written out for a LayerNorm or an RMSNorm."""
    if kind == "rms":
        return lhs + " = " + NORM_FORMULAS["rms"] % (arg, arg, arg, latex_number(eps))
    return lhs + " = " + NORM_FORMULAS["layer"] % (arg, arg, latex_number(eps))


def rotation_table(steps: LayerSteps, w: LayerWeights, head: int, query: int) -> pd.DataFrame:
    """One row per pair of q's dimensions: which two, θ_p, the query's angle i·θ_p and q's two
    numbers before and after the turn."""
    first, second = w.rotary.pairs(steps.q.shape[-1])
    before, after = steps.q_raw[head, query], steps.q[head, query]
    return pd.DataFrame(
        {
            "pair": np.arange(len(first)),
            "dims": [f"{a}, {b}" for a, b in zip(first, second)],
            "theta": np.round(w.rotary.inv_freq, 6),
            "angle": np.round(steps.angles[query], 4),
            "q_before": [f"{before[a]:.4f}, {before[b]:.4f}" for a, b in zip(first, second)],
            "q_after": [f"{after[a]:.4f}, {after[b]:.4f}" for a, b in zip(first, second)],
        }
    )


def layer_kinds(model: str, layer: int) -> None:
    """For a model with local layers: whether this layer is global or local, and every layer's."""
    found = windows(model)
    if all(w is None for w in found):
        return
    names = [tr("layer_global") if w is None else tr("layer_local", w=w) for w in found]
    here = found[layer]
    st.info(
        tr("math_layer_global", n=layer + 1)
        if here is None
        else tr("math_layer_local", n=layer + 1, w=here)
    )
    st.caption(
        tr(
            "math_layer_kinds",
            kinds=tr("math_diff_sep").join(
                f"{tr('layer_n', n=i + 1)}: {name}" for i, name in enumerate(names)
            ),
        )
    )


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    family = get_encoder(key.model).family
    if not family.layer_math:  # recomputing another layer here would show wrong numbers
        why = tr("math_diff_sep").join(tr(f"math_diff_{code}") for code in family.differs)
        st.info(tr("math_unavailable", family=plain(f.model_type), why=why))
        return
    layer, head = layer_head_controls(t)
    layer_kinds(key.model, layer)
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
    steps, w = layer_steps(key, layer)
    diff = float(np.abs(steps.out - t.hidden_states[layer + 1]).max())
    (st.success if diff <= 1e-4 else st.error)(
        tr("math_check_ok" if diff <= 1e-4 else "math_check_bad", diff=diff)
    )
    st.caption(tr("math_order_pre" if w.pre_norm else "math_order_post"))
    dk, h = f.head_dim, head
    dim = tr("dim")
    st.markdown(f"**{tr('math_x')}**")
    latex(r"X \in \mathbb{R}^{T \times D},\quad T=%d,\ D=%d" % (t.num_tokens, f.hidden_size))
    chart(math_fig.matrix(steps.x, labels, "X", dim, highlight_row=qi), key="math_x")
    source = "X"
    if w.pre_norm:
        source = r"\tilde X"
        st.markdown(f"**{tr('math_norm1')}**")
        if w.ln1_kind == "identity":
            st.caption(tr("math_norm1_identity"))
        else:
            latex(norm_latex(r"\tilde x_i", "x_i", w.ln1_kind, w.eps))
            chart(math_fig.vector(steps.n1[qi], None, f"x̃[{qi}]", tr("value")), key="math_n1")
    st.markdown(f"**{tr('math_qkv', dk=dk)}**")
    if w.fused_qkv:
        latex(
            r"\big[\,Q \;\big|\; K \;\big|\; V\,\big] = %s\, W_{QKV} + b_{QKV},\quad "
            r"W_{QKV} \in \mathbb{R}^{%d \times %d}" % (source, f.hidden_size, 3 * f.hidden_size)
        )
        st.caption(tr("math_fused_qkv", d=f.hidden_size, h=f.num_heads, dk=dk))
    else:
        latex(
            r"Q_h = %s W_Q^{(h)} + b_Q^{(h)},\quad K_h = %s W_K^{(h)} + b_K^{(h)},\quad "
            r"V_h = %s W_V^{(h)} + b_V^{(h)} \in \mathbb{R}^{T \times %d}"
            % (source, source, source, dk)
        )
    if w.kv_heads is not None:
        group = f.num_heads // w.kv_heads
        st.caption(
            tr("math_grouped", kv=w.kv_heads, h=f.num_heads, g=group, n=h + 1, kvn=h // group + 1)
        )
    if w.rotary is not None:
        st.markdown(f"**{tr('math_rotary')}**")
        pair = r"(2p,\, 2p+1)" if w.rotary.layout == "interleaved" else r"(p,\, p + d_k/2)"
        latex(
            r"\begin{pmatrix} q'_{i,a} \\ q'_{i,b} \end{pmatrix} = \begin{pmatrix} \cos i\theta_p"
            r" & -\sin i\theta_p \\ \sin i\theta_p & \cos i\theta_p \end{pmatrix}"
            r"\begin{pmatrix} q_{i,a} \\ q_{i,b} \end{pmatrix},\quad (a, b) = %s,\ "
            r"p = 0, \dots, %d" % (pair, dk // 2 - 1)
        )
        st.caption(
            tr("math_rotary_help", value=tr("math_rotary_value") if w.rotary.on_value else "")
        )
        c1, c2 = st.columns(2)
        with c1:
            chart(
                math_fig.matrix(
                    steps.q_raw[h], labels, tr("math_q_before", n=h + 1), dim, highlight_row=qi
                ),
                key="math_q_raw",
            )
        with c2:
            chart(
                math_fig.vector(
                    steps.angles[qi], None, tr("math_angles", i=qi), tr("math_angle_rad")
                ),
                key="math_angles",
            )
        pairs = rotation_table(steps, w, h, qi)
        table(pairs, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(pairs)))
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
    mask = "m_j = 0"
    if w.window is not None:
        mask = (
            r"m_{ij} = \begin{cases} 0 & |i - j| \le %d \\ -\infty & |i - j| > %d \end{cases}"
            % (
                w.window,
                w.window,
            )
        )
    latex(
        r"s_{ij} = \frac{q_i \cdot k_j}{%s}%s + m_{%s},\quad %s=\sqrt{%d}=%.4f,\quad %s"
        % (
            divisor,
            r" + r_{ij}" if relative else "",
            "ij" if w.window is not None else "j",
            divisor,
            factor * dk,
            np.sqrt(factor * dk),
            mask,
        )
    )
    if w.window is not None:
        st.caption(tr("math_window_help", w=w.window))
        chart(
            math_fig.visible_keys(
                steps.visible,
                labels,
                tr("math_window_title", n=layer + 1),
                (tr("math_axis_query"), tr("math_axis_key"), tr("math_seen"), tr("math_masked")),
                qi,
            ),
            key="math_window",
        )
    else:
        st.caption(tr("math_mask_help"))
    if relative:
        st.caption(tr("math_relative"))
    scores = np.where(np.isfinite(steps.scores[h, qi]), steps.scores[h, qi], np.nan)
    chart(math_fig.vector(scores, labels, f"s[{qi}, :]", tr("score")), key="math_s")
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
    if w.pre_norm:
        st.markdown(f"**{tr('math_res1')}**")
        latex(r"h_i = x_i + a_i")
        st.caption(tr("math_res_help"))
        chart(math_fig.vector(steps.h1[qi], None, f"h[{qi}]", tr("value")), key="math_h1")
        st.markdown(f"**{tr('math_norm2')}**")
        latex(norm_latex(r"\tilde h_i", "h_i", w.ln2_kind, w.eps))
        chart(math_fig.vector(steps.n2[qi], None, f"h̃[{qi}]", tr("value")), key="math_n2")
    else:
        st.markdown(f"**{tr('math_ln1')}**")
        latex(
            r"h_i = \mathrm{LayerNorm}(x_i + a_i) = \gamma \odot \frac{x_i + a_i - \mu}"
            r"{\sqrt{\sigma^2 + \varepsilon}} + \beta,\quad \varepsilon = %s"
            % latex_number(f.layer_norm_eps)
        )
        chart(math_fig.vector(steps.h1[qi], None, f"h[{qi}]", tr("value")), key="math_h1")
    ffn_source = r"\tilde h_i" if w.pre_norm else "h_i"
    hn = "h̃" if w.pre_norm else "h"  # the block's input in the charts' titles
    st.markdown(
        f"**{tr('math_ffn_gated' if w.w_u is not None else 'math_ffn', act=f.activation)}**"
    )
    act = (
        r"\mathrm{GELU}(u) = u\,\Phi(u)"
        if f.activation == "gelu"
        else r"\mathrm{%s}" % (f.activation.replace("_", r"\_"))
    )
    act_name = act.split("(")[0] if "(" in act else act
    if w.w_u is not None:
        latex(
            r"f_i = \Big(%s\big(%s W_1 + b_1\big) \odot \big(%s W_u + b_u\big)\Big) W_2 + b_2,"
            r"\quad W_1, W_u \in \mathbb{R}^{%d \times %d}"
            % (act_name, ffn_source, ffn_source, f.hidden_size, f.ffn_size)
        )
        st.caption(tr("math_gated_help", fused=tr("math_fused_ffn") if w.fused_ffn else ""))
    else:
        latex(
            r"f_i = %s\big(%s W_1 + b_1\big) W_2 + b_2,\quad W_1 \in \mathbb{R}^{%d \times %d}"
            % (act_name, ffn_source, f.hidden_size, f.ffn_size)
        )
    if f.activation == "gelu":
        latex(act)
        st.caption(tr("gelu_phi"))
    if w.w_u is not None:
        c1, c2 = st.columns(2)
        with c1:
            chart(
                math_fig.matrix(
                    steps.ffn_gate,
                    labels,
                    f"{f.activation}({hn} W₁ + b₁)",
                    tr("unit"),
                    highlight_row=qi,
                ),
                key="math_ffn_gate",
            )
        with c2:
            chart(
                math_fig.matrix(
                    steps.ffn_up, labels, f"{hn} W_u + b_u", tr("unit"), highlight_row=qi
                ),
                key="math_ffn_up",
            )
        chart(
            math_fig.matrix(
                steps.ffn_act,
                labels,
                f"{f.activation}({hn} W₁ + b₁) ⊙ ({hn} W_u + b_u)",
                tr("unit"),
                highlight_row=qi,
            ),
            key="math_ffn",
        )
    else:
        chart(
            math_fig.matrix(
                steps.ffn_act, labels, f"{f.activation}({hn} W₁ + b₁)", tr("unit"), highlight_row=qi
            ),
            key="math_ffn",
        )
    if w.pre_norm:
        st.markdown(f"**{tr('math_res2')}**")
        latex(r"\mathrm{out}_i = h_i + f_i")
        chart(math_fig.vector(steps.stream[qi], None, f"out[{qi}]", tr("value")), key="math_out")
        if w.final is not None:
            st.markdown(f"**{tr('math_final')}**")
            latex(norm_latex(r"\mathrm{final}_i", r"\mathrm{out}_i", w.final.kind, w.final.eps))
            chart(
                math_fig.vector(steps.out[qi], None, f"final[{qi}]", tr("value")),
                key="math_final",
            )
    else:
        st.markdown(f"**{tr('math_ln2')}**")
        latex(r"\mathrm{out}_i = \mathrm{LayerNorm}(h_i + f_i)")
        chart(math_fig.vector(steps.out[qi], None, f"out[{qi}]", tr("value")), key="math_out")
