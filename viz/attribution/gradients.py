"""Gradient attributions of a target (``targets.py``) to the input tokens, one score per token.

Every method differentiates the target with respect to the output of the word-embedding
module (``get_input_embeddings()``): a forward hook puts the embeddings in, and the model runs
on the real token ids, so position and segment embeddings (which no token owns) stay those of
the input.

The baseline (Integrated Gradients' starting point; ``baseline_value`` for every method): each
token of the text becomes the padding token ([PAD]; the mask token when the tokenizer has no
padding token), special tokens ([CLS], [SEP], and the masked position of an ``mlm`` target) are
kept.

- ``grad_input``: gradient x input (Shrikumar et al. 2017; Captum ``InputXGradient``), the
  gradient at the input times the input embedding, summed over the embedding.
- ``integrated_gradients`` (Sundararajan et al. 2017; Captum ``IntegratedGradients``,
  Gauss-Legendre, ``steps`` points, batched): the scores sum to f(input) - f(baseline).
- ``attn_grad``: Chefer et al. (ICCV 2021, "Generic Attention-model Explainability"), the
  gradient-weighted rollout: per layer Ā = mean over heads of (∇A ⊙ A)⁺, R ← R + Ā R from
  R = I; a token's score is its column in the target's row of R (the mean of the rows for
  ``similarity``, which mean-pools; the rows up to LAYER for ``token``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from viz.attribution.targets import Target
from viz.capture.run import model_inputs
from viz.errors import UserError
from viz.models import Encoder
from viz.tokens import Encoded, encode

GRADIENT_METHODS = ("grad_input", "integrated_gradients", "attn_grad")
DEFAULT_STEPS = 64
# Integrated Gradients runs its interpolation points in batches that keep the autograd graph
# (activations and attention maps kept for the backward pass) under about this.
GRAPH_BYTES = 512 * 2**20

Progress = Callable[[float], None]


@dataclass(frozen=True)
class GradientResult:
    """One score per input token: the sentence's tokens, then (``similarity``) the pair's."""

    method: str
    target: Target
    scores: np.ndarray  # float64 [T]
    tokens: tuple[str, ...]
    display_tokens: tuple[str, ...]
    special: np.ndarray  # bool [T]
    segments: np.ndarray  # int64 [T]: 0 the sentence, 1 the pair
    value: float  # the target at the input
    baseline_value: float  # the target at the baseline
    steps: int | None = None  # Integrated Gradients' points
    delta: float | None = None  # IG: sum(scores) - (value - baseline_value)


@dataclass
class _Part:
    """One input the model runs: the ids, and the ids and embeddings of input and baseline."""

    enc: Encoded
    ids: torch.Tensor  # [1, T]
    baseline_ids: torch.Tensor  # [1, T]


def _baseline_token(tokenizer: object) -> int:
    for name in ("pad_token_id", "mask_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise UserError("attr_no_baseline_token")


def _parts(encoder: Encoder, text: str, pair: str | None, target: Target) -> list[_Part]:
    f, tok = encoder.facts, encoder.tokenizer
    if target.kind == "similarity":
        if pair is None:
            raise UserError("attr_similarity_pair")
        encs = [encode(tok, text, None, f.max_tokens), encode(tok, pair, None, f.max_tokens)]
    else:
        encs = [encode(tok, text, pair, f.max_tokens)]
    T = len(encs[0].input_ids)
    keep = [np.asarray(e.special, dtype=bool).copy() for e in encs]
    ids = [list(e.input_ids) for e in encs]
    if target.kind == "mlm":
        if not f.has_mlm_head:
            raise UserError("no_mlm_head", name=encoder.name)
        mask = getattr(tok, "mask_token_id", None)
        if mask is None:
            raise UserError("no_mask_token")
        if not 0 <= target.position < T:
            raise UserError("attr_position", position=target.position, last=T - 1)
        if encs[0].special[target.position]:
            raise UserError("attr_mlm_position", position=target.position, last=T - 1)
        ids[0][target.position] = int(mask)
        keep[0][target.position] = True
    if target.kind == "token":
        if not 0 <= target.position < T:
            raise UserError("attr_position", position=target.position, last=T - 1)
        if not 0 <= target.layer <= f.num_layers:
            raise UserError("attr_layer", layer=target.layer, last=f.num_layers)
    base = _baseline_token(tok)
    parts = []
    for enc, row, kept in zip(encs, ids, keep):
        baseline = [i if k else base for i, k in zip(row, kept)]
        parts.append(
            _Part(
                enc,
                torch.tensor([row], device=encoder.device),
                torch.tensor([baseline], device=encoder.device),
            )
        )
    return parts


@contextlib.contextmanager
def _embeddings_in(encoder: Encoder, emb: torch.Tensor) -> Iterator[None]:
    """While inside, the word-embedding module outputs ``emb`` [B, T, E] instead."""
    handle = encoder.base.get_input_embeddings().register_forward_hook(lambda m, i, o: emb)
    try:
        yield
    finally:
        handle.remove()


def _run(encoder: Encoder, part: _Part, emb: torch.Tensor, attentions: bool = False):
    """The base model's output for ``part`` with word embeddings ``emb`` [B, T, E]."""
    rows = emb.shape[0]
    inputs = model_inputs(encoder, part.enc, rows)
    inputs["input_ids"] = part.ids.expand(rows, -1)  # the masked id of an mlm target
    inputs = {**inputs, "output_hidden_states": True}
    if attentions:
        inputs["output_attentions"] = True
    with _embeddings_in(encoder, emb):
        return encoder.base(**inputs)


def _target_function(
    encoder: Encoder, parts: list[_Part], target: Target, attentions: list | None = None
) -> Callable[..., torch.Tensor]:
    """f(*embeddings [B, T_p, E]) -> [B]. ``attentions``: a list that collects each run's
    attention maps (for ``attn_grad``)."""
    L = encoder.facts.num_layers
    direction: list[torch.Tensor] = []  # token target: the unit vector at the input

    def layer_vectors(out, layer: int) -> torch.Tensor:  # [B, T, D]
        return out[0] if layer == L else out.hidden_states[layer]

    def f(*embs: torch.Tensor) -> torch.Tensor:
        outs = [_run(encoder, p, e, attentions is not None) for p, e in zip(parts, embs)]
        if attentions is not None:
            attentions.extend(o.attentions for o in outs)
        if target.kind == "similarity":
            a, b = (o[0].mean(dim=1) for o in outs)  # [B, D] each: mean over tokens
            return torch.nn.functional.cosine_similarity(a, b, dim=-1)
        if target.kind == "mlm":
            logits = encoder.mlm_logits(outs[0][0][:, target.position])  # [B, V]
            if not direction:
                direction.append(logits[0].argmax().detach())
            return logits[:, direction[0]]
        vec = layer_vectors(outs[0], target.layer)[:, target.position]  # [B, D]
        if not direction:
            first = vec[0].detach()
            direction.append(first / first.norm().clamp_min(1e-12))
        return vec @ direction[0]

    return f


def _embeddings(encoder: Encoder, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return encoder.base.get_input_embeddings()(ids).detach()


def _graph_rows(encoder: Encoder, parts: list[_Part]) -> int:
    """Rows (interpolation points) per batch so that the graph stays under GRAPH_BYTES."""
    f = encoder.facts
    per_row = 0
    for p in parts:
        T = p.ids.shape[1]
        per_row += (
            4 * f.num_layers * (3 * f.num_heads * T * T + T * (12 * f.hidden_size + 3 * f.ffn_size))
        )
    return max(1, GRAPH_BYTES // max(per_row, 1))


def attribute_gradient(
    encoder: Encoder,
    text: str,
    pair: str | None,
    method: str,
    target: Target,
    steps: int = DEFAULT_STEPS,
    progress: Progress | None = None,
) -> GradientResult:
    """``method`` (one of GRADIENT_METHODS) for ``target``; see the module's docstring."""
    from captum.attr import InputXGradient, IntegratedGradients

    if method not in GRADIENT_METHODS:
        raise UserError("attr_method_unknown", method=method, choices=", ".join(GRADIENT_METHODS))
    if steps < 2:
        raise UserError("attr_steps", steps=steps)
    parts = _parts(encoder, text, pair, target)
    report = progress or (lambda done: None)
    with encoder.lock, torch.enable_grad():
        inputs = tuple(_embeddings(encoder, p.ids) for p in parts)
        baselines = tuple(_embeddings(encoder, p.baseline_ids) for p in parts)
        f = _target_function(encoder, parts, target)
        value = float(f(*inputs)[0].detach())  # also fixes the mlm / token direction
        baseline_value = float(f(*baselines)[0].detach())
        delta = None
        if method == "grad_input":
            leaves = tuple(e.clone().requires_grad_(True) for e in inputs)
            attributions = InputXGradient(f).attribute(leaves)
            scores = np.concatenate(
                [a[0].sum(-1).detach().double().cpu().numpy() for a in attributions]
            )
        elif method == "integrated_gradients":
            rows = min(steps, _graph_rows(encoder, parts))
            calls = [0]
            expected = -(-steps // rows)

            def counted(*embs: torch.Tensor) -> torch.Tensor:
                out = f(*embs)
                calls[0] += 1
                report(min(1.0, calls[0] / expected))
                return out

            attributions = IntegratedGradients(counted).attribute(
                inputs, baselines, n_steps=steps, internal_batch_size=rows
            )
            scores = np.concatenate(
                [a[0].sum(-1).detach().double().cpu().numpy() for a in attributions]
            )
            delta = float(scores.sum() - (value - baseline_value))
        else:
            scores = _attn_grad(encoder, parts, target, inputs)
    report(1.0)
    encs = [p.enc for p in parts]
    return GradientResult(
        method=method,
        target=target,
        scores=scores,
        tokens=tuple(t for e in encs for t in e.tokens),
        display_tokens=tuple(t for e in encs for t in e.display),
        special=np.concatenate([np.asarray(e.special, dtype=bool) for e in encs]),
        segments=np.concatenate(
            [
                np.asarray(e.segment_ids) if len(encs) == 1 else np.full(len(e.tokens), k)
                for k, e in enumerate(encs)
            ]
        ).astype(np.int64),
        value=value,
        baseline_value=baseline_value,
        steps=steps if method == "integrated_gradients" else None,
        delta=delta,
    )


def _attn_grad(
    encoder: Encoder, parts: list[_Part], target: Target, inputs: tuple[torch.Tensor, ...]
) -> np.ndarray:
    maps: list = []
    f = _target_function(encoder, parts, target, attentions=maps)
    value = f(*inputs)[0]
    # the layers below the target: a token's vector at layer l depends on those only
    layers = target.layer if target.kind == "token" else encoder.facts.num_layers
    used = [run[:layers] for run in maps]
    flat = [a for run in used for a in run]
    if any(a is None for a in flat) or (layers and not flat):
        raise UserError("attr_no_attention", model_type=encoder.facts.model_type)
    grads = torch.autograd.grad(value, flat, allow_unused=True) if flat else ()
    if any(g is None for g in grads):
        raise UserError("attr_no_attention", model_type=encoder.facts.model_type)
    scores, at = [], 0
    for run in used:
        T = parts[len(scores)].ids.shape[1]
        R = torch.eye(T, dtype=torch.float64)
        for a, g in zip(run, grads[at : at + len(run)]):
            cam = (g[0] * a[0]).clamp(min=0).mean(dim=0).double()  # [T, T]
            R = R + cam @ R
        at += len(run)
        if target.kind == "similarity":
            scores.append(R.mean(dim=0).detach().cpu().numpy())
        else:
            scores.append(R[target.position].detach().cpu().numpy())
    return np.concatenate(scores)
