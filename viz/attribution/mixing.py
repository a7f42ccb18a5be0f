"""Context mixing per layer, [L, T, T]: row i is how much token i's output at layer l draws on
token j, read from a trace's captured arrays and the layer's own weights.

Every method decomposes (or perturbs) the post-LayerNorm encoder layer

    s_i = x_i + Σ_j Σ_h α_hij v_hj W_O^h + b_O,   y_i = LN1(s_i),   out_i = LN2(y_i + FFN(y_i))

with x = ``hidden_states[l]``, α = ``attentions[l]``, v = ``values[l]`` (bias included) and
the layer's W_O, b_O, LN1, FFN, LN2 (``viz.weights``). The part of s_i that comes from token j
is t_ij = Σ_h α_hij v_hj W_O^h (+ x_i when j = i, the residual); LayerNorm is linear once its
standard deviation σ_i is fixed at the input's, so token j's share of y_i is
T_ij = g1 ⊙ (t_ij - mean(t_ij)) / σ1_i.

- ``norm_residual`` (Kobayashi et al. 2021, "Incorporating Residual and Normalization Layers
  into Analysis of Masked Language Models"): ‖T_ij‖₂, the attention block with its residual and
  LayerNorm; raw norms (rows are not normalised; the paper reads norms).
- ``globenc`` (Modarressi et al. 2022): T_ij carried through the second LayerNorm as well
  (g2 ⊙ (T_ij - mean)/σ2_i, σ2 of LN2's real input; the feed-forward block itself is left
  out, as in the paper), ‖·‖₂, rows normalised to sum 1, rolled out as R_l = N_l R_(l-1).
- ``alti`` (Ferrando et al. 2022): with ŷ_i = Σ_j T_ij + the output bias's share (y_i without
  LN1's β, as the authors' code), c_ij = max(0, ‖ŷ_i‖₁ - ‖ŷ_i - T_ij‖₁), rows normalised to sum
  1, rolled out as R_l = C_l R_(l-1).
- ``value_zeroing`` (Mohebbi et al. 2023): token j's value vectors are set to zero in every head
  of layer l, the layer is recomputed (attention weights unchanged, so only the attention output
  moves; then LN1, the feed-forward block, LN2), C_ij = 1 - cos(out_i, out_i without j), rows
  normalised to sum 1, rolled out as the paper does (R_l = C_l R_(l-1)).

Pre-norm and other layers the decomposition above does not describe (``Family.differs``) get
``UserError("attr_not_defined")``: none of these papers decomposes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from viz.analysis.head_math import activation, layer_norm
from viz.errors import UserError
from viz.trace import Trace
from viz.weights import LayerWeights, layer_weights

MIXING_METHODS = ("norm_residual", "globenc", "alti", "value_zeroing")
ROLLED_OUT = ("globenc", "alti", "value_zeroing")  # the papers that roll their measure out
NEEDS = ("hidden_states", "attentions", "values", "attn_outputs", "ffn_outputs")
BLOCK_ELEMENTS = 8 * 2**20  # rows of [rows, T, D] float32 decomposed at once: 32 MB


@dataclass(frozen=True)
class MixingResult:
    method: str
    scores: np.ndarray  # float64 [L, T, T]
    rollout: np.ndarray | None  # float64 [L, T, T], or None where the paper does not roll out


def check_family(encoder) -> None:
    """``attr_not_defined`` for a family whose layer is not post-LayerNorm BERT's."""
    if encoder.family.differs:
        raise UserError(
            "attr_not_defined",
            model_type=encoder.facts.model_type,
            differs=", ".join(encoder.family.differs),
        )


def roll_out(per_layer: np.ndarray) -> np.ndarray:
    """[L, T, T] -> [L, T, T]: entry l is C_l ... C_0, each row-stochastic matrix applied to
    what the layers below mixed (the residual is inside each C already, so nothing is added)."""
    out = np.empty_like(per_layer)
    joint = np.eye(per_layer.shape[-1])
    for layer, C in enumerate(per_layer):
        joint = C @ joint
        out[layer] = joint
    return out


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    total = matrix.sum(axis=-1, keepdims=True)
    return np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)


@dataclass(frozen=True)
class _Layer:
    """What every method needs of one layer, float64."""

    x: np.ndarray  # [T, D] layer input
    probs: np.ndarray  # [H, T, T]
    sent: np.ndarray  # [T, H, D]: v_hj W_O^h, what token j sends through head h
    s: np.ndarray  # [T, D] LN1's input
    sigma1: np.ndarray  # [T]
    sigma2: np.ndarray  # [T]
    w: LayerWeights


def _layer(t: Trace, w: LayerWeights, layer: int) -> _Layer:
    H, dk = t.facts.num_heads, t.facts.head_dim
    x = t.hidden_states[layer].astype(np.float64)
    v = t.values[layer].astype(np.float64)  # [H, T, dk]
    W_o = w.w_o.astype(np.float64).reshape(w.w_o.shape[0], H, dk)  # [D, H, dk]
    sent = np.einsum("hjk,dhk->jhd", v, W_o)  # [T, H, D]
    s = x + t.attn_outputs[layer].astype(np.float64)
    y = layer_norm(s, w.ln1_g.astype(np.float64), w.ln1_b.astype(np.float64), w.eps)
    r = y + t.ffn_outputs[layer].astype(np.float64)
    return _Layer(
        x=x,
        probs=t.attentions[layer].astype(np.float64),
        sent=sent,
        s=s,
        sigma1=np.sqrt(s.var(axis=-1) + w.eps),
        sigma2=np.sqrt(r.var(axis=-1) + w.eps),
        w=w,
    )


def _decomposed(d: _Layer) -> Iterator[tuple[slice, np.ndarray]]:
    """Blocks of rows: (rows, T_ij [rows, T, D]), token j's share of LN1's output at i.

    float32 like the model: [T, T, D] is the methods' whole cost, in memory traffic."""
    T, D = d.x.shape
    step = max(1, BLOCK_ELEMENTS // (T * D))
    g1 = d.w.ln1_g.astype(np.float32)
    probs, sent, x = (a.astype(np.float32) for a in (d.probs, d.sent, d.x))
    scale = (1.0 / d.sigma1).astype(np.float32)
    for first in range(0, T, step):
        rows = slice(first, min(T, first + step))
        # t[i, j] = Σ_h α_hij sent[j, h]: for each j, [rows, H] @ [H, D]
        t = np.matmul(probs[:, rows, :].transpose(2, 1, 0), sent).transpose(1, 0, 2)
        idx = np.arange(rows.start, rows.stop)
        t[idx - first, idx] += x[rows]  # the residual belongs to the token itself
        t -= t.mean(axis=-1, keepdims=True)
        t *= g1
        t *= scale[rows, None, None]
        yield rows, t


def _per_layer(trace: Trace, encoder, fn: Callable[[_Layer], np.ndarray], progress) -> np.ndarray:
    L, T = trace.facts.num_layers, trace.num_tokens
    out = np.empty((L, T, T))
    for layer in range(L):
        out[layer] = fn(_layer(trace, layer_weights(encoder, layer), layer))
        if progress is not None:
            progress((layer + 1) / L)
    return out


def norm_residual_layer(d: _Layer) -> np.ndarray:
    T = d.x.shape[0]
    out = np.empty((T, T))
    for rows, parts in _decomposed(d):
        out[rows] = np.linalg.norm(parts, axis=-1)
    return out


def globenc_layer(d: _Layer) -> np.ndarray:
    T = d.x.shape[0]
    g2 = d.w.ln2_g.astype(np.float32)
    scale = (1.0 / d.sigma2).astype(np.float32)
    out = np.empty((T, T))
    for rows, parts in _decomposed(d):
        parts -= parts.mean(axis=-1, keepdims=True)
        parts *= g2
        parts *= scale[rows, None, None]
        out[rows] = np.linalg.norm(parts, axis=-1)
    return normalise_rows(out)


def alti_layer(d: _Layer) -> np.ndarray:
    T = d.x.shape[0]
    g1, b_o = d.w.ln1_g.astype(np.float64), d.w.b_o.astype(np.float64)
    bias = g1 * (b_o - b_o.mean())  # the output bias's share of LN1's output, before 1/σ
    out = np.empty((T, T))
    for rows, parts in _decomposed(d):
        whole = parts.sum(axis=1, dtype=np.float64) + bias / d.sigma1[rows, None]  # [rows, D]
        size = np.abs(whole).sum(axis=-1)  # ‖ŷ_i‖₁
        parts -= whole[:, None, :].astype(np.float32)
        distance = np.abs(parts).sum(axis=-1, dtype=np.float64)  # ‖ŷ_i - T_ij‖₁
        out[rows] = np.maximum(0.0, size[:, None] - distance)
    return normalise_rows(out)


def _layer_out(d: _Layer, s: np.ndarray) -> np.ndarray:
    """LN1's input s [..., T, D] -> the layer's output, as the model computes it."""
    w = d.w  # float32 like the model: the feed-forward block is most of the method's time
    y = layer_norm(s.astype(np.float32), w.ln1_g, w.ln1_b, w.eps)
    h = activation(w.activation, y @ w.w_1.T + w.b_1)
    return layer_norm(y + h @ w.w_2.T + w.b_2, w.ln2_g, w.ln2_b, w.eps).astype(np.float64)


def value_zeroing_layer(d: _Layer, batch: int = 8) -> np.ndarray:
    T = d.x.shape[0]
    reference = _layer_out(d, d.s)  # [T, D]: recomputed the same way, so only j's absence differs
    ref_norm = np.linalg.norm(reference, axis=-1)
    out = np.empty((T, T))
    for first in range(0, T, batch):
        js = np.arange(first, min(T, first + batch))
        # what token j sent to every i through attention: Σ_h α_hij sent[j, h] -> [J, T, D]
        gone = np.einsum("hij,jhd->jid", d.probs[:, :, js], d.sent[js])
        changed = _layer_out(d, d.s[None] - gone)  # [J, T, D]
        cos = (changed * reference).sum(-1) / (
            np.linalg.norm(changed, axis=-1) * ref_norm + 1e-12
        )  # [J, T]
        out[:, js] = (1.0 - cos).T
    return normalise_rows(np.maximum(out, 0.0))


LAYER_FUNCTIONS = {
    "norm_residual": norm_residual_layer,
    "globenc": globenc_layer,
    "alti": alti_layer,
    "value_zeroing": value_zeroing_layer,
}


def mixing(encoder, trace: Trace, method: str, progress=None) -> MixingResult:
    """``method`` (one of MIXING_METHODS) over every layer of ``trace``, which ``encoder``
    made; see the module's docstring."""
    if method not in LAYER_FUNCTIONS:
        raise UserError("attr_method_unknown", method=method, choices=", ".join(MIXING_METHODS))
    check_family(encoder)
    missing = [n for n in NEEDS if getattr(trace, n) is None]
    if missing:
        raise RuntimeError(f"mixing needs a trace with {', '.join(missing)}")
    scores = _per_layer(trace, encoder, LAYER_FUNCTIONS[method], progress)
    return MixingResult(method, scores, roll_out(scores) if method in ROLLED_OUT else None)
