"""Capture through transformers' attention interface, for the families that dispatch to it.

In transformers 5 most attention modules call their attention through
``ALL_ATTENTION_FUNCTIONS`` with the query, key and value as the model uses them (after rotary
embeddings, one tensor per head) and the scaling. ``IMPLEMENTATION`` is registered there once:
it runs the module's own eager attention (``eager_attention_forward`` of its modeling file, so
the numbers are the library's eager ones) and, when a capture is recording in this thread or
task, hands q, k, v and the probabilities to it. Which capture records is a context variable,
set and reset by ``recording``: two sessions capturing on one shared model each see only their
own calls, and nothing is left on the model or the interface when a capture ends.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from viz.capture.store import Store

IMPLEMENTATION = "viz_eager"  # the attn_implementation a capture switches the model to
INTERFACE_KINDS = frozenset({"q", "k", "v", "probs"})  # what the interface sees

# What records one call: (module, query, key, value, probs, scaling) -> None; None: nobody.
_RECORDER: ContextVar[Callable | None] = ContextVar("viz_attention_recorder", default=None)


@functools.cache
def eager_of(cls: type) -> Callable:
    """The eager attention function of the modeling file that defines ``cls``."""
    fn = getattr(sys.modules[cls.__module__], "eager_attention_forward", None)
    if fn is None:
        raise RuntimeError(f"{cls.__module__} has no eager_attention_forward to capture through.")
    return fn


def recording_attention(module, query, key, value, attention_mask, *args, **kwargs):
    """The registered attention: the module's own eager attention, recorded when a capture in
    this context asks. ``query`` [B, H, T, dk]; ``key``/``value`` [B, H or fewer, T, dk]."""
    output, probs = eager_of(type(module))(
        module, query, key, value, attention_mask, *args, **kwargs
    )
    record = _RECORDER.get()
    if record is not None:
        record(module, query, key, value, probs, kwargs.get("scaling"))
    return output, probs


AttentionInterface.register(IMPLEMENTATION, recording_attention)
AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)  # additive float masks, as eager


def _per_query_head(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Grouped keys/values [B, Hkv, T, dk] repeated to one per query head [B, H, T, dk]."""
    return x if x.shape[1] == num_heads else x.repeat_interleave(num_heads // x.shape[1], dim=1)


@contextmanager
def recording(model: nn.Module, store: Store, kinds: tuple[str, ...]) -> Iterator[None]:
    """While inside: ``model`` runs its attention through ``IMPLEMENTATION`` and this thread's
    calls fill ``store``'s q, k, v and probs (those in ``kinds``) one layer at a time; each call's
    scaling goes to ``store.extra["scaling"]``. Restores the model's implementation on exit."""
    wanted = [kind for kind in ("q", "k", "v", "probs") if kind in kinds]  # in store order

    def record(module, query, key, value, probs, scaling):
        H = query.shape[1]
        tensors = {"q": query, "k": key, "v": value}
        for kind in wanted:
            if kind == "probs":
                store.put("probs", probs)
            else:
                store.put_heads(kind, _per_query_head(tensors[kind], H))
        store.extra.setdefault("scaling", []).append(
            query.shape[-1] ** -0.5 if scaling is None else float(scaling)
        )

    config = model.config
    before = config._attn_implementation
    token = _RECORDER.set(record)
    try:
        config._attn_implementation = IMPLEMENTATION
        yield
    finally:
        config._attn_implementation = before
        _RECORDER.reset(token)
