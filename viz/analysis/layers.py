"""Layer-by-layer comparisons of hidden states. Inputs are a Trace's arrays; outputs arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) between [T, D1] and [T, D2] representations."""
    x = x.astype(np.float64) - x.mean(axis=0)
    y = y.astype(np.float64) - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / denom) if denom > 0 else 0.0


def cka_matrix(hidden: np.ndarray) -> np.ndarray:
    """[L+1, T, D] -> [L+1, L+1] linear CKA between every pair of layers, as ``linear_cka``.

    Through the token Gram matrices: with X centred, ‖YᵀX‖²_F = <XXᵀ, YYᵀ>_F, so one [T, T]
    Gram per layer replaces three [D, D] products per pair (bert-base at 512 tokens: 0.3 s
    instead of 1.8 s)."""
    x = hidden.astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    grams = (x @ x.transpose(0, 2, 1)).reshape(len(x), -1)  # [L+1, T*T]
    inner = grams @ grams.T
    norm = np.sqrt(np.diag(inner))
    denom = np.outer(norm, norm)
    out = np.divide(inner, denom, out=np.zeros_like(inner), where=denom > 0)
    np.fill_diagonal(out, 1.0)
    return out


def cosine_matrix(hidden: np.ndarray) -> np.ndarray:
    """[L+1, T, D] -> [L+1, L+1]: mean over tokens of cos(token at layer i, same token at j)."""
    unit = _unit(hidden.astype(np.float64))  # [L+1, T, D]
    return np.einsum("itd,jtd->ij", unit, unit) / hidden.shape[1]


def token_change(hidden: np.ndarray) -> np.ndarray:
    """[L+1, T, D] -> [L, T]: 1 - cos between each token's vector before and after layer l."""
    unit = _unit(hidden.astype(np.float64))
    return 1.0 - np.einsum("ltd,ltd->lt", unit[:-1], unit[1:])


def norms(hidden: np.ndarray) -> np.ndarray:
    """[..., T, D] -> [..., T] L2 norms."""
    return np.linalg.norm(hidden.astype(np.float64), axis=-1)


def residual_stream(
    hidden: np.ndarray, attn_out: np.ndarray, ffn_out: np.ndarray, pre_norm: bool
) -> np.ndarray:
    """[L+1, T, D]: the residual stream at every layer boundary. Post-norm: the hidden states.
    Pre-norm: the same but for the last, which the model reports after its final norm: here
    the stream itself, the last layer's input plus what its two blocks add."""
    if not pre_norm:
        return hidden
    stream = hidden.copy()
    stream[-1] = hidden[-2] + attn_out[-1] + ffn_out[-1]
    return stream


def contributions(
    hidden: np.ndarray, attn_out: np.ndarray, ffn_out: np.ndarray, pre_norm: bool = False
) -> np.ndarray:
    """How much each block adds, per layer, relative to the residual stream it is added to.

    Returns [L, 2]: mean over tokens of ‖attention update‖ / ‖layer input‖ and
    ‖feed-forward update‖ / ‖its base‖. Pre-norm, the feed-forward block's output is added to
    the stream after attention, x + a; post-norm (BERT) to LayerNorm(x + a), which the trace
    does not hold, so the layer input stands in for it."""
    base = norms(hidden[:-1])  # [L, T]
    base = np.where(base == 0, 1, base)
    ffn_base = norms(hidden[:-1] + attn_out) if pre_norm else base
    ffn_base = np.where(ffn_base == 0, 1, ffn_base)
    return np.stack(
        [(norms(attn_out) / base).mean(axis=1), (norms(ffn_out) / ffn_base).mean(axis=1)], axis=1
    )


def drift(original: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """[L+1, T, D] twice -> [L+1]: mean over tokens of 1 - cos between the two runs' vectors
    (how far an intervention such as a head ablation moved each layer's representations)."""
    a, b = _unit(original.astype(np.float64)), _unit(changed.astype(np.float64))
    return 1.0 - np.einsum("ltd,ltd->lt", a, b).mean(axis=1)


def head_importance(
    original: np.ndarray,
    run: Callable[[int], np.ndarray],
    num_layers: int,
    num_heads: int,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """[L, H]: for every head switched off on its own, how far the last layer moves: the mean
    over tokens of 1 - cos between the last layer's vectors with and without it (as ``drift``).
    ``original``: the last layer's [T, D] with every head on; ``run(layer)``: [H, T, D], the
    same with each head of that layer off in turn (0-based). ``progress(done, total)`` counts
    heads and is called after each layer."""
    total = num_layers * num_heads
    out = np.zeros((num_layers, num_heads))
    for layer in range(num_layers):
        changed = run(layer)
        out[layer] = drift(np.broadcast_to(original, changed.shape), changed)
        if progress is not None:
            progress((layer + 1) * num_heads, total)
    return out
