"""One layer's weights as numpy arrays, found through the family's module paths (viz.arch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz.arch import resolve
from viz.models import Encoder


@dataclass(frozen=True)
class LayerWeights:
    """torch Linear layout: weight [out, in]. D hidden, F feed-forward, H*dk = D."""

    w_q: np.ndarray  # [D, D]
    b_q: np.ndarray  # [D]
    w_k: np.ndarray
    b_k: np.ndarray
    w_v: np.ndarray
    b_v: np.ndarray
    w_o: np.ndarray  # [D, D]
    b_o: np.ndarray
    ln1_g: np.ndarray  # [D]
    ln1_b: np.ndarray
    w_1: np.ndarray  # [F, D]
    b_1: np.ndarray  # [F]
    w_2: np.ndarray  # [D, F]
    b_2: np.ndarray  # [D]
    ln2_g: np.ndarray
    ln2_b: np.ndarray
    eps: float
    activation: str


def _np(t: torch.Tensor | None, size: int) -> np.ndarray:
    if t is None:
        return np.zeros(size, dtype=np.float32)
    return t.detach().float().cpu().numpy()


def layer_weights(encoder: Encoder, layer: int) -> LayerWeights:
    """Weights of layer ``layer`` (0-based); ALBERT's shared layer serves every index."""
    layers = encoder.layers
    module = layers[0] if encoder.facts.shared_layers else layers[layer]
    p = encoder.family.paths

    def linear(path: str) -> tuple[np.ndarray, np.ndarray]:
        lin = resolve(module, path)
        return _np(lin.weight, 0), _np(lin.bias, lin.weight.shape[0])

    def norm(path: str) -> tuple[np.ndarray, np.ndarray, float]:
        """A LayerNorm's gain, bias and epsilon; an RMSNorm has no bias (zeros) and may call
        its epsilon ``variance_epsilon``; an identity in a norm's place (ModernBERT's first
        layer) is a gain of ones."""
        ln = resolve(module, path)
        size = encoder.facts.hidden_size
        weight = getattr(ln, "weight", None)
        gain = _np(weight, 0) if weight is not None else np.ones(size, np.float32)
        eps = getattr(ln, "eps", getattr(ln, "variance_epsilon", 0.0))
        return gain, _np(getattr(ln, "bias", None), size), float(eps or 0.0)

    w_q, b_q = linear(p.query)
    w_k, b_k = linear(p.key)
    w_v, b_v = linear(p.value)
    w_o, b_o = linear(p.attn_out)
    w_1, b_1 = linear(p.ffn_in)
    w_2, b_2 = linear(p.ffn_out)
    g1, be1, eps = norm(p.attn_norm)
    g2, be2, _ = norm(p.ffn_norm)
    return LayerWeights(
        w_q,
        b_q,
        w_k,
        b_k,
        w_v,
        b_v,
        w_o,
        b_o,
        g1,
        be1,
        w_1,
        b_1,
        w_2,
        b_2,
        g2,
        be2,
        eps,
        encoder.facts.activation,
    )
