"""Tokenisation for tracing, token display, and subword -> word merging."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from viz.errors import UserError

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
    text: str = ""  # the text as tokenised (``clean_text``): what the offsets index into
    pair: str | None = None


def clean_text(text: str | None, what: str = "text") -> str:
    """The text as it is tokenised (NUL removed: it breaks some tokenizers and means nothing
    here); offsets index into this string. Empty text and undecodable bytes are errors.
    ``what``: "text", or "pair" for the second sentence (the message names the one at fault)."""
    pair = what == "pair"
    if text is None or not text.strip():
        raise UserError("pair_empty" if pair else "text_empty")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # bytes a terminal could not decode reach argv so
            code = "pair_not_utf8" if pair else "text_not_utf8"
            raise UserError(code, position=err.start + 1) from None
    return text.replace("\x00", "")


def rust_encode(tokenizer: object, text: str, pair: str | None, max_tokens: int | None):
    """The fast tokenizer's own ``Encoding`` of ``text`` (and ``pair``), special tokens added,
    cut to ``max_tokens`` (longest sequence first) unless it is None; what ``tokenizer(text,
    pair, truncation="longest_first", max_length=..., split_special_tokens=True)`` returns,
    without the 30 us of Python around it (tests/test_tokens.py checks they are identical).
    Typed "[CLS]" or "<s>" stays the user's text, never the model's token."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UserError("no_fast_tokenizer")
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
    clean = clean_text(text)
    clean_pair = clean_text(pair, "pair") if pair is not None else None
    cut_chars = max(0, len(clean) - MAX_CHARS) + max(0, len(clean_pair or "") - MAX_CHARS)
    text = clean[:MAX_CHARS]
    pair = clean_pair[:MAX_CHARS] if clean_pair is not None else None
    enc = rust_encode(tokenizer, text, pair, max_tokens)
    ids = enc.ids
    if len(ids) <= sum(enc.special_tokens_mask):
        raise UserError("nothing_readable")
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
    unknown = getattr(tokenizer, "unk_token", None)
    display = _display(tokens, special, word_ids, spans, segment, text, pair, unknown)
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
        text=clean,
        pair=clean_pair,
    )


def mask_one_word(enc: Encoded, word_index: int, tokenizer: object) -> Encoded:
    """Replace every piece of word ``word_index`` (an index into ``word_groups``) by a single
    mask token, so a masked-LM head predicts the whole word at one position."""
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise UserError("no_mask_token")
    groups = word_groups(enc.word_ids)
    if not 0 <= word_index < len(groups) or enc.special[groups[word_index][0]]:
        raise UserError("mask_not_a_word")
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
        text=enc.text,
        pair=enc.pair,
    )


def display_tokens(
    tokens: tuple[str, ...],
    special: np.ndarray,
    word_ids: np.ndarray,
    offsets: np.ndarray,
    segment: np.ndarray,
    text: str,
    pair: str | None,
    unknown: str | None = None,
) -> tuple[str, ...]:
    """Readable labels: the user's own characters for each token (so byte-level BPE and
    SentencePiece read like WordPiece), with ``##`` marking a word's continuation pieces
    (see ``_display`` for the marks of unknown tokens and split characters). The arrays may
    be plain lists already (a tokenizer's own ``Encoding`` fields): no conversion then."""
    return _display(
        tokens,
        _as_list(special),
        _as_list(word_ids),
        _as_list(offsets),
        _as_list(segment),
        text,
        pair,
        unknown,
    )


def _as_list(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else values


def _display(
    tokens: tuple[str, ...],
    special: list,
    word_ids: list,
    offsets: list,
    segment: list,
    text: str,
    pair: str | None,
    unknown: str | None = None,
) -> tuple[str, ...]:
    """``display_tokens`` on plain lists (indexing numpy one element at a time is slower).

    Two marks keep the labels honest: a token the vocabulary lacks reads ``银→[UNK]`` (the
    model saw [UNK], not the character), and a character that byte-level BPE splits over n
    tokens reads ``它(1/3)``, ``##它(2/3)``, ``##它(3/3)``: each piece is a third of it."""
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
        elif tok == unknown:
            piece = f"{piece}→{tok}"
        continues = i > 0 and word_ids[i] >= 0 and word_ids[i - 1] == word_ids[i]
        out.append(("##" + piece) if continues else piece)
    pieces = [bool(tok.strip(WORD_MARKS)) and not sp for tok, sp in zip(tokens, special)]
    for first, n in _byte_runs(offsets, segment, pieces):
        for k in range(n):
            out[first + k] += f"({k + 1}/{n})"
    return tuple(out)


def _same_span(offsets: list, segment: list, pieces: list, i: int, j: int) -> bool:
    """Tokens ``i`` and ``j`` (both real pieces, not special tokens or a lone word mark) cover
    the same characters: byte-level BPE split one character over them."""
    return (
        0 <= j < len(offsets)
        and pieces[i]
        and pieces[j]
        and segment[i] == segment[j]
        and tuple(offsets[i]) == tuple(offsets[j])
    )


def _byte_runs(offsets: list, segment: list, pieces: list) -> list[tuple[int, int]]:
    """(first, length) of each run of two or more tokens that cover the same characters."""
    runs, T, i = [], len(offsets), 0
    if not any(a == b for a, b in zip(offsets, offsets[1:])):
        return runs  # the usual case, decided without the loop below
    while i < T:
        n = 1
        if offsets[i][1] > offsets[i][0]:
            while i + n < T and _same_span(offsets, segment, pieces, i + n, i):
                n += 1
        if n > 1:
            runs.append((i, n))
        i += n
    return runs


def readable_token(tokenizer: object, name: str) -> str:
    """A vocabulary entry written as the token labels are: its characters (``Ġbank`` and
    ``▁bank`` read ``bank``), with ``##`` before a piece that continues a word, as WordPiece
    writes it. Special tokens, and a byte-level piece that is only part of a character, keep
    the tokenizer's own name."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or name in getattr(tokenizer, "all_special_tokens", ()):
        return name
    if type(backend.model).__name__ == "WordPiece" or backend.decoder is None:
        return name
    try:
        with TOKENIZER_LOCK:
            text = backend.decoder.decode([name]).strip()
    except Exception:  # a decoder that cannot take this entry alone: show it as it is
        return name
    if not text or "\ufffd" in text:
        return name
    starts_word = name[:1] in WORD_MARKS or not any(c.isalnum() for c in text)  # punctuation
    return text if starts_word else "##" + text


def unknown_mask(tokens: tuple[str, ...], special: np.ndarray, unk: str | None) -> np.ndarray:
    """bool [T]: the tokens the model read as its unknown token ``unk`` (never a special one;
    none when the tokenizer has no unknown token)."""
    if not unk:
        return np.zeros(len(tokens), dtype=bool)
    return np.array([tok == unk for tok in tokens], dtype=bool) & ~np.asarray(special, bool)


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


def word_texts(
    groups: list[list[int]],
    display: tuple[str, ...],
    offsets: np.ndarray,
    segment_ids: np.ndarray,
    text: str,
    pair: str | None,
) -> list[str]:
    """One label per word: the characters of the user's text its pieces cover, so pieces that
    share a character (byte-level BPE) or add none (a lone '▁') count once. A special token,
    or a word with no characters, keeps its display label."""
    out = []
    for group in groups:
        spans = [offsets[i] for i in group if offsets[i][1] > offsets[i][0]]
        word = ""
        if spans:
            source = pair if (segment_ids[group[0]] == 1 and pair is not None) else text
            word = source[min(s for s, _ in spans) : max(e for _, e in spans)].strip()
        out.append(word or word_labels(display, [group])[0])
    return out


def word_labels(display: tuple[str, ...], groups: list[list[int]]) -> list[str]:
    """One label per word: its pieces joined, without '##' and without a lone word mark."""

    def label(group: list[int]) -> str:
        pieces = [display[i].removeprefix("##") if k else display[i] for k, i in enumerate(group)]
        return "".join(p for p in pieces if p.strip(WORD_MARKS)) or "".join(pieces)

    return [label(g) for g in groups]
