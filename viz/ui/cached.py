"""What every page shares and every session shares: the models, the traces, the settings.

``st.cache_resource`` objects are shared by all sessions: the encoder is guarded by its own
locks (see ``viz.capture``) and the trace cache by its own (``viz.cache``).
"""

from __future__ import annotations

import gc
import os

import numpy as np
import streamlit as st

from viz import capture
from viz.cache import BoundedCache
from viz.models import DEFAULT_MODEL, Encoder, load_encoder
from viz.tokens import unknown_mask
from viz.trace import Trace
from viz.ui.state import TraceKey

# Settings are read from the environment when used (see the README's deployment section).


def allowed_models() -> list[str]:
    """For a public deployment: only these models (VIZ_ALLOWED_MODELS, comma-separated), no
    other ids or local paths. Empty: any model."""
    return [m.strip() for m in os.environ.get("VIZ_ALLOWED_MODELS", "").split(",") if m.strip()]


def allowed_model(name: str) -> str:
    """``name`` if the server offers it, else the first model it offers."""
    allowed = allowed_models()
    if allowed and name not in allowed:
        return allowed[0]
    return name or DEFAULT_MODEL


def allow_pickle() -> bool:
    """Whether the server may load pickled weights (``VIZ_ALLOW_PICKLE=1``, off by default)."""
    return os.environ.get("VIZ_ALLOW_PICKLE", "0") == "1"


@st.cache_resource(max_entries=2, show_spinner=False)
def get_encoder(name: str) -> Encoder:
    encoder = load_encoder(name, allow_pickle=allow_pickle())
    gc.freeze()  # the model's objects live for the process: keep them out of every GC pass
    return encoder


@st.cache_resource(show_spinner=False)
def trace_cache() -> BoundedCache[Trace]:
    max_bytes = int(os.environ.get("VIZ_TRACE_CACHE_MB", "192")) * 2**20
    return BoundedCache(max_bytes, size_of=lambda t: t.nbytes)


def get_trace(key: TraceKey) -> Trace:
    """One forward pass per input per process, within the cache's byte bound."""
    encoder = get_encoder(key.model)
    value, cached = trace_cache().get_or_compute(
        key,
        lambda: capture.trace(
            encoder, key.text, key.pair, mask_word=key.mask_word, ablate=key.ablate
        ),
    )
    if not cached:
        gc.collect()  # a new input: free the figures and arrays of the last one now, not later
    return value


def unknown_tokens(t: Trace) -> tuple[np.ndarray, str]:
    """bool [T]: the tokens of ``t`` the model read as its unknown token; and that token."""
    unk = getattr(get_encoder(t.facts.name).tokenizer, "unk_token", None) or ""
    return unknown_mask(t.tokens, t.special, unk), unk


def count_unknown(traces: list[Trace]) -> tuple[int, int, str]:
    """(tokens read as the unknown token, real tokens, the unknown token) over ``traces``."""
    masks = [unknown_tokens(t) for t in traces]
    unknown = sum(int(mask.sum()) for mask, _ in masks)
    return unknown, sum(int((~t.special).sum()) for t in traces), masks[0][1]
