"""Loading: the bundled default, and one clear message for every way loading can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config

from viz.models import DEFAULT_MODEL, ModelLoadError, load_encoder


def test_bundled_default_loads_offline(bundled, monkeypatch):
    assert bundled.name == DEFAULT_MODEL
    assert type(bundled.model).__name__ == "BertModel"
    f = bundled.facts
    assert (f.num_layers, f.num_heads, f.hidden_size, f.max_tokens) == (6, 12, 384, 512)
    assert bundled.model.config._attn_implementation == "eager"
    assert not bundled.model.training
    assert not f.has_mlm_head


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("no-such-org/no-such-model-xyz", "no-such-org/no-such-model-xyz"),
        ("/definitely/not/here", "not a model folder"),
    ],
)
def test_bad_names_explain(name, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=message):
        load_encoder(name)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_encoder(str(tmp_path))
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_encoder(str(tmp_path / "notes.txt"))


def test_decoder_only_model_is_refused(tmp_path):
    GPT2Config(n_layer=1, n_head=2, n_embd=8).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="decoder-only"):
        load_encoder(str(tmp_path))


def test_pickle_weights_need_opt_in(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20)
    )
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # an old-style pickle checkpoint
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "pytorch_model.bin").exists()
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_encoder(str(tmp_path))
    encoder = load_encoder(str(tmp_path), allow_pickle=True)
    assert encoder.facts.num_layers == 1


def test_local_folder_loads_with_mlm_head(tmp_path, tokenizer):
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20)
    )
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    encoder = load_encoder(str(tmp_path))
    assert encoder.facts.has_mlm_head
    logits = encoder.mlm_logits(torch.zeros(3, 16))
    assert logits.shape == (3, 30522)


def test_deberta_v3_style_folder_loads_and_traces(tmp_path, spm_folder):
    """A DeBERTa-v3 checkpoint as the Hub ships it: a SentencePiece ``spm.model`` and no
    tokenizer.json (sentencepiece converts it), weights with an MLM head; loaded by path, traced
    with disentangled attention, the mask predicted, the recomputation within 1e-4."""
    import shutil

    from transformers import DebertaV2ForMaskedLM

    from tests.conftest import TINY_CONFIGS
    from viz.analysis.head_math import recompute_layer
    from viz.capture import trace
    from viz.weights import layer_weights

    folder = tmp_path / "deberta-v3-tiny"
    shutil.copytree(spm_folder, folder)
    torch.manual_seed(0)
    config = TINY_CONFIGS["deberta-v2"]()
    config.vocab_size = 40
    DebertaV2ForMaskedLM(config).save_pretrained(folder)
    encoder = load_encoder(str(folder))
    f = encoder.facts
    assert f.model_type == "deberta-v2" and f.has_mlm_head and f.score_factor == 3
    t = trace(encoder, "The bank by the river closed.")
    assert t.tokens[0] == "[CLS]" and t.tokens[-1] == "[SEP]" and "[UNK]" not in t.tokens
    shown = "".join(t.display_tokens[1:-1]).replace("##", "")
    assert shown.replace("▁", "") == "Thebankbytheriverclosed."  # each character once
    assert t.attn_bias.shape == (f.num_layers, f.num_heads, t.num_tokens, t.num_tokens)
    for layer in range(f.num_layers):
        steps = recompute_layer(
            t.hidden_states[layer],
            layer_weights(encoder, layer),
            f.num_heads,
            t.score_bias(layer),
            f.score_factor,
        )
        assert np.abs(steps.out - t.hidden_states[layer + 1]).max() <= 1e-4
    masked = trace(encoder, "The bank by the river closed.", mask_word=1)
    assert "[MASK]" in masked.tokens


def test_deberta_with_a_convolution_is_refused(tmp_path, tokenizer):
    from transformers import AutoModel

    from tests.conftest import TINY_CONFIGS
    from viz.models import Encoder

    config = TINY_CONFIGS["deberta-v2"]()
    config.conv_kernel_size = 3
    model = AutoModel.from_config(config, attn_implementation="eager")
    with pytest.raises(ValueError, match="convolution after its first layer"):
        Encoder.from_model(model, tokenizer)

    folder = tmp_path / "deberta-v2-xlarge-like"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="DeBERTa-v3 models"):
        load_encoder(str(folder))


def test_folder_without_weights_or_tokenizer_is_named(tmp_path, tokenizer):
    torch.manual_seed(0)
    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_encoder(str(tmp_path))
    BertModel(
        BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    ).save_pretrained(tmp_path)
    # without this check transformers builds an empty tokenizer and every word is [UNK]
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        load_encoder(str(tmp_path))
    tokenizer.save_pretrained(tmp_path)
    assert load_encoder(str(tmp_path)).facts.num_layers == 1


def test_the_default_models_hub_id_means_the_bundled_copy(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    assert encoder.facts.num_layers == 6 and encoder.facts.hidden_size == 384
