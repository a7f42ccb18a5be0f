"""The capture context manager: the generic hooks every family gets, plus its quirks' own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from viz.arch import resolve
from viz.capture.ablation import heads_off_hook
from viz.capture.attention import INTERFACE_KINDS, recording
from viz.capture.store import Store, _first
from viz.models import Encoder
from viz.trace import ARRAYS, KINDS

BY_KIND = {a.kind: a for a in ARRAYS}


def shapes(encoder: Encoder, num_tokens: int, kinds: tuple[str, ...] = KINDS) -> dict:
    """kind -> its array's shape for an input of ``num_tokens`` tokens (from ``ARRAYS``)."""
    sizes = encoder.facts.sizes(num_tokens)
    return {kind: BY_KIND[kind].dims(sizes) for kind in kinds}


def only_here(fn: Callable) -> Callable:
    """``fn`` as a hook that acts in this thread only. Hooks sit on the shared model, so a
    forward another session runs meanwhile without capturing (no lock needed for that) passes
    through them: it must neither fill this capture's store nor have heads switched off."""
    owner = threading.get_ident()

    def hook(*args):
        if threading.get_ident() == owner:
            return fn(*args)
        return None

    return hook


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

    ``kinds``: what to capture (a subset of ``KINDS``, the kinds of ``viz.trace.ARRAYS``); hooks
    whose kinds are all left out are not registered, so a capture of the hidden states alone
    costs six hooks, not 42.

    Seven hooks per layer: the layer's output (at the first layer also its input, the
    embeddings), the attention probabilities, Q, K, V, and the two residual updates (attention
    output and feed-forward output), whose hooks also read their module's input: the
    concatenated heads and the feed-forward activation. A family's quirks add their own hooks
    and may capture some kinds themselves (DeBERTa's Q, K and V: see ``viz.arch``). A family
    that dispatches through transformers' attention interface (``Family.interface``) gets Q, K, V
    and the probabilities from there instead (``viz.capture.attention``): no hook for those.

    Every hook is registered inside ``try`` and removed in ``finally`` (also when a hook or the
    forward raises), with the encoder's lock held from registration to removal; each acts only
    in the capturing thread (``only_here``).
    """
    family, f = encoder.family, encoder.facts
    store = Store(f.num_layers, f.num_heads, kinds)
    if num_tokens is not None:
        store.preallocate(shapes(encoder, num_tokens, kinds))

    def output_of(kind: str, pick: Callable[[object], torch.Tensor] = _first) -> Callable:
        return lambda module, args, output: store.put(kind, pick(output))

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
        if family.final_norm is None or store.filled["hidden"] < f.num_layers:
            store.put("hidden", _first(output))  # else the final norm's output is the last

    def final_norm_output(module: nn.Module, args: tuple, output: object) -> None:
        store.put("hidden", output)

    generic = [  # (point, hook, the kinds it captures); None: the layer itself
        (None, layer_output, ("hidden",)),
        ("attention", output_of("probs", lambda o: o[1]), ("probs",)),
        ("query", output_of("q"), ("q",)),
        ("key", output_of("k"), ("k",)),
        ("value", output_of("v"), ("v",)),
        ("attn_out", input_and_output("ctx", "attn_out"), ("ctx", "attn_out")),
        ("ffn_out", input_and_output("act", "ffn_out"), ("act", "ffn_out")),
    ]
    ours = set(kinds) - family.takes
    through_interface = ours & INTERFACE_KINDS if family.interface else set()
    ours -= through_interface
    generic = [(point, hook) for point, hook, fills in generic if set(fills) & ours]
    generic = [(point, only_here(hook)) for point, hook in generic]
    handles: list[torch.utils.hooks.RemovableHandle] = []
    with encoder.lock, ExitStack() as stack:
        try:
            if through_interface:
                stack.enter_context(recording(encoder.model, store, tuple(through_interface)))
            if ablate or each_head is not None:
                off = only_here(heads_off_hook(ablate, each_head, f.num_heads, f.head_dim))
                for at in encoder.layer_points:  # a pre-hook: the capture hooks see its result
                    handles.append(at["attn_out"].register_forward_pre_hook(off))
            for layer, at in zip(encoder.layers, encoder.layer_points):
                for point, hook in generic:
                    module = layer if point is None else at[point]
                    handles.append(module.register_forward_hook(hook))
            if family.final_norm is not None and "hidden" in ours:
                final = resolve(encoder.base, family.final_norm)
                handles.append(final.register_forward_hook(only_here(final_norm_output)))
            for quirk in family.quirks:
                for hook in quirk.hooks(encoder, store, kinds):
                    handles.append(hook._replace(fn=only_here(hook.fn)).register())
            yield store
        finally:
            for handle in handles:
                handle.remove()
