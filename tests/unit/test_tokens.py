"""Tokenisation: pairs, truncation reporting, display labels, words, awkward characters."""

from __future__ import annotations

import numpy as np
import pytest

from viz.capture import trace
from viz.tokens import (
    display_tokens,
    encode,
    readable_token,
    word_groups,
    word_labels,
    word_texts,
)


def test_pair_segments_and_words(tokenizer):
    enc = encode(tokenizer, "Unbelievable tokenization", "Second one", 512)
    assert enc.tokens[0] == "[CLS]" and enc.tokens.count("[SEP]") == 2
    first_sep = enc.tokens.index("[SEP]")
    assert set(enc.segment_ids[: first_sep + 1]) == {0}
    assert set(enc.segment_ids[first_sep + 1 :]) == {1}
    words = word_labels(enc.display, word_groups(enc.word_ids))
    assert words == ["[CLS]", "Unbelievable", "tokenization", "[SEP]", "Second", "one", "[SEP]"]
    assert any(t.startswith("##") for t in enc.display)  # subwords are marked
    # word ids are unique across the pair
    real = enc.word_ids[enc.word_ids >= 0]
    assert len(set(real)) == 4


def test_truncation_is_reported(tokenizer):
    text = " ".join(["word"] * 600)
    enc = encode(tokenizer, text, None, 512)
    assert len(enc.input_ids) == 512
    assert enc.dropped_tokens == 602 - 512
    assert encode(tokenizer, "short", None, 512).dropped_tokens == 0


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", None])
def test_empty_text_is_a_clear_error(tokenizer, text):
    with pytest.raises(ValueError, match="empty"):
        encode(tokenizer, text, None, 512)


def test_only_control_characters_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="no characters the model can read"):
        encode(tokenizer, "\x01\x02\x00\x7f", None, 512)


@pytest.mark.parametrize(
    "text",
    [
        "Family: 👨‍👩‍👧 and a flag 🇫🇷!",
        "我们在河边的银行见面。",
        "שלום עולם مرحبا بالعالم",
        "zero\u200bwidth and control\x07 chars\x00 NUL",
        "é composed and e\u0301 combining",
        "[CLS] looks special [MASK] <s>",
    ],
)
def test_awkward_text_traces(bundled, text):
    result = trace(bundled, text)
    assert result.num_tokens >= 3
    assert np.isfinite(result.hidden_states).all()
    assert all(label for label in result.display_tokens)
    # text that merely looks like a special token is not treated as one
    assert result.special.sum() == 2


def test_special_looking_text_is_not_special(bundled):
    result = trace(bundled, "[CLS] [SEP] [MASK]")
    assert result.special.tolist() == [True] + [False] * (result.num_tokens - 2) + [True]
    special_ids = {
        bundled.tokenizer.cls_token_id,
        bundled.tokenizer.sep_token_id,
        bundled.tokenizer.mask_token_id,
    }
    assert not special_ids & set(result.token_ids[1:-1].tolist())


def test_a_lone_word_mark_is_shown_as_itself():
    """SentencePiece can cut '▁' off a word ('▁', 'T', 'he' for 'The'); its offsets then point
    at the word's first character, which must not be shown twice."""
    tokens = ("[CLS]", "▁", "T", "he", "▁big", "[SEP]")
    special = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
    words = np.array([-1, 0, 0, 0, 1, -1])
    offsets = np.array([[0, 0], [0, 1], [0, 1], [1, 3], [3, 7], [0, 0]])
    segment = np.zeros(6, dtype=np.int64)
    shown = display_tokens(tokens, special, words, offsets, segment, "The big", None)
    assert shown == ("[CLS]", "▁", "##T", "##he", "big", "[SEP]")
    assert word_labels(shown, word_groups(words)) == ["[CLS]", "The", "big", "[SEP]"]


def test_threads_never_get_each_others_truncation(bundled):
    """Texts past the maximum, encoded from several threads at once: each call sets the shared
    Rust tokenizer's truncation (and the count of dropped tokens switches it off), so without
    the lock some encodings came back whole (163 of 1,200 at 702 tokens, measured)."""
    import threading

    lengths, errors = [], []

    def run(text: str) -> None:
        try:
            for _ in range(60):
                lengths.append(len(encode(bundled.tokenizer, text, None, 512).input_ids))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    texts = ["word " * 700, "river bank " * 400] * 2
    threads = [threading.Thread(target=run, args=(text,)) for text in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(lengths) == 240
    assert max(lengths) == 512


AWKWARD = [
    ("The bank by the river.", None),
    ("Where?", "By the river bank, [CLS] <s> [MASK] </s>"),
    ("word " * 700, None),  # cut at the maximum
    ("word " * 300, "pair " * 400),  # longest first
    ("café 银行 🙂 مرحبا \u200b x\u0301", None),
    ("[SEP] [CLS]", "[MASK]"),
]


@pytest.mark.parametrize("which", ["wordpiece", "sentencepiece"])
def test_rust_encode_is_what_the_tokenizer_call_returns(which, tokenizer, spm_folder):
    """``encode`` asks the Rust tokenizer directly; for every awkward input it must give what
    transformers' own call with the same settings gives: ids, offsets, special flags, words,
    sequences, token strings, type ids."""
    from transformers import AutoTokenizer

    from viz.tokens import rust_encode

    tok = tokenizer if which == "wordpiece" else AutoTokenizer.from_pretrained(spm_folder)
    for text, pair in AWKWARD:
        for limit in (512, 20):
            want = tok(
                text,
                pair,
                add_special_tokens=True,
                truncation="longest_first",
                max_length=limit,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                split_special_tokens=True,
            )
            got = rust_encode(tok, text, pair, limit)
            assert got.ids == list(want["input_ids"]), (text[:20], limit)
            assert got.offsets == [tuple(o) for o in want["offset_mapping"]]
            assert got.special_tokens_mask == list(want["special_tokens_mask"])
            assert got.word_ids == want.word_ids() and got.sequence_ids == want.sequence_ids()
            assert got.tokens == want.tokens()
            if "token_type_ids" in want:
                assert got.type_ids == list(want["token_type_ids"])
        whole = tok(text, pair, add_special_tokens=True, split_special_tokens=True)
        assert rust_encode(tok, text, pair, None).ids == list(whole["input_ids"])


def test_offsets_index_the_stored_text_when_nul_is_removed(bundled):
    result = trace(bundled, "\x00The bank\x00 is")
    assert result.text == "The bank is"
    words = [result.text[s:e] for (s, e), sp in zip(result.offsets, result.special) if not sp]
    assert words == ["The", "bank", "is"]


@pytest.fixture(scope="module")
def byte_bpe():
    """A tiny byte-level BPE tokenizer (as RoBERTa's), trained on English only: a Chinese
    character or an emoji becomes one token per UTF-8 byte."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["The bank by the river flooded.", "A cafe by the bank."] * 50,
        vocab_size=300,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def test_a_character_split_into_bytes_is_labelled_once_per_piece(byte_bpe):
    text = "The bank: 它关 café 😀"
    enc = encode(byte_bpe, text, None, 64)
    shown = [label.removeprefix("##") for label in enc.display]
    assert shown[shown.index("它(1/3)") : shown.index("它(1/3)") + 6] == [
        "它(1/3)",
        "它(2/3)",
        "它(3/3)",
        "关(1/3)",
        "关(2/3)",
        "关(3/3)",
    ]
    assert "é(2/2)" in shown and "😀(4/4)" in shown
    words = word_texts(
        word_groups(enc.word_ids), enc.display, enc.offsets, enc.segment_ids, text, None
    )
    assert words == ["<s>", "The", "bank", ":", "它关", "café", "😀", "</s>"]  # each character once


def test_vocabulary_entries_read_like_the_labels(byte_bpe, spm_folder, tokenizer):
    from transformers import AutoTokenizer

    assert [readable_token(byte_bpe, t) for t in ("Ġbank", "ank", ".", "<s>")] == [
        "bank",
        "##ank",
        ".",
        "<s>",
    ]
    assert readable_token(byte_bpe, "å") == "å"  # part of a character's bytes: as it is
    spm = AutoTokenizer.from_pretrained(spm_folder)
    assert readable_token(spm, "▁river") == "river"
    assert readable_token(tokenizer, "##ing") == "##ing"  # WordPiece already reads so


def test_an_unknown_character_is_labelled_as_unknown(bundled):
    result = trace(bundled, "我们在河边")  # 们 and 在 are not in the bundled model's vocabulary
    assert "们→[UNK]" in result.display_tokens and "河" in result.display_tokens
