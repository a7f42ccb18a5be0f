"""Embedding extraction: token embeddings per layer and pooled sentence embeddings.

Batched, and sorted by length inside each chunk so batches carry little padding. No hooks are
needed: ``output_hidden_states`` gives every layer. The encoder's lock is still taken, because a
concurrent ``capture`` registers hooks on the same shared model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viz.errors import UserError
from viz.models import Encoder
from viz.names import EMBEDDINGS, parse_layer
from viz.tokens import MAX_CHARS, TOKENIZER_LOCK

POOLINGS = ("mean", "cls", "max")
# A bound on the characters per token, not an average (English runs 4-6): a text is cut to
# max_tokens * this before tokenising, so one huge line costs no more than the batch allows,
# and only whitespace-heavy text could lose characters its first max_tokens tokens needed.
CHARS_PER_TOKEN = 32


def max_chars(max_tokens: int) -> int:
    """The characters of a text read when at most ``max_tokens`` of its tokens are."""
    return min(MAX_CHARS, max_tokens * CHARS_PER_TOKEN)


def sentence_transformers_cut(encoder: Encoder) -> int | None:
    """The token limit sentence-transformers applies to this model (``max_seq_length`` in its
    ``sentence_bert_config.json``), or None when the model is not one of theirs."""
    name = str(getattr(encoder.tokenizer, "name_or_path", "") or "")
    path: str | Path | None = Path(name) / "sentence_bert_config.json"
    if name and not Path(name).is_dir():
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(name, "sentence_bert_config.json")
    if not isinstance(path, (str, Path)):
        return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


@dataclass
class ExtractStats:
    """What a caller may want to report about the texts it embedded."""

    blank: int = 0  # empty or whitespace-only texts (embedded as an empty input)
    cut: int = 0  # texts longer than the token limit, cut to it
    cut_chars: int = 0  # texts longer than ``max_chars``, cut to it before tokenising
    tokens: int = 0  # tokens read, special tokens not counted
    unknown: int = 0  # of them, read as the model's unknown token
    unknown_texts: int = 0  # texts with at least one unknown token
    longer_than: int | None = None  # also count the texts with more tokens than this
    longer: int = 0  # ... here (after the cut)


def _unknown_counts(rows: Iterable[list[int]], unk: int | None) -> list[int]:
    """Per row of token ids, how many are the unknown token ``unk`` (0 without one)."""
    return [row.count(unk) if unk is not None else 0 for row in rows]


def _layer_number(part: str) -> int:
    """'3', '-1' (from the end), or a layer's name: 'emb', 'L3' (any case)."""
    try:
        return int(part)
    except ValueError:
        layer = parse_layer(part if part.lower() == EMBEDDINGS else part.upper())
        if layer is None:
            raise
        return layer


def parse_layers(spec: str, num_layers: int) -> list[int]:
    """``all`` | ``last4`` | comma-separated ints (negative counts from the end) or layer names
    (``emb``, ``L3``: ``viz.names``) -> indices into ``hidden_states`` (0 = embeddings,
    ``num_layers`` = last layer)."""
    spec = spec.strip().lower()
    count = num_layers + 1
    if spec == "all":
        return list(range(count))
    if spec == "last4":
        return list(range(max(0, count - 4), count))
    try:
        wanted = [_layer_number(part.strip()) for part in spec.split(",") if part.strip()]
    except ValueError as err:
        raise UserError("layers_invalid", spec=spec) from err
    if not wanted:
        raise UserError("layers_empty")
    out = []
    for layer in wanted:
        if not -count <= layer < count:
            raise UserError("layer_missing", layer=layer, num_layers=num_layers)
        out.append(layer % count)
    return out


def parse_one_layer(spec: str, num_layers: int) -> int:
    """One layer (``--layer``): an index (negative counts from the last layer) or a name
    (``emb``, ``L3``) -> its index into ``hidden_states``."""
    try:
        layer = _layer_number(spec.strip().lower())
    except ValueError:
        raise UserError("layer_invalid", spec=spec, last=num_layers) from None
    if not -(num_layers + 1) <= layer <= num_layers:
        raise UserError("layer_missing", layer=layer, num_layers=num_layers)
    return layer % (num_layers + 1)


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """[K, B, T, D] hidden states + [B, T] attention mask -> [B, K, D] sentence vectors."""
    if how == "cls":
        return hidden[:, :, 0].transpose(0, 1)
    m = mask[None, :, :, None].to(hidden.dtype)  # [1, B, T, 1]
    if how == "mean":
        summed = (hidden * m).sum(dim=2)
        return (summed / m.sum(dim=2).clamp(min=1.0)).transpose(0, 1)
    if how == "max":
        return hidden.masked_fill(m == 0, float("-inf")).amax(dim=2).transpose(0, 1)
    raise UserError("pooling_unknown", pooling=how, choices=", ".join(POOLINGS))


def tokenize_cut(encoder: Encoder, read: Sequence[str], limit: int):
    """``read`` (texts cut to ``max_chars(limit)``) tokenised as the forward passes read them:
    at most ``limit`` tokens, a blank text as one space."""
    with TOKENIZER_LOCK:  # see viz/tokens.py
        return encoder.tokenizer(
            [text if text.strip() else " " for text in read],
            truncation=True,
            max_length=limit,
            split_special_tokens=True,  # typed "[CLS]" is text, not the model's token
        )


def _forward_batches(
    encoder: Encoder,
    texts: Sequence[str],
    layers: list[int],
    batch_size: int,
    max_tokens: int | None = None,
    stats: ExtractStats | None = None,
    encoded=None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Yield (original indices, hidden [K, B, T, D], attention mask [B, T]), shortest first.

    Texts are tokenised once and sorted by token count (not characters), so each batch pads
    to nearly its own length. Each is cut to ``max_tokens`` (default: the model's maximum),
    after a cut to ``max_chars(max_tokens)`` characters that bounds the tokenizer's memory.
    ``encoded``: the texts already tokenised so (``tokenize_cut``), by a caller that reads the
    encodings too."""
    limit = min(max_tokens or encoder.facts.max_tokens, encoder.facts.max_tokens)
    chars = max_chars(limit)
    read = [text[:chars] for text in texts]
    if encoded is None:
        encoded = tokenize_cut(encoder, read, limit)
    if stats is not None:
        stats.blank += sum(1 for text in read if not text.strip())
        stats.cut_chars += sum(1 for text in texts if len(text) > chars)
        encodings = encoded.encodings or []  # a fast tokenizer's: they keep what was cut
        stats.cut += sum(1 for e in encodings if e.overflowing)
        rows = encoded["input_ids"]
        unknown = _unknown_counts(rows, getattr(encoder.tokenizer, "unk_token_id", None))
        stats.unknown += sum(unknown)
        stats.unknown_texts += sum(1 for u in unknown if u)
        specials = encoder.tokenizer.num_special_tokens_to_add(pair=False)
        stats.tokens += sum(max(0, len(row) - specials) for row in rows)
        if stats.longer_than is not None:
            stats.longer += sum(1 for row in rows if len(row) > stats.longer_than)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        padded = encoder.tokenizer.pad(
            {k: [encoded[k][i] for i in index] for k in keys}, return_tensors="pt"
        )
        batch = {k: v.to(encoder.device) for k, v in padded.items() if k in keys}
        with torch.inference_mode(), encoder.lock:
            out = encoder.base(**batch, output_hidden_states=True)
        hidden = torch.stack([out.hidden_states[i] for i in layers])  # [K, B, T, D]
        yield index, hidden, batch["attention_mask"]


def pooled_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    poolings: Sequence[str],
    layers: list[int] | None = None,
    batch_size: int = 32,
    progress: Callable[[float], None] | None = None,
    max_tokens: int | None = None,
    stats: ExtractStats | None = None,
) -> dict[str, np.ndarray]:
    """Several poolings from one forward pass: ``{pooling: [N, K, D]}``."""
    for how in poolings:
        if how not in POOLINGS:
            raise UserError("pooling_unknown", pooling=how, choices=", ".join(POOLINGS))
    if batch_size < 1:
        raise UserError("batch_size")
    layers = list(range(encoder.facts.num_layers + 1)) if layers is None else layers
    shape = (len(texts), len(layers), encoder.facts.hidden_size)
    result = {how: np.zeros(shape, dtype=np.float32) for how in poolings}
    done = 0
    batches = _forward_batches(encoder, texts, layers, batch_size, max_tokens, stats)
    for index, hidden, mask in batches:
        with torch.inference_mode():
            for how in poolings:
                result[how][index] = pool(hidden, mask, how).float().cpu().numpy()
        done += len(index)
        if progress:
            progress(done / len(texts))
    return result


def sentence_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    layers: list[int] | None = None,
    pooling: str = "mean",
    batch_size: int = 32,
    max_tokens: int | None = None,
    stats: ExtractStats | None = None,
) -> np.ndarray:
    """Pooled sentence vectors ``[N, K, D]`` for layers ``K`` (default: all, 0 = embeddings)."""
    return pooled_embeddings(
        encoder, texts, (pooling,), layers, batch_size, max_tokens=max_tokens, stats=stats
    )[pooling]


def token_embeddings(
    encoder: Encoder, texts: Sequence[str], layers: list[int] | None = None, batch_size: int = 32
) -> list[np.ndarray]:
    """Per text, token vectors ``[K, T_i, D]`` (special tokens included, padding removed)."""
    layers = list(range(encoder.facts.num_layers + 1)) if layers is None else layers
    result: list[np.ndarray | None] = [None] * len(texts)
    for index, hidden, mask in _forward_batches(encoder, texts, layers, batch_size):
        per_text = hidden.permute(1, 0, 2, 3).float().cpu().numpy()  # [B, K, T, D]
        for b, (i, n) in enumerate(zip(index, mask.sum(dim=1).tolist())):
            result[i] = per_text[b, :, :n]
    return result  # type: ignore[return-value]


def concat_last_four(embeddings: np.ndarray) -> np.ndarray:
    """The "concatenate the last four layers" recipe: ``[N, K>=4, D]`` -> ``[N, 4*D]``."""
    if embeddings.ndim != 3 or embeddings.shape[1] < 4:
        raise UserError("concat_needs_four")
    return embeddings[:, -4:].reshape(len(embeddings), -1)


def stream_sentence_embeddings(
    encoder: Encoder,
    lines: Iterable[str],
    layers: list[int],
    pooling: str,
    batch_size: int,
    chunk: int = 4096,
    max_tokens: int | None = None,
    stats: ExtractStats | None = None,
) -> Iterator[np.ndarray]:
    """Embed an arbitrarily long stream in chunks of ``chunk`` texts: memory is bounded by the
    chunk, not by the number of lines. Yields ``[n, K, D]`` blocks in input order."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) == chunk:
            yield sentence_embeddings(
                encoder, buffer, layers, pooling, batch_size, max_tokens, stats
            )
            buffer = []
    if buffer:
        yield sentence_embeddings(encoder, buffer, layers, pooling, batch_size, max_tokens, stats)


def token_counts(
    encoder: Encoder, texts: Sequence[str], chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Per text, its tokens (special tokens included, before any cut) and how many of them the
    model reads as its unknown token: two int arrays ``[N]``, from the tokenizer alone (a few
    ms per hundred texts, no model). ``chunk`` texts at a time, so the tokenizer's lock, which
    every session's trace needs too, is never held for long."""
    unk = getattr(encoder.tokenizer, "unk_token_id", None)
    lengths, unknown = np.zeros(len(texts), np.int64), np.zeros(len(texts), np.int64)
    for start in range(0, len(texts), chunk):
        part = [text if text.strip() else " " for text in texts[start : start + chunk]]
        with TOKENIZER_LOCK:  # see viz/tokens.py
            ids = encoder.tokenizer(
                part, truncation=False, split_special_tokens=True, verbose=False
            )["input_ids"]
        for i, (row, count) in enumerate(zip(ids, _unknown_counts(ids, unk)), start):
            lengths[i], unknown[i] = len(row), count
    return lengths, unknown


def shared_pooled_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    poolings: Sequence[str],
    max_tokens: int,
    batch_tokens: int = 512,
    progress: Callable[[float], None] | None = None,
    lengths: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """``pooled_embeddings`` for a model that other sessions share, ``{pooling: [N, L+1, D]}``.

    Each forward pass reads at most ``batch_tokens`` tokens (rows x the longest row, every text
    cut at ``max_tokens``), so the encoder's lock is held for one short batch at a time, and
    between two batches this thread pauses, letting a session that waits for the lock (a new
    sentence's trace) run first. ``lengths``: the texts' token counts, when already known."""
    if lengths is None:
        lengths, _ = token_counts(encoder, texts)
    cut = np.minimum(np.asarray(lengths, dtype=np.int64), max_tokens)
    order = np.argsort(cut, kind="stable")  # shortest first: each batch pads to its own length
    layers = encoder.facts.num_layers + 1
    result = {
        how: np.zeros((len(texts), layers, encoder.facts.hidden_size), np.float32)
        for how in poolings
    }
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * cut[order[end]] <= batch_tokens:
            end += 1
        index = order[start:end]
        part = pooled_embeddings(
            encoder,
            [texts[i] for i in index],
            poolings,
            batch_size=len(index),
            max_tokens=max_tokens,
        )
        for how in poolings:
            result[how][index] = part[how]
        start = end
        if progress:
            progress(start / len(order))
        time.sleep(0.001)  # the lock is free: a waiting session's thread takes it now
    return result
