"""One input through the model with hooks on: ``trace`` (every layer's arrays) and
``each_head_off`` (the head scan)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from viz.capture.hooks import capture
from viz.models import Encoder
from viz.tokens import Encoded, encode, mask_one_word
from viz.trace import FIELDS, KINDS, Trace, kinds_of


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
    inputs.update(encoder.family.inputs)
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
    Raises ``UserError`` with a readable message for empty or unreadable text.
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
    arrays = {FIELDS[kind]: store.arrays[kind] for kind in kinds}
    for quirk in encoder.family.quirks:
        arrays.update(quirk.arrays(store, T))
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
        **arrays,
    )
