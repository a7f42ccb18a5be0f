"""Tokenisation for tracing, token display, and subword -> word merging."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

WORD_MARKS = "▁Ġ"  # SentencePiece's and byte-level BPE's "a word starts here"
# A fast tokenizer keeps its truncation and special-token settings on one shared Rust object,
# and transformers sets them before every call: two threads with different settings (counting
# the tokens a long text loses switches truncation off) can each encode with the other's, and
# a text past the model's maximum then reaches it whole. Every call in viz holds this lock.
TOKENIZER_LOCK = threading.Lock()
MAX_CHARS = 200_000  # longer pastes are cut before tokenising (and the cut is reported)


@dataclass(frozen=True)
class Encoded:
    """One tokenised input (a sentence or a pair), already cut to the model's maximum."""

    input_ids: list[int]
    token_type_ids: list[int] | None
    tokens: tuple[str, ...]
    special: np.ndarray  # bool [T]
    word_ids: np.ndarray  # int64 [T], -1 for special tokens, unique across a pair
    segment_ids: np.ndarray  # int64 [T]
    offsets: np.ndarray  # int64 [T, 2]
    dropped_tokens: int
    display: tuple[str, ...]
    dropped_chars: int = 0  # characters beyond MAX_CHARS, cut before tokenising


def clean_text(text: str | None, what: str = "text") -> str:
    """The text as it is tokenised (NUL removed: it breaks some tokenizers and means nothing
    here); offsets index into this string. Empty text and undecodable bytes are errors."""
    if text is None or not text.strip():
        raise ValueError(f"The {what} is empty: type a sentence.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # bytes a terminal could not decode reach argv so
            raise ValueError(
                f"The {what} has bytes that are not UTF-8 text (at character {err.start + 1}): "
                "give it as UTF-8."
            ) from None
    return text.replace("\x00", "")


def rust_encode(tokenizer: object, text: str, pair: str | None, max_tokens: int | None):
    """The fast tokenizer's own ``Encoding`` of ``text`` (and ``pair``), special tokens added,
    cut to ``max_tokens`` (longest sequence first) unless it is None; what ``tokenizer(text,
    pair, truncation="longest_first", max_length=..., split_special_tokens=True)`` returns,
    without the 30 us of Python around it (tests/test_tokens.py checks they are identical).
    Typed "[CLS]" or "<s>" stays the user's text, never the model's token."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            "This model's tokenizer has no fast (Rust) version, which the explorer needs to map "
            "tokens back to the text. Try a model whose folder has a tokenizer.json."
        )
    with TOKENIZER_LOCK:  # the settings below live on the shared object: set them and encode
        now, side = backend.truncation, getattr(tokenizer, "truncation_side", "right")
        if max_tokens is None:
            if now is not None:
                backend.no_truncation()
        elif now is None or (now["max_length"], now["strategy"], now["direction"]) != (
            max_tokens,
            "longest_first",
            side,
        ):
            backend.enable_truncation(max_tokens, strategy="longest_first", direction=side)
        if backend.padding is not None:
            backend.no_padding()
        backend.encode_special_tokens = True
        return backend.encode(text, pair, add_special_tokens=True)


def encode(tokenizer: object, text: str, pair: str | None, max_tokens: int) -> Encoded:
    """Tokenise ``text`` (and ``pair``), truncating to ``max_tokens`` and counting what was cut."""
    text = clean_text(text)
    pair = clean_text(pair, "second sentence") if pair is not None else None
    cut_chars = max(0, len(text) - MAX_CHARS) + max(0, len(pair or "") - MAX_CHARS)
    text, pair = text[:MAX_CHARS], (pair[:MAX_CHARS] if pair is not None else None)
    enc = rust_encode(tokenizer, text, pair, max_tokens)
    ids = enc.ids
    if len(ids) <= sum(enc.special_tokens_mask):
        raise ValueError(
            "The text has no characters the model can read (only spaces, control or unknown "
            "characters). Type a sentence with words."
        )
    dropped = 0  # of the characters read; only an input that reached the maximum can have lost any
    if len(ids) >= max_tokens:
        dropped = len(rust_encode(tokenizer, text, pair, None).ids) - len(ids)
    # plain lists until the end: numpy element by element is several times slower
    special, seq, words, spans = (
        enc.special_tokens_mask,
        enc.sequence_ids,
        enc.word_ids,
        enc.offsets,
    )
    segment, current = [], 0
    for s in seq:  # a special token between the two sentences belongs to the first
        current = s if s is not None else current
        segment.append(current)
    first_words = max((w for w, s in zip(words, seq) if s == 0 and w is not None), default=-1) + 1
    word_ids = [
        -1 if w is None or sp else w + (first_words if s == 1 else 0)
        for w, s, sp in zip(words, seq, special)
    ]
    tokens = tuple(enc.tokens)
    display = _display(tokens, special, word_ids, spans, segment, text, pair)
    return Encoded(
        input_ids=ids,
        token_type_ids=enc.type_ids if "token_type_ids" in tokenizer.model_input_names else None,
        tokens=tokens,
        special=np.array(special, dtype=bool),
        word_ids=np.array(word_ids, dtype=np.int64),
        segment_ids=np.array(segment, dtype=np.int64),
        offsets=np.array(spans, dtype=np.int64).reshape(len(ids), 2),
        dropped_tokens=dropped,
        display=display,
        dropped_chars=cut_chars,
    )


def mask_one_word(enc: Encoded, word_index: int, tokenizer: object) -> Encoded:
    """Replace every piece of word ``word_index`` (an index into ``word_groups``) by a single
    mask token, so a masked-LM head predicts the whole word at one position."""
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise ValueError("This tokenizer has no mask token, so words cannot be masked.")
    groups = word_groups(enc.word_ids)
    if not 0 <= word_index < len(groups) or enc.special[groups[word_index][0]]:
        raise ValueError("Pick a word of the sentence to mask (not [CLS] or [SEP]).")
    pieces = groups[word_index]
    first, last = pieces[0], pieces[-1] + 1
    keep = list(range(first)) + [first] + list(range(last, len(enc.input_ids)))

    def pick(values):
        return [values[i] for i in keep]

    ids = list(enc.input_ids)
    ids[first] = mask_id
    tokens = list(enc.tokens)
    tokens[first] = tokenizer.mask_token
    display = list(enc.display)
    display[first] = tokenizer.mask_token
    special = enc.special.copy()
    return Encoded(
        input_ids=pick(ids),
        token_type_ids=pick(enc.token_type_ids) if enc.token_type_ids is not None else None,
        tokens=tuple(pick(tokens)),
        special=special[keep],
        word_ids=enc.word_ids[keep],
        segment_ids=enc.segment_ids[keep],
        offsets=enc.offsets[keep],
        dropped_tokens=enc.dropped_tokens,
        display=tuple(pick(display)),
        dropped_chars=enc.dropped_chars,
    )


def display_tokens(
    tokens: tuple[str, ...],
    special: np.ndarray,
    word_ids: np.ndarray,
    offsets: np.ndarray,
    segment: np.ndarray,
    text: str,
    pair: str | None,
) -> tuple[str, ...]:
    """Readable labels: the user's own characters for each token (so byte-level BPE and
    SentencePiece read like WordPiece), with ``##`` marking a word's continuation pieces."""
    return _display(
        tokens, special.tolist(), word_ids.tolist(), offsets.tolist(), segment.tolist(), text, pair
    )


def _display(
    tokens: tuple[str, ...],
    special: list,
    word_ids: list,
    offsets: list,
    segment: list,
    text: str,
    pair: str | None,
) -> tuple[str, ...]:
    """``display_tokens`` on plain lists (indexing numpy one element at a time is slower)."""
    out = []
    for i, tok in enumerate(tokens):
        if special[i]:
            out.append(tok)
            continue
        source = pair if (segment[i] == 1 and pair is not None) else text
        start, end = offsets[i]
        piece = source[start:end].strip() if end > start else ""
        if not piece or not tok.strip(WORD_MARKS):
            piece = tok  # a word mark on its own (SentencePiece's '▁'): no characters of its own
        continues = i > 0 and word_ids[i] >= 0 and word_ids[i - 1] == word_ids[i]
        out.append(("##" + piece) if continues else piece)
    return tuple(out)


def word_groups(word_ids: np.ndarray) -> list[list[int]]:
    """Token positions grouped into words, in order; special tokens are their own group."""
    groups: list[list[int]] = []
    previous = None
    for i, w in enumerate(word_ids):
        if w >= 0 and w == previous:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous = w if w >= 0 else None
    return groups


def word_labels(display: tuple[str, ...], groups: list[list[int]]) -> list[str]:
    """One label per word: its pieces joined, without '##' and without a lone word mark."""

    def label(group: list[int]) -> str:
        pieces = [display[i].removeprefix("##") if k else display[i] for k, i in enumerate(group)]
        return "".join(p for p in pieces if p.strip(WORD_MARKS)) or "".join(pieces)

    return [label(g) for g in groups]
