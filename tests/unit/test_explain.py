"""Issue-4 analyses: the math of one layer, masking and the MLM lens, ablation, contrast,
the layer probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, DebertaV2ForMaskedLM

from tests.drivers import TINY_CONFIGS
from viz import capture
from viz import lens as viz_lens
from viz.analysis import contrast, layers, mlm, probe
from viz.analysis.head_math import activation, recompute_layer
from viz.capture import trace, uses_segments
from viz.models import Encoder
from viz.tokens import word_groups
from viz.weights import layer_weights

SENTENCE = "The bank by the river flooded, so the unbelievably old bank closed."
PAIR = "Where did the water go?"


def test_layer_recomputed_within_1e4_bundled(bundled):
    t = trace(bundled, SENTENCE)
    for layer in range(6):
        steps = recompute_layer(t.hidden_states[layer], layer_weights(bundled, layer), 12)
        assert np.abs(steps.out - t.hidden_states[layer + 1]).max() <= 1e-4
        np.testing.assert_allclose(steps.q, t.queries[layer], atol=1e-4)
        np.testing.assert_allclose(steps.probs, t.attentions[layer], atol=1e-5)
        np.testing.assert_allclose(steps.attn_out, t.attn_outputs[layer], atol=1e-4)
        np.testing.assert_allclose(steps.ffn_act, t.ffn_activations[layer], atol=1e-4)


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_layer_recomputed_every_architecture(tiny_encoders, model_type):
    encoder = tiny_encoders[model_type]
    t = trace(encoder, SENTENCE)
    for layer in range(encoder.facts.num_layers):
        steps = recompute_layer(
            t.hidden_states[layer],
            layer_weights(encoder, layer),
            encoder.facts.num_heads,
            t.score_bias(layer),
            encoder.facts.score_factor,
        )
        assert np.abs(steps.out - t.hidden_states[layer + 1]).max() <= 1e-4


def test_activation_gelu_by_hand():
    assert activation("gelu", np.array([0.0]))[0] == 0.0
    assert activation("gelu", np.array([1.0]))[0] == pytest.approx(0.8413447, abs=1e-6)
    assert activation("relu", np.array([-2.0, 3.0])).tolist() == [0.0, 3.0]


@pytest.fixture(scope="module", params=["bert", "deberta-v2"])
def tiny_mlm(request, tokenizer) -> Encoder:
    torch.manual_seed(0)
    if request.param == "bert":
        config = BertConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
        )
        model = BertForMaskedLM._from_config(config, attn_implementation="eager")
    else:  # DeBERTa's MLM head reads the hidden states alone (its 'legacy' head)
        model = DebertaV2ForMaskedLM._from_config(
            TINY_CONFIGS["deberta-v2"](), attn_implementation="eager"
        )
    return Encoder.from_model(model.eval(), tokenizer, name=f"tiny-mlm-{request.param}")


def test_mask_one_word_and_lens(tiny_mlm):
    plain = trace(tiny_mlm, SENTENCE)
    groups = word_groups(plain.word_ids)
    word = next(i for i, g in enumerate(groups) if len(g) > 1)  # "unbelievably": several pieces
    masked = trace(tiny_mlm, SENTENCE, mask_word=word)
    assert masked.num_tokens == plain.num_tokens - len(groups[word]) + 1
    pos = mlm.mask_position(masked, tiny_mlm.tokenizer.mask_token_id)
    assert masked.tokens[pos] == "[MASK]" and pos == groups[word][0]
    result = viz_lens.lens(tiny_mlm, masked, pos, k=5)
    L = tiny_mlm.facts.num_layers
    assert result.top_ids.shape == (L + 1, 5) and len(result.top_tokens) == L + 1
    assert result.final_rank[-1] == 1 and (result.final_rank >= 1).all()
    assert (np.diff(result.top_probs, axis=1) <= 0).all()  # sorted
    # the lens equals the model's own MLM output at the last layer
    with torch.inference_mode():
        logits = tiny_mlm.model(input_ids=torch.tensor([masked.token_ids.tolist()])).logits
    assert int(logits[0, pos].argmax()) == result.final_id


def test_lens_unavailable_without_head(bundled):
    with pytest.raises(ValueError, match="no masked-language-model head"):
        viz_lens.lens(bundled, trace(bundled, "hi"), 1)


@pytest.mark.parametrize("model_type", ["bert", "albert"])
def test_ablation_changes_only_later_layers(tiny_encoders, model_type):
    encoder = tiny_encoders[model_type]
    base = trace(encoder, SENTENCE)
    ablated = trace(encoder, SENTENCE, ablate=frozenset({(1, 2)}))
    np.testing.assert_array_equal(base.hidden_states[:2], ablated.hidden_states[:2])
    assert not np.allclose(base.hidden_states[2], ablated.hidden_states[2])
    assert np.all(ablated.attn_context[1][:, 2 * 8 : 3 * 8] == 0)  # dk = 32 / 4 = 8
    d = layers.drift(base.hidden_states, ablated.hidden_states)
    assert d[0] == d[1] == 0 and d[2] > 0
    with pytest.raises(ValueError, match="Head numbers"):
        trace(encoder, SENTENCE, ablate=frozenset({(0, 99)}))


def test_contrast_word_vectors(bundled):
    river = trace(bundled, "We sat on the bank of the river.")
    money = trace(bundled, "I deposited money at the bank.")
    pos_r = contrast.find_word(river.display_tokens, river.word_ids, "Bank")
    pos_m = contrast.find_word(money.display_tokens, money.word_ids, "bank")
    assert pos_r and pos_m
    vr = contrast.word_vectors(river.hidden_states, pos_r)
    vm = contrast.word_vectors(money.hidden_states, pos_m)
    cos = contrast.cosine_by_layer(vr, vm)
    assert cos.shape == (7,) and cos[0] > cos[-1]  # same word piece at the embedding layer
    assert contrast.find_word(river.display_tokens, river.word_ids, "absent") is None
    multi = trace(bundled, "Unbelievably, it worked.")
    assert len(contrast.find_word(multi.display_tokens, multi.word_ids, "unbelievably")) > 1
    zh = trace(bundled, "我去银行存钱。")  # BERT's tokenizer splits Chinese into characters

    def find(t, word):
        return contrast.find_word(t.display_tokens, t.word_ids, word, t.text, t.offsets)

    # 银 is not in the bundled model's vocabulary: the label says what the model read
    assert [zh.display_tokens[i] for i in find(zh, "银行")] == ["银→[UNK]", "行"]
    assert [river.display_tokens[i] for i in find(river, "the RIVER")] == ["the", "river"]
    plural = trace(bundled, "Two banks closed.")
    assert find(plural, "bank") is None  # a span inside a longer word is not the word
    assert find(plural, "banks") is not None
    same = contrast.self_similarity(np.stack([vr, vr]))
    np.testing.assert_allclose(same, 1.0)
    an = contrast.anisotropy([river.hidden_states[:, 1:-1], money.hidden_states[:, 1:-1]])
    assert an.shape == (7,) and np.all(an < 1)


CSV_OK = "text,label\n" + "".join(f"good {i},pos\nbad {i},neg\n" for i in range(6))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("text,label\ncafé,a\n".encode("latin-1"), "not UTF-8"),
        (b"sentence,class\nhi,a\n", "columns 'text' and 'label'"),
        (b"text,label\na,x\nb,x\nc,x\n", "same label"),
        (b"text,label\na,x\nb,x\nc,y\n", "at least 2 examples"),
        (b"text,label\n" + b"a,x\n" * 6000, "limit is 5000"),
        (b"x" * (6 * 2**20), "limit is 5 MB"),
    ],
)
def test_bad_csv_messages(data, message):
    with pytest.raises(ValueError, match=message):
        probe.read_labelled_csv(data)


def test_csv_reads_and_skips_blank_rows():
    parsed = probe.read_labelled_csv(("\ufeff" + CSV_OK + ",pos\n").encode("utf-8"))
    assert len(parsed.texts) == 12 and parsed.skipped_rows == 1
    assert parsed.classes == {"pos": 6, "neg": 6}


def test_probe_finds_the_informative_layer():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 30)
    noise = rng.normal(size=(60, 3, 8))
    noise[:, 2, 0] += np.where(y == "a", 4.0, -4.0)  # only layer 2 carries the label
    calls = []
    scores = probe.probe_layers({"mean": noise}, list(y), progress=calls.append)
    by_layer = {s.layer: s for s in scores}
    assert by_layer[2].mean > 0.95 and by_layer[0].mean < 0.8
    assert probe.best(scores).layer == 2 and calls[-1] == 1.0


def test_bundled_samples_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "viz" / "samples"
    for name in ("sentiment.csv", "topic.csv"):
        parsed = probe.read_labelled_csv((root / name).read_bytes())
        assert len(parsed.texts) >= 200 and len(parsed.classes) >= 2


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_head_scan_matches_an_independent_ablation(tiny_encoders, model_type, monkeypatch):
    """The app's head scan (each layer's heads off one per batch row, in batches as small as
    one row) against this test's own ablation, one head and one forward at a time: a pre-hook
    on the layer's output projection that zeroes the head's slice of its input."""
    encoder = tiny_encoders[model_type]
    f = encoder.facts
    dk = f.head_dim
    base = trace(encoder, SENTENCE, PAIR)
    inputs = {"input_ids": torch.tensor([base.token_ids.tolist()])}
    if uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor([base.segment_ids.tolist()])
    projections = [points["attn_out"] for points in encoder.layer_points]

    def by_own_hook(layer: int, head: int) -> np.ndarray:
        calls = []  # ALBERT: one projection, called once per layer

        def zero(_module, args):
            calls.append(1)
            if len(projections) > 1 or len(calls) - 1 == layer:
                x = args[0].clone()
                x[..., head * dk : (head + 1) * dk] = 0
                return (x,)
            return args

        handle = projections[min(layer, len(projections) - 1)].register_forward_pre_hook(zero)
        try:
            with torch.inference_mode():
                return encoder.base(**inputs)[0][0].numpy()
        finally:
            handle.remove()

    for rows in (f.num_heads, 3, 1):  # all heads in one batch, uneven batches, one at a time
        monkeypatch.setattr(
            capture, "SCAN_BATCH_BYTES", 4 * f.num_heads * base.num_tokens**2 * rows
        )
        values = layers.head_importance(
            base.hidden_states[-1],
            lambda layer: capture.each_head_off(encoder, SENTENCE, PAIR, layer),
            f.num_layers,
            f.num_heads,
        )
        for layer in range(f.num_layers):
            for head in range(f.num_heads):
                want = layers.drift(base.hidden_states[-1][None], by_own_hook(layer, head)[None])
                assert values[layer, head] == pytest.approx(want[0], abs=1e-6), (rows, layer, head)
        assert (values > 0).all()  # a random tiny model: every head matters a little
    row = capture.each_head_off(encoder, SENTENCE, PAIR, 1)[2]  # a scan row is a trace's last layer
    want = trace(encoder, SENTENCE, PAIR, ablate=frozenset({(1, 2)})).hidden_states[-1]
    np.testing.assert_allclose(row, want, atol=1e-5)


def test_lens_names_ids_the_tokenizer_lacks(tokenizer):
    """An output layer larger than the vocabulary (as DeBERTa-v3's): those ids get a name too."""
    vocab = len(tokenizer)
    names = mlm.token_names(tokenizer, [tokenizer.mask_token_id, vocab + 5])
    assert names == ("[MASK]", f"<id {vocab + 5}>")
