"""Capture what every layer computes, through forward hooks.

``capture(encoder)`` is the one context manager that registers hooks: every hook is added inside
``try`` and removed in ``finally`` (also when a hook or the forward pass raises), results go to a
local store (never onto the model), and the encoder's lock is held from registration to removal
because every app session shares one model. ``trace(encoder, text)`` is the public entry point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from viz.hookpoints import resolve
from viz.models import Encoder
from viz.tokens import encode, mask_one_word
from viz.trace import Trace

Store = dict[str, list[torch.Tensor]]


def _first(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def capture(encoder: Encoder, ablate: frozenset[tuple[int, int]] = frozenset()) -> Iterator[Store]:
    """Hook every layer; yield ``store[kind] -> list of tensors in call order`` (one per layer).

    ``ablate``: (layer, head) pairs (0-based) whose attention output is zeroed before the output
    projection, i.e. the head is switched off; later layers see the change.

    Kinds: ``in``, ``out`` [B, T, D]; ``q``, ``k``, ``v``, ``ctx``, ``attn_out`` [B, T, D];
    ``probs`` [B, H, T, T]; ``act`` [B, T, F]; ``ffn_out`` [B, T, D]; ``bias`` [T, T, H].
    """
    store: Store = defaultdict(list)
    points = encoder.points
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def output_hook(kind: str, pick: Callable[[object], torch.Tensor]) -> Callable:
        return lambda module, args, output: store[kind].append(pick(output))

    def input_hook(kind: str) -> Callable:
        return lambda module, args: store[kind].append(args[0])

    H, dk = encoder.facts.num_heads, encoder.facts.head_dim
    calls = {"ablate": 0}  # counts output-projection calls: tells ALBERT's shared layer apart

    def ablate_hook(module: nn.Module, args: tuple) -> tuple:
        layer = calls["ablate"]
        calls["ablate"] += 1
        heads = [h for (lay, h) in ablate if lay == layer]
        if not heads:
            return args
        context = args[0].clone()  # [B, T, H*dk]
        for h in heads:
            context[..., h * dk : (h + 1) * dk] = 0.0
        return (context, *args[1:])

    with encoder.lock:
        try:
            if ablate:
                if any(not (0 <= h < H) for _, h in ablate):
                    raise ValueError(f"Head numbers run from 1 to {H}.")
                for layer in encoder.layers:  # registered first: capture sees the ablated context
                    module = resolve(layer, points.attn_out)
                    handles.append(module.register_forward_pre_hook(ablate_hook))
            for layer in encoder.layers:
                hooks: list[tuple[nn.Module, str, Callable]] = [
                    (layer, "pre", input_hook("in")),
                    (layer, "post", output_hook("out", _first)),
                    (
                        resolve(layer, points.attn_probs),
                        "post",
                        output_hook("probs", lambda o: o[1]),
                    ),
                    (resolve(layer, points.query), "post", output_hook("q", _first)),
                    (resolve(layer, points.key), "post", output_hook("k", _first)),
                    (resolve(layer, points.value), "post", output_hook("v", _first)),
                    (resolve(layer, points.attn_out), "pre", input_hook("ctx")),
                    (resolve(layer, points.attn_out), "post", output_hook("attn_out", _first)),
                    (resolve(layer, points.ffn_out), "pre", input_hook("act")),
                    (resolve(layer, points.ffn_out), "post", output_hook("ffn_out", _first)),
                ]
                for module, when, fn in hooks:
                    register = (
                        module.register_forward_pre_hook
                        if when == "pre"
                        else module.register_forward_hook
                    )
                    handles.append(register(fn))
            if points.attn_bias:
                bias_module = resolve(encoder.base, points.attn_bias)
                handles.append(bias_module.register_forward_hook(output_hook("bias", _first)))
            yield store
        finally:
            for handle in handles:
                handle.remove()


def _stack(tensors: list[torch.Tensor]) -> np.ndarray:
    """Concatenate one kind's per-layer tensors (B = 1 each) into [L, ...] and release them,
    so a trace never holds its activations twice."""
    array = torch.cat(tensors, dim=0).float().cpu().numpy()
    tensors.clear()
    return array


def uses_segments(encoder: Encoder) -> bool:
    """Whether the model has segment (token type) embeddings to feed a sentence pair."""
    return getattr(encoder.model.config, "type_vocab_size", 0) > 1


def trace(
    encoder: Encoder,
    text: str,
    pair: str | None = None,
    *,
    mask_word: int | None = None,
    ablate: frozenset[tuple[int, int]] = frozenset(),
) -> Trace:
    """Run ``text`` (and an optional second sentence ``pair``) once and capture every layer.

    ``mask_word``: index of a word (as in ``word_groups``) replaced by one mask token.
    ``ablate``: (layer, head) pairs, 0-based, switched off (see ``capture``).
    Raises ``ValueError`` with a readable message for empty or unreadable text.
    """
    facts = encoder.facts
    enc = encode(encoder.tokenizer, text, pair, facts.max_tokens)
    if mask_word is not None:
        enc = mask_one_word(enc, mask_word, encoder.tokenizer)
    inputs = {"input_ids": torch.tensor([enc.input_ids], device=encoder.device)}
    if enc.token_type_ids is not None and uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor([enc.token_type_ids], device=encoder.device)
    if encoder.points.probs_need_flag:
        inputs["output_attentions"] = True
    L, H, dk, T = facts.num_layers, facts.num_heads, facts.head_dim, len(enc.input_ids)
    with torch.inference_mode(), capture(encoder, ablate) as store:
        encoder.base(**inputs)
        missing = [
            k
            for k in ("in", "out", "probs", "q", "k", "v", "ctx", "attn_out", "act", "ffn_out")
            if len(store[k]) != L
        ]
        if missing:
            raise RuntimeError(
                f"Hooks fired the wrong number of times for {missing} (expected {L} layers)."
            )
        hidden = _stack([store["in"][0], *store["out"]])  # [L+1, T, D]
        store["in"].clear()
        store["out"].clear()

        def heads(kind: str) -> np.ndarray:
            return _stack(store[kind]).reshape(L, T, H, dk).transpose(0, 2, 1, 3)  # [L,H,T,dk]

        bias = None
        if store["bias"]:
            bias = store["bias"][0].float().cpu().numpy().reshape(T, T, H).transpose(2, 0, 1)
        result = Trace(
            facts=facts,
            text=text,
            pair=pair,
            tokens=enc.tokens,
            display_tokens=enc.display,
            token_ids=np.asarray(enc.input_ids, dtype=np.int64),
            special=enc.special,
            word_ids=enc.word_ids,
            segment_ids=enc.segment_ids,
            offsets=enc.offsets,
            dropped_tokens=enc.dropped_tokens,
            dropped_chars=enc.dropped_chars,
            hidden_states=hidden,
            attentions=_stack(store["probs"]),  # [L, H, T, T]
            queries=np.ascontiguousarray(heads("q")),
            keys=np.ascontiguousarray(heads("k")),
            values=np.ascontiguousarray(heads("v")),
            attn_context=_stack(store["ctx"]),  # [L, T, D]
            attn_outputs=_stack(store["attn_out"]),  # [L, T, D]
            ffn_activations=_stack(store["act"]),  # [L, T, F]
            ffn_outputs=_stack(store["ffn_out"]),  # [L, T, D]
            attn_bias=None if bias is None else np.ascontiguousarray(bias),
        )
    return result
