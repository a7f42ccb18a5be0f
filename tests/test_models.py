"""Loading: the bundled default, and one clear message for every way loading can fail."""

from __future__ import annotations

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
        ("/definitely/not/here", "does not exist"),
    ],
)
def test_bad_names_explain(name, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=message):
        load_encoder(name)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_encoder(str(tmp_path))
    with pytest.raises(ModelLoadError, match="is a file"):
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
