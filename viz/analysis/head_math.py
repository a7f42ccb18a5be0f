"""The math of one encoder layer, recomputed in numpy from the captured layer input and the
model's own weights, step by step, so a learner can see every intermediate number.

One function covers every family's layer, in the order the model runs it: post-norm (BERT: the
residual add, then the norm) or pre-norm (the norm before attention and before the feed-forward
block, the residual add after, a final norm after the last layer); rotary positions applied to
q and k; keys and values shared by groups of query heads; a sliding window of keys; a gated
feed-forward block (``act(x W_1) * (x W_u)``, then ``W_2``)."""

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


NORM_KINDS = ("layer", "rms", "identity")


@dataclass(frozen=True)
class Norm:
    """A norm as the model applies it: LayerNorm (``layer``), RMSNorm (``rms``: no mean taken
    out, no bias) or nothing in a norm's place (``identity``: ModernBERT's first layer).
    gain, bias [D]."""

    kind: str
    gain: np.ndarray
    bias: np.ndarray
    eps: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "identity":
            return x
        if self.kind == "rms":
            return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps) * self.gain
        return layer_norm(x, self.gain, self.bias, self.eps)


@dataclass(frozen=True)
class Rotary:
    """Rotary positions: position i turns each pair of q's (and k's) dimensions by the angle
    i·θ_p. ``layout`` says which dimensions pair up: ``half`` (p with p + dk/2, transformers'
    ``rotate_half``) or ``interleaved`` (2p with 2p + 1, RoFormer). ``inv_freq`` [dk/2] is θ;
    ``scale`` multiplies cos and sin (1 for the default rotation); ``on_value``: V is rotated
    too (RoFormer's ``rotary_value``)."""

    inv_freq: np.ndarray
    layout: str
    scale: float = 1.0
    on_value: bool = False

    def angles(self, num_tokens: int) -> np.ndarray:
        """[T, dk/2]: the angle position i turns pair p by."""
        return np.arange(num_tokens, dtype=np.float64)[:, None] * self.inv_freq[None, :]

    def pairs(self, dk: int) -> tuple[np.ndarray, np.ndarray]:
        """The two dimensions of every pair, [dk/2] each."""
        half = np.arange(dk // 2)
        if self.layout == "interleaved":
            return 2 * half, 2 * half + 1
        return half, half + dk // 2

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x [H, T, dk] -> the same rotated: (a, b) -> (a cos - b sin, b cos + a sin)."""
        first, second = self.pairs(x.shape[-1])
        angles = self.angles(x.shape[1])
        cos, sin = np.cos(angles) * self.scale, np.sin(angles) * self.scale  # [T, dk/2]
        a, b = x[..., first], x[..., second]
        out = np.empty_like(x)
        out[..., first] = a * cos - b * sin
        out[..., second] = b * cos + a * sin
        return out


def window_mask(num_tokens: int, window: int | None) -> np.ndarray | None:
    """[T, T] bool, True where query i may see key j (|i - j| <= window); None: every key."""
    if window is None:
        return None
    positions = np.arange(num_tokens)
    return np.abs(positions[:, None] - positions[None, :]) <= window


@dataclass(frozen=True)
class LayerSteps:
    """Every intermediate of one encoder layer (float64).

    x [T, D]; q, k, v [H, T, dk] (as the scores use them: after the rotation, keys and values
    repeated to every query head of their group); scores, probs [H, T, T]; heads [H, T, dk];
    concat [T, D]; attn_out [T, D]; h1 [T, D] (post-norm: after residual + LayerNorm; pre-norm:
    the residual stream after attention, x + attn_out); ffn_pre [T, F] (the activation's input),
    ffn_act [T, F] (the input of W_2: the activation, times the multiplier when gated);
    ffn_out [T, D]; out [T, D] (what the model reports as the layer's hidden state: after the
    final norm for a pre-norm model's last layer).

    Only for the layers that have them, else None: n1, n2 [T, D] (pre-norm: the norm's output
    that attention and the feed-forward block read); q_raw, k_raw [H, T, dk] (before the
    rotation); angles [T, dk/2]; visible [T, T] (a local layer's window); ffn_gate [T, F] (the
    activation alone) and ffn_up [T, F] (the multiplier) of a gated block; stream [T, D] (the
    residual stream before the final norm)."""

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
    n1: np.ndarray | None = None
    n2: np.ndarray | None = None
    q_raw: np.ndarray | None = None
    k_raw: np.ndarray | None = None
    angles: np.ndarray | None = None
    visible: np.ndarray | None = None
    ffn_gate: np.ndarray | None = None
    ffn_up: np.ndarray | None = None
    stream: np.ndarray | None = None


def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x @ weight.T.astype(np.float64) + bias


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
    dk = w.w_q.shape[0] // num_heads
    kv_heads = w.kv_heads or num_heads

    def split(y: np.ndarray, heads: int) -> np.ndarray:  # [T, heads*dk] -> [heads, T, dk]
        return y.reshape(T, heads, dk).transpose(1, 0, 2)

    def per_query_head(y: np.ndarray) -> np.ndarray:  # [Hkv, T, dk] -> [H, T, dk]
        return np.repeat(y, num_heads // kv_heads, axis=0)

    norm1, norm2 = w.norm1, w.norm2
    n1 = norm1(x) if w.pre_norm else None
    a_in = n1 if w.pre_norm else x
    q = split(_linear(a_in, w.w_q, w.b_q), num_heads)
    k = split(_linear(a_in, w.w_k, w.b_k), kv_heads)
    v = split(_linear(a_in, w.w_v, w.b_v), kv_heads)
    q_raw = k_raw = angles = None
    if w.rotary is not None:
        q_raw, k_raw = q, per_query_head(k)
        q, k = w.rotary.apply(q), w.rotary.apply(k)
        if w.rotary.on_value:
            v = w.rotary.apply(v)
        angles = w.rotary.angles(T)
    k, v = per_query_head(k), per_query_head(v)
    visible = window_mask(T, w.window)
    scores = attention_scores(q, k, bias, factor=factor)  # [H, T, T]; one sentence: no padding
    if visible is not None:
        scores = np.where(visible[None], scores, -np.inf)
    probs = softmax(scores)
    heads = probs @ v  # [H, T, dk]
    concat = heads.transpose(1, 0, 2).reshape(T, num_heads * dk)
    attn_out = _linear(concat, w.w_o, w.b_o)
    if w.pre_norm:
        h1 = x + attn_out
        n2 = norm2(h1)
        f_in = n2
    else:
        h1 = norm1(x + attn_out)
        n2, f_in = None, h1
    ffn_pre = _linear(f_in, w.w_1, w.b_1)
    ffn_gate = ffn_up = None
    if w.w_u is not None:
        ffn_gate = activation(w.activation, ffn_pre)
        ffn_up = _linear(f_in, w.w_u, w.b_u)
        ffn_act = ffn_gate * ffn_up
    else:
        ffn_act = activation(w.activation, ffn_pre)
    ffn_out = _linear(ffn_act, w.w_2, w.b_2)
    if w.pre_norm:
        stream = h1 + ffn_out
        out = w.final(stream) if w.final is not None else stream
    else:
        stream = None
        out = norm2(h1 + ffn_out)
    return LayerSteps(
        x, q, k, v, scores, probs, heads, concat, attn_out, h1, ffn_pre, ffn_act, ffn_out, out,
        n1=n1, n2=n2, q_raw=q_raw, k_raw=k_raw, angles=angles, visible=visible,
        ffn_gate=ffn_gate, ffn_up=ffn_up, stream=stream,
    )  # fmt: skip


def score_parts(
    steps: LayerSteps, head: int, query: int, bias: np.ndarray | None = None, factor: int = 1
) -> dict[str, np.ndarray]:
    """For one head and query token, every key's numbers [T] on the way to its weight: 'qk'
    (q·k), 'scaled' (q·k / √(dk·factor)), 'relative' (the relative-position term, when the
    model adds one), 'score' (what the softmax reads: -inf outside a local layer's window) and
    'alpha' (the weight)."""
    q, k = steps.q[head, query], steps.k[head]  # [dk], [T, dk]
    qk = k @ q
    scaled = qk / np.sqrt(q.shape[-1] * factor)
    parts = {"qk": qk, "scaled": scaled}
    if bias is not None:
        parts["relative"] = bias[head, query].astype(np.float64)
    parts["score"] = steps.scores[head, query]
    parts["alpha"] = steps.probs[head, query]
    return parts
