"""The models on this machine: found in a folder and in the Hugging Face cache, marked with what
they can do, offered on the page and switched to in one click."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizer

from tests.drivers import new_app
from viz.local_models import find_local_models, readers, unknown_share
from viz.models import DEFAULT_MODEL
from viz.ui.model_picker import CHINESE_PROBE

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def chinese_tokenizer() -> BertTokenizer:
    """A WordPiece vocabulary with the probe's Chinese characters: a model that reads Chinese."""
    chars = sorted(set(CHINESE_PROBE + "我们在银行见面花园里的花都开了"))
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, "the", "bank", "."]
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)})


@pytest.fixture(scope="module")
def machine(tmp_path_factory, tokenizer) -> dict[str, Path]:
    """A models folder with a Chinese-reading encoder and an English masked-LM model, and a
    Hugging Face cache holding one more model (the layout the Hub's client writes)."""
    root = tmp_path_factory.mktemp("machine")
    models = root / "models"
    torch.manual_seed(0)
    chinese = models / "tiny-chinese"
    tok = chinese_tokenizer()
    BertModel(BertConfig(vocab_size=len(tok), **TINY)).save_pretrained(chinese)
    tok.save_pretrained(chinese)
    mlm = models / "tiny-mlm"
    BertForMaskedLM(BertConfig(architectures=["BertForMaskedLM"], **TINY)).save_pretrained(mlm)
    tokenizer.save_pretrained(mlm)
    (models / "not-a-model").mkdir()
    snapshot = root / "hub" / "models--someone--tiny-cached" / "snapshots" / "0123abcd"
    BertModel(BertConfig(**TINY)).save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    return {"models": models, "hub": root / "hub", "chinese": chinese, "mlm": mlm}


def test_local_models_are_found_with_what_they_can_do(machine):
    found = find_local_models(str(machine["models"]), machine["hub"])
    names = [m.name for m in found]
    assert names == [
        DEFAULT_MODEL,
        str(machine["chinese"]),
        str(machine["mlm"]),
        "someone/tiny-cached",
    ]  # the default, the folder's models by path, the cache's by id; no non-model folder
    by_name = {m.name: m for m in found}
    assert by_name[str(machine["mlm"])].has_mlm_head
    assert not by_name[DEFAULT_MODEL].has_mlm_head
    assert [m.name for m in readers(found, CHINESE_PROBE)] == [str(machine["chinese"])]
    assert unknown_share(by_name[DEFAULT_MODEL], CHINESE_PROBE) > 0.4  # the bundled one cannot


def test_mostly_unknown_text_says_so_first_and_switches_in_one_click(machine, monkeypatch):
    monkeypatch.setenv("VIZ_MODELS_DIR", str(machine["models"]))
    from viz.ui.model_picker import local_models

    local_models.clear()
    at = new_app(text=CHINESE_PROBE)
    assert not at.exception
    assert "[UNK]" in at.warning[0].value  # first, and prominent
    at.button(key="switch_reader").click().run()
    assert not at.exception and not at.error
    assert at.sidebar.text_input(key="model").value == str(machine["chinese"])
    assert not at.warning  # the new model reads it
    assert "tiny\\-chinese (bert)" in at.caption[1].value  # the facts line names the new model
    local_models.clear()


def test_the_picker_lists_the_models_and_puts_the_choice_in_the_model_field(machine, monkeypatch):
    monkeypatch.setenv("VIZ_MODELS_DIR", str(machine["models"]))
    from viz.ui.model_picker import local_models

    local_models.clear()
    at = new_app(view="mlm", text="The bank by the river.")
    box = at.sidebar.selectbox(key="model_pick")
    labels = " | ".join(box.options)
    assert "MLM" in labels and "reads this text" in labels
    assert "switch_mlm_" + str(machine["mlm"]) in [b.key for b in at.button]  # MLM page offers it
    box.set_value(str(machine["mlm"])).run()
    assert not at.exception and not at.error
    assert at.sidebar.text_input(key="model").value == str(machine["mlm"])
    local_models.clear()


def test_chinese_examples_say_they_need_a_chinese_model_when_there_is_none(monkeypatch):
    monkeypatch.delenv("VIZ_MODELS_DIR", raising=False)
    from viz.ui.model_picker import local_models

    local_models.clear()
    at = new_app(lang="zh")
    options = at.sidebar.selectbox(key="example_pick").options
    chinese = [o for o in options if "银行" in o]
    assert chinese and all("需要能读中文的模型" in o for o in chinese)
    assert all("需要" not in o for o in options if "bank" in o)
