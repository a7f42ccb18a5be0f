"""The math of one encoder layer, recomputed in numpy from the captured layer input and the
model's own weights, step by step, so a learner can see every intermediate number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import erf

from viz.analysis.attention_math import attention_scores, softmax
from viz.errors import UserError

if TYPE_CHECKING:  # viz.weights reads them from the model, with torch; this module needs neither
    from viz.weights import LayerWeights


def activation(name: str, x: np.ndarray) -> np.ndarray:
    """The feed-forward nonlinearities of the supported encoders."""
    if name == "gelu":
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    if name == "relu":
        return np.maximum(x, 0.0)
    if name in ("silu", "swish"):
        return x / (1.0 + np.exp(-x))
    raise UserError("activation_unknown", name=name)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@dataclass(frozen=True)
class LayerSteps:
    """Every intermediate of one post-LayerNorm encoder layer (float64).

    x [T, D]; q, k, v [H, T, dk]; scores, probs [H, T, T]; heads [H, T, dk];
    concat [T, D]; attn_out [T, D]; h1 [T, D] (after residual + LayerNorm);
    ffn_pre, ffn_act [T, F]; ffn_out [T, D]; out [T, D]."""

    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    heads: np.ndarray
    concat: np.ndarray
    attn_out: np.ndarray
    h1: np.ndarray
    ffn_pre: np.ndarray
    ffn_act: np.ndarray
    ffn_out: np.ndarray
    out: np.ndarray


def recompute_layer(
    x: np.ndarray,
    w: LayerWeights,
    num_heads: int,
    bias: np.ndarray | None = None,
    factor: int = 1,
) -> LayerSteps:
    """x: the layer input [T, D] -> every step up to the layer output [T, D]. ``bias`` and
    ``factor``: the layer's relative-position term and score factor (``Trace.score_bias``,
    ``ModelFacts.score_factor``)."""
    x = x.astype(np.float64)
    T, D = x.shape
    dk = D // num_heads

    def split(y: np.ndarray) -> np.ndarray:  # [T, D] -> [H, T, dk]
        return y.reshape(T, num_heads, dk).transpose(1, 0, 2)

    q = split(x @ w.w_q.T.astype(np.float64) + w.b_q)
    k = split(x @ w.w_k.T.astype(np.float64) + w.b_k)
    v = split(x @ w.w_v.T.astype(np.float64) + w.b_v)
    scores = attention_scores(q, k, bias, factor=factor)  # [H, T, T]; one sentence: no mask
    probs = softmax(scores)
    heads = probs @ v  # [H, T, dk]
    concat = heads.transpose(1, 0, 2).reshape(T, D)
    attn_out = concat @ w.w_o.T.astype(np.float64) + w.b_o
    h1 = layer_norm(x + attn_out, w.ln1_g, w.ln1_b, w.eps)
    ffn_pre = h1 @ w.w_1.T.astype(np.float64) + w.b_1
    ffn_act = activation(w.activation, ffn_pre)
    ffn_out = ffn_act @ w.w_2.T.astype(np.float64) + w.b_2
    out = layer_norm(h1 + ffn_out, w.ln2_g, w.ln2_b, w.eps)
    return LayerSteps(
        x, q, k, v, scores, probs, heads, concat, attn_out, h1, ffn_pre, ffn_act, ffn_out, out
    )


def score_parts(
    steps: LayerSteps, head: int, query: int, bias: np.ndarray | None = None, factor: int = 1
) -> dict[str, np.ndarray]:
    """For one head and query token, every key's numbers [T] on the way to its weight: 'qk'
    (q·k), 'scaled' (q·k / √(dk·factor)), 'relative' (the relative-position term, when the
    model adds one), 'score' (what the softmax reads) and 'alpha' (the weight)."""
    q, k = steps.q[head, query], steps.k[head]  # [dk], [T, dk]
    qk = k @ q
    scaled = qk / np.sqrt(q.shape[-1] * factor)
    parts = {"qk": qk, "scaled": scaled}
    if bias is not None:
        parts["relative"] = bias[head, query].astype(np.float64)
    parts["score"] = steps.scores[head, query]
    parts["alpha"] = steps.probs[head, query]
    return parts
