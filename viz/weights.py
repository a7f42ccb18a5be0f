"""One layer's weights as numpy arrays, found through the family's module paths (viz.arch)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from viz.analysis.head_math import Norm, Rotary
from viz.arch import resolve
from viz.models import Encoder


@dataclass(frozen=True)
class LayerWeights:
    """torch Linear layout: weight [out, in]. D hidden, F feed-forward, H*dk = D.

    The fields after ``activation`` describe what a layer may do that post-norm BERT's does not
    (``viz.arch.family.DIFFERENCES``); their defaults are BERT's layer."""

    w_q: np.ndarray  # [H*dk, D]
    b_q: np.ndarray  # [H*dk]
    w_k: np.ndarray  # [Hkv*dk, D]: Hkv = H unless grouped
    b_k: np.ndarray
    w_v: np.ndarray
    b_v: np.ndarray
    w_o: np.ndarray  # [D, H*dk]
    b_o: np.ndarray
    ln1_g: np.ndarray  # [D]: the norm after attention's residual add (pre-norm: before attention)
    ln1_b: np.ndarray
    w_1: np.ndarray  # [F, D]: the projection the activation reads
    b_1: np.ndarray  # [F]
    w_2: np.ndarray  # [D, F]
    b_2: np.ndarray  # [D]
    ln2_g: np.ndarray  # the norm after the feed-forward add (pre-norm: before the block)
    ln2_b: np.ndarray
    eps: float
    activation: str
    pre_norm: bool = False
    ln1_kind: str = "layer"  # viz.analysis.head_math.NORM_KINDS
    ln2_kind: str = "layer"
    w_u: np.ndarray | None = None  # gated: [F, D], the multiplier of the activation
    b_u: np.ndarray | None = None
    kv_heads: int | None = None  # grouped: the heads of K and V; None: one per query head
    rotary: Rotary | None = None
    window: int | None = None  # a local layer: the keys within this distance of the query
    final: Norm | None = None  # the last layer of a pre-norm model: the final norm
    fused_qkv: bool = False  # Q, K and V are three parts of one projection's output
    fused_ffn: bool = False  # the activation's input and its multiplier: two halves of w_1's

    def described(self) -> LayerWeights:
        """The same layer without its projection matrices: what a page needs to name each step,
        cheap to cache and copy (a bert-base layer's matrices are 28 MB)."""
        empty = np.zeros((0, 0), np.float32)
        gated = None if self.w_u is None else empty
        return replace(
            self, w_q=empty, w_k=empty, w_v=empty, w_o=empty, w_1=empty, w_2=empty, w_u=gated
        )

    @property
    def norm1(self) -> Norm:
        return Norm(self.ln1_kind, self.ln1_g, self.ln1_b, self.eps)

    @property
    def norm2(self) -> Norm:
        return Norm(self.ln2_kind, self.ln2_g, self.ln2_b, self.eps)


def _np(t: torch.Tensor | None, size: int) -> np.ndarray:
    if t is None:
        return np.zeros(size, dtype=np.float32)
    return t.detach().float().cpu().numpy()


def norm_of(module: nn.Module, size: int) -> Norm:
    """A LayerNorm's gain, bias and epsilon; an RMSNorm has no bias (zeros) and may call its
    epsilon ``variance_epsilon``; an identity in a norm's place (ModernBERT's first layer)
    changes nothing."""
    if isinstance(module, nn.Identity):
        return Norm("identity", np.ones(size, np.float32), np.zeros(size, np.float32), 0.0)
    weight = getattr(module, "weight", None)
    gain = _np(weight, 0) if weight is not None else np.ones(size, np.float32)
    kind = "layer" if isinstance(module, nn.LayerNorm) else "rms"
    eps = getattr(module, "eps", getattr(module, "variance_epsilon", 0.0))
    return Norm(kind, gain, _np(getattr(module, "bias", None), size), float(eps or 0.0))


def rotary_of(encoder: Encoder, layer_module: nn.Module, attention: nn.Module) -> Rotary | None:
    """The rotation the family's layer applies to q and k, with the frequencies the model
    itself holds (ModernBERT: one set for global layers and one for local layers)."""
    layout = encoder.family.rotary
    if layout is None:
        return None
    dk = encoder.facts.head_dim
    if layout == "interleaved":  # RoFormer's sinusoidal table: angle p = pos / 10000^(2p/dk)
        inv_freq = 10000.0 ** (-np.arange(0, dk, 2, dtype=np.float64) / dk)
        return Rotary(inv_freq, layout, on_value=bool(getattr(attention, "rotary_value", False)))
    rotary = resolve(encoder.base, "rotary_emb")
    kind = getattr(layer_module, "attention_type", None)
    prefix = f"{kind}_" if kind is not None and hasattr(rotary, f"{kind}_inv_freq") else ""
    inv_freq = getattr(rotary, f"{prefix}inv_freq").detach().double().cpu().numpy()
    scale = float(getattr(rotary, f"{prefix}attention_scaling", 1.0))
    return Rotary(inv_freq, layout, scale)


def window_of(encoder: Encoder, attention: nn.Module) -> int | None:
    """A local layer's reach: the keys within ``config.sliding_window`` of the query (the
    bidirectional sliding-window mask of transformers' masking_utils)."""
    if getattr(attention, "sliding_window", None) is None:
        return None
    return int(encoder.model.config.sliding_window)


def layer_weights(encoder: Encoder, layer: int) -> LayerWeights:
    """Weights of layer ``layer`` (0-based); ALBERT's shared layer serves every index."""
    layers = encoder.layers
    module = layers[0] if encoder.facts.shared_layers else layers[layer]
    family = encoder.family
    p = family.paths
    size = encoder.facts.hidden_size

    def linear(path: str) -> tuple[np.ndarray, np.ndarray]:
        lin = resolve(module, path)
        return _np(lin.weight, 0), _np(lin.bias, lin.weight.shape[0])

    fused_qkv = p.query == p.key == p.value
    if fused_qkv:  # one Linear D -> 3 H dk: Q, K and V one after the other (view(3, H, dk))
        w, b = linear(p.query)
        (w_q, w_k, w_v), (b_q, b_k, b_v) = np.split(w, 3), np.split(b, 3)
    else:
        w_q, b_q = linear(p.query)
        w_k, b_k = linear(p.key)
        w_v, b_v = linear(p.value)
    w_o, b_o = linear(p.attn_out)
    w_u = b_u = None
    fused_ffn = p.ffn_gate is not None and p.ffn_gate == p.ffn_in
    if fused_ffn:  # one Linear D -> 2F: the activation's input, then its multiplier
        w, b = linear(p.ffn_in)
        (w_1, w_u), (b_1, b_u) = np.split(w, 2), np.split(b, 2)
    elif p.ffn_gate is not None:
        w_1, b_1 = linear(p.ffn_gate)
        w_u, b_u = linear(p.ffn_in)
    else:
        w_1, b_1 = linear(p.ffn_in)
    w_2, b_2 = linear(p.ffn_out)
    n1 = norm_of(resolve(module, p.attn_norm), size)
    n2 = norm_of(resolve(module, p.ffn_norm), size)
    attention = resolve(module, p.attention)
    pre_norm = "pre_norm" in family.differs
    final = None
    if pre_norm and family.final_norm is not None and layer == encoder.facts.num_layers - 1:
        final = norm_of(resolve(encoder.base, family.final_norm), size)
    dk = encoder.facts.head_dim
    kv_heads = w_k.shape[0] // dk
    return LayerWeights(
        w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, n1.gain, n1.bias, w_1, b_1, w_2, b_2,
        n2.gain, n2.bias, n1.eps if n1.kind != "identity" else n2.eps, encoder.facts.activation,
        pre_norm=pre_norm,
        ln1_kind=n1.kind,
        ln2_kind=n2.kind,
        w_u=w_u,
        b_u=b_u,
        kv_heads=kv_heads if kv_heads != encoder.facts.num_heads else None,
        rotary=rotary_of(encoder, module, attention),
        window=window_of(encoder, attention),
        final=final,
        fused_qkv=fused_qkv,
        fused_ffn=fused_ffn,
    )  # fmt: skip


def layer_windows(encoder: Encoder) -> list[int | None]:
    """Every layer's window (``window_of``): None for a global layer."""
    attention = encoder.family.paths.attention
    return [window_of(encoder, resolve(layer, attention)) for layer in encoder.layers]
