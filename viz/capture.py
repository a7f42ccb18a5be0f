"""Capture what every layer computes, through forward hooks.

``capture(encoder)`` is the one context manager that registers hooks: every hook is added inside
``try`` and removed in ``finally`` (also when a hook or the forward pass raises), results go to a
local store (never onto the model), and the encoder's lock is held from registration to removal
because every app session shares one model. ``trace(encoder, text)`` is the public entry point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from viz.blocks import BlockPool
from viz.hookpoints import resolve, score_factor
from viz.models import Encoder
from viz.tokens import Encoded, encode, mask_one_word
from viz.trace import CAPTURED, Trace

# Traces up to this size (about 200 tokens on the default model) are written into memory that
# traces already gone have used; see viz/blocks.py. The pool keeps at most this much alive.
BLOCKS = BlockPool(max_bytes=64 * 2**20)
KINDS = ("hidden", "probs", "q", "k", "v", "ctx", "attn_out", "act", "ffn_out")
FIELDS = dict(zip(KINDS, CAPTURED, strict=True))  # kind -> the Trace field that holds it


def kinds_of(fields: Iterable[str]) -> tuple[str, ...]:
    """The capture kinds that fill these Trace fields (e.g. ``("hidden_states",)``), in
    ``KINDS`` order; a name that is not a captured field raises ``ValueError`` listing them."""
    wanted = set(fields)
    unknown = sorted(wanted - set(FIELDS.values()))
    if unknown or not wanted:
        raise ValueError(
            f"Cannot capture {', '.join(unknown) or 'nothing'}: choose from "
            f"{', '.join(FIELDS.values())}."
        )
    return tuple(kind for kind, name in FIELDS.items() if name in wanted)


def _first(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


class Store:
    """What the hooks captured: one float32 numpy array ``[n, ...]`` per kind, filled one layer
    at a time in call order (so ALBERT's one shared layer fills every slot).

    Each hook copies its tensor (batch item 0) into the next free slot at once, while it is still
    in cache, and keeps no reference to it: torch frees each activation as soon as the forward is
    done with it, and every value is copied exactly once. Q, K and V are stored per head,
    ``[L, H, T, dk]`` (the copy does the transpose); the hidden states have ``L + 1`` slots (the
    embeddings first). Each slot is reached through a torch view made when its array is made, so
    a hook does one shape check and one copy.
    """

    def __init__(self, num_layers: int, num_heads: int, kinds: tuple[str, ...] = KINDS) -> None:
        self.num_layers, self.num_heads, self.kinds = num_layers, num_heads, kinds
        self.arrays: dict[str, np.ndarray] = {}
        self.views: dict[str, tuple[torch.Tensor, ...]] = {}  # per kind: one [1, ...] per slot
        self.filled = dict.fromkeys(KINDS, 0)
        self.bias: np.ndarray | None = None  # MPNet's relative-position bias, [T, T, H]
        self.layer_bias: list[np.ndarray] = []  # DeBERTa's relative term per layer, [H, T, T]

    def preallocate(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Make every kind's array before the forward, from its expected shape, all carved out
        of one block from ``BLOCKS``: memory a trace that is gone has used when there is one
        (no page faults), else one new allocation (which numpy asks to be huge pages from
        4 MB). A kind whose first tensor has another shape gets a new array (see ``put``)."""
        sizes = {kind: math.prod(shape) for kind, shape in shapes.items()}
        block = BLOCKS.take(sum(sizes.values()))
        start = 0
        for kind, shape in shapes.items():
            self._use(kind, block[start : start + sizes[kind]].reshape(shape))
            start += sizes[kind]

    def _use(self, kind: str, array: np.ndarray) -> tuple[torch.Tensor, ...]:
        """Make ``array`` the store of ``kind``; return its slots as torch views shaped like the
        hook's tensor (batch of one; Q/K/V as ``[1, T, H, dk]`` over the ``[H, T, dk]`` slot)."""
        dest = torch.from_numpy(array)
        if kind in ("q", "k", "v"):
            dest = dest.transpose(1, 2)
        self.arrays[kind] = array
        self.views[kind] = dest.unsqueeze(1).unbind(0)
        return self.views[kind]

    def slots(self, kind: str) -> int:
        return self.num_layers + 1 if kind == "hidden" else self.num_layers

    def put(self, kind: str, tensor: torch.Tensor) -> None:
        i = self.filled[kind]
        if i >= self.slots(kind):
            raise RuntimeError(f"Hooks fired too often for {kind!r} (model has {self.num_layers}).")
        if tensor.shape[0] != 1:
            tensor = tensor[:1]
        if kind in ("q", "k", "v"):  # [1, T, H*dk] -> [1, T, H, dk]
            tensor = tensor.unflatten(-1, (self.num_heads, -1))
        views = self.views.get(kind)
        if views is None or views[i].shape != tensor.shape:
            if i:
                raise RuntimeError(f"The shape of {kind!r} changed from one layer to the next.")
            shape = tensor.shape[1:]
            if kind in ("q", "k", "v"):
                shape = (shape[1], shape[0], shape[2])
            views = self._use(kind, np.empty((self.slots(kind), *shape), dtype=np.float32))
        views[i].copy_(tensor)
        self.filled[kind] = i + 1

    def check_complete(self) -> None:
        """Raise unless every kind asked for was captured for every layer."""
        missing = [k for k in self.kinds if self.filled[k] != self.slots(k)]
        if missing:
            raise RuntimeError(
                f"Hooks fired the wrong number of times for {missing} "
                f"(expected {self.num_layers} layers)."
            )


@contextmanager
def capture(
    encoder: Encoder,
    ablate: frozenset[tuple[int, int]] = frozenset(),
    num_tokens: int | None = None,
    kinds: tuple[str, ...] = KINDS,
    each_head: tuple[int, int] | None = None,
) -> Iterator[Store]:
    """Hook every layer; yield the ``Store`` that the hooks fill during one forward pass.

    ``num_tokens``: the input's length, when known, so that every array is allocated up front in
    one block (see ``Store.preallocate``).

    ``ablate``: (layer, head) pairs (0-based) whose attention output is zeroed before the output
    projection, i.e. the head is switched off; later layers see the change.

    ``each_head``: (layer, first head), 0-based: batch row i has head ``first + i`` of that layer
    switched off, so one forward over copies of the input tries several heads (the head scan).

    ``kinds``: what to capture (a subset of ``KINDS``); hooks whose kinds are all left out are
    not registered, so a capture of the hidden states alone costs six hooks, not 42.

    Seven hooks per layer: the layer's output (at the first layer also its input, the
    embeddings), the attention probabilities, Q, K, V, and the two residual updates (attention
    output and feed-forward output), whose hooks also read their module's input: the
    concatenated heads and the feed-forward activation. DeBERTa (``points.disentangled``) adds a
    pre-hook that arms the Q/K/V hooks for their first call in each attention (the projections
    run again on the relative-position embeddings) and a hook that records each layer's
    relative-position term of the scores.
    """
    points, f = encoder.points, encoder.facts
    H, dk = f.num_heads, f.head_dim
    store = Store(f.num_layers, H, kinds)
    if num_tokens is not None:
        L, T, D = f.num_layers, num_tokens, f.hidden_size
        shapes = {
            "hidden": (L + 1, T, D),
            "probs": (L, H, T, T),
            **{kind: (L, H, T, dk) for kind in ("q", "k", "v")},
            **{kind: (L, T, D) for kind in ("ctx", "attn_out", "ffn_out")},
            "act": (L, T, f.ffn_size),
        }
        store.preallocate({kind: shapes[kind] for kind in kinds})
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def output_of(kind: str, pick: Callable[[object], torch.Tensor] = _first) -> Callable:
        return lambda module, args, output: store.put(kind, pick(output))

    armed: dict[str, bool] = {}  # disentangled: Q/K/V still to capture in this attention call

    def first_output_of(kind: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if armed.get(kind):
                armed[kind] = False
                store.put(kind, _first(output))

        return hook

    def arm(module: nn.Module, args: tuple) -> None:
        armed.update(q=True, k=True, v=True)

    def input_and_output(kind_in: str, kind_out: str) -> Callable:
        want_in, want_out = kind_in in kinds, kind_out in kinds

        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if want_in:
                store.put(kind_in, args[0])
            if want_out:
                store.put(kind_out, _first(output))

        return hook

    def layer_output(module: nn.Module, args: tuple, output: object) -> None:
        if store.filled["hidden"] == 0:
            store.put("hidden", args[0])  # the first layer's input: the embedding output
        store.put("hidden", _first(output))

    def bias_output(module: nn.Module, args: tuple, output: object) -> None:
        store.bias = _first(output).float().cpu().numpy()

    def disentangled_bias(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        """DeBERTa: this layer's relative-position term of the scores, [H, T, T], computed by the
        module's own method from this layer's Q and K, which the store captured just before
        (first batch row), on the module's device and in its dtype."""
        like = args[0]
        q, k = (torch.from_numpy(store.arrays[n][store.filled[n] - 1]).to(like) for n in "qk")
        rel = module.disentangled_attention_bias(
            q,
            k,
            kwargs.get("relative_pos"),
            module.pos_dropout(kwargs["rel_embeddings"]),
            score_factor(module),
        )
        store.layer_bias.append(rel.reshape(H, *rel.shape[-2:]).float().cpu().numpy())

    def heads_off(layer: int) -> list[tuple[int | slice, int]]:
        """(batch rows, head) pairs to zero at this layer."""
        off: list[tuple[int | slice, int]] = [(slice(None), h) for lay, h in ablate if lay == layer]
        if each_head is not None and each_head[0] == layer:
            off += [(row, head) for row, head in enumerate(range(each_head[1], H))]
        return off

    calls = {"ablate": 0}  # counts output-projection calls: tells ALBERT's shared layer apart

    def ablate_hook(module: nn.Module, args: tuple) -> tuple:
        layer = calls["ablate"]
        calls["ablate"] += 1
        off = heads_off(layer)
        if not off:
            return args
        context = args[0].clone()  # [B, T, H*dk]
        for rows, h in off:
            if isinstance(rows, slice) or rows < context.shape[0]:
                context[rows, :, h * dk : (h + 1) * dk] = 0.0
        return (context, *args[1:])

    with encoder.lock:
        try:
            if ablate or each_head is not None:
                heads = [h for _, h in ablate] + ([each_head[1]] if each_head else [])
                if any(not (0 <= h < H) for h in heads):
                    raise ValueError(f"Head numbers run from 1 to {H}.")
                for at in encoder.layer_points:  # a pre-hook: the capture hooks see its result
                    handles.append(at["attn_out"].register_forward_pre_hook(ablate_hook))
            hooks = [  # (point, hook, the kinds it captures); None: the layer itself
                (None, layer_output, ("hidden",)),
                ("attn_probs", output_of("probs", lambda o: o[1]), ("probs",)),
                *(
                    (point, (first_output_of if points.disentangled else output_of)(kind), (kind,))
                    for point, kind in (("query", "q"), ("key", "k"), ("value", "v"))
                ),
                ("attn_out", input_and_output("ctx", "attn_out"), ("ctx", "attn_out")),
                ("ffn_out", input_and_output("act", "ffn_out"), ("act", "ffn_out")),
            ]
            hooks = [(point, hook) for point, hook, fills in hooks if set(fills) & set(kinds)]
            if points.disentangled and {"q", "k", "v"} & set(kinds):
                for at in encoder.layer_points:
                    handles.append(at["attn_probs"].register_forward_pre_hook(arm))
            for layer, at in zip(encoder.layers, encoder.layer_points):
                for point, hook in hooks:
                    module = layer if point is None else at[point]
                    handles.append(module.register_forward_hook(hook))
            if points.attn_bias and kinds:
                bias_module = resolve(encoder.base, points.attn_bias)
                handles.append(bias_module.register_forward_hook(bias_output))
            if points.disentangled and {"q", "k"} <= set(kinds):  # the scores need Q and K
                for at in encoder.layer_points:
                    if getattr(at["attn_probs"], "relative_attention", False):
                        handles.append(
                            at["attn_probs"].register_forward_hook(
                                disentangled_bias, with_kwargs=True
                            )
                        )
            yield store
        finally:
            for handle in handles:
                handle.remove()


def uses_segments(encoder: Encoder) -> bool:
    """Whether the model has segment (token type) embeddings to feed a sentence pair."""
    return getattr(encoder.model.config, "type_vocab_size", 0) > 1


def model_inputs(encoder: Encoder, enc: Encoded, copies: int = 1) -> dict[str, object]:
    """The forward's keyword arguments for one encoded input, as a batch of ``copies`` rows."""
    inputs: dict[str, object] = {
        "input_ids": torch.tensor([enc.input_ids] * copies, device=encoder.device)
    }
    # one sentence: all zeros, which is also what the model uses when given none
    if enc.token_type_ids is not None and any(enc.token_type_ids) and uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor(
            [enc.token_type_ids] * copies, device=encoder.device
        )
    if encoder.points.probs_need_flag:
        inputs["output_attentions"] = True
    return inputs


# The head scan batches copies of the input while their attention scores, [rows, H, T, T]
# float32, stay under this: all 12 heads of a layer at 64 tokens, 5 at 128, one from 167 on.
# Larger batches were slower, not faster, at 256 and 512 tokens (bench/bench_scan.py).
SCAN_BATCH_BYTES = 4 * 2**20


def each_head_off(encoder: Encoder, text: str, pair: str | None, layer: int) -> np.ndarray:
    """[H, T, D]: the last layer's hidden states with each head of ``layer`` (0-based) switched
    off on its own: row h has head h off. Copies of the input run as a batch, one head off per
    row, so a layer costs one forward pass or a few (``SCAN_BATCH_BYTES``), not H."""
    f = encoder.facts
    enc = encode(encoder.tokenizer, text, pair, f.max_tokens)
    H, T = f.num_heads, len(enc.input_ids)
    per = max(1, min(H, SCAN_BATCH_BYTES // (4 * H * T * T)))
    out = np.empty((H, T, f.hidden_size), dtype=np.float32)
    for first in range(0, H, per):
        rows = min(per, H - first)
        with torch.inference_mode(), capture(encoder, kinds=(), each_head=(layer, first)):
            last = encoder.base(**model_inputs(encoder, enc, rows))[0]  # [rows, T, D]
        out[first : first + rows] = last.float().cpu().numpy()
    return out


def trace(
    encoder: Encoder,
    text: str,
    pair: str | None = None,
    *,
    mask_word: int | None = None,
    ablate: frozenset[tuple[int, int]] = frozenset(),
    only: Iterable[str] | None = None,
) -> Trace:
    """Run ``text`` (and an optional second sentence ``pair``) once and capture every layer.

    ``mask_word``: index of a word (as in ``word_groups``) replaced by one mask token.
    ``ablate``: (layer, head) pairs, 0-based, switched off (see ``capture``).
    ``only``: Trace fields to capture, e.g. ``("hidden_states", "attentions")``; the others are
    None. Default: all of them.
    Raises ``ValueError`` with a readable message for empty or unreadable text.
    """
    facts = encoder.facts
    kinds = KINDS if only is None else kinds_of(only)
    enc = encode(encoder.tokenizer, text, pair, facts.max_tokens)
    if mask_word is not None:
        enc = mask_one_word(enc, mask_word, encoder.tokenizer)
    inputs = model_inputs(encoder, enc)
    T = len(enc.input_ids)
    with torch.inference_mode(), capture(encoder, ablate, T, kinds) as store:
        encoder.base(**inputs)
    store.check_complete()
    a = {FIELDS[kind]: store.arrays[kind] for kind in kinds}
    bias = None
    if store.bias is not None:
        bias = np.ascontiguousarray(store.bias.reshape(T, T, -1).transpose(2, 0, 1))  # [H, T, T]
    if store.layer_bias:
        bias = np.stack(store.layer_bias)  # [L, H, T, T]
    return Trace(
        facts=facts,
        text=enc.text,  # as tokenised: what the offsets index into
        pair=enc.pair,
        tokens=enc.tokens,
        display_tokens=enc.display,
        token_ids=np.asarray(enc.input_ids, dtype=np.int64),
        special=enc.special,
        word_ids=enc.word_ids,
        segment_ids=enc.segment_ids,
        offsets=enc.offsets,
        dropped_tokens=enc.dropped_tokens,
        dropped_chars=enc.dropped_chars,
        attn_bias=bias,
        **a,
    )
