"""What the model field says in the app: one message for every path that is not a model folder
(an unreadable one too), a refused pickle as a message, never a traceback; with an allow-list,
a label that offers only the allowed models."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from tests.drivers import charts, new_app

NOT_A_MODEL = "not a model folder this server can read"


def tiny_bert_folder(folder: Path, tokenizer) -> Path:
    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def error_for(at, model: str) -> str:
    at.sidebar.text_input(key="model").input(model).run()
    assert not at.exception, model
    assert at.error, model
    return at.error[0].value.replace("\\", "")


def test_paths_that_are_not_model_folders_get_one_message(tmp_path, tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    locked = tiny_bert_folder(tmp_path / "locked", tokenizer)
    (tmp_path / "notes.txt").write_text("hello")
    inside, real_stat = str(locked) + os.sep, os.stat

    def stat(path, *args, **kwargs):  # root reads everything: deny inside ``locked`` here
        if os.fspath(path).startswith(inside):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    at = new_app()
    paths = [str(locked), str(locked / "model"), str(tmp_path / "nowhere"), "/etc", "/etc/passwd"]
    texts = {error_for(at, path).replace(path, "PATH") for path in paths}
    assert len(texts) == 1 and NOT_A_MODEL in texts.pop()
    at.sidebar.text_input(key="model").input("all-MiniLM-L6-v2").run()
    assert not at.exception and not at.error and charts(at) == 3


class RunsCode:
    """Unpickled, this would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_is_a_message(tmp_path, tokenizer, monkeypatch):
    monkeypatch.setenv("VIZ_ALLOW_PICKLE", "1")
    folder, marker = tmp_path / "evil", tmp_path / "payload-ran"
    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2))
    model.config.save_pretrained(folder)
    torch.save({**model.state_dict(), "payload": RunsCode(marker)}, folder / "pytorch_model.bin")
    tokenizer.save_pretrained(folder)
    at = new_app()
    assert "could run code" in error_for(at, str(folder))
    assert not marker.exists()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_with_an_allow_list_the_label_offers_only_those(lang, monkeypatch):
    from viz.ui.i18n import en, zh

    frame = {"en": en, "zh": zh}[lang].CATALOGUE["frame"]
    monkeypatch.setenv("VIZ_ALLOWED_MODELS", "all-MiniLM-L6-v2")
    at = new_app(lang=lang)
    assert not at.exception
    label = at.sidebar.selectbox(key="model").label
    assert label == frame["model_allowed"] and label != frame["model"]
    assert "Hugging Face" not in label


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_how_to_add_a_model_is_said_once_per_page(lang, monkeypatch, tmp_path):
    """The MLM page on a Chinese text with no local reader and no MLM model: the page names
    what is missing, and the sidebar alone says how to add a model."""
    from viz.ui.i18n import en, zh

    monkeypatch.setenv("VIZ_MODELS_DIR", str(tmp_path))  # nothing there
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    catalogue = {"en": en, "zh": zh}[lang].CATALOGUE
    strings = {k: v for group in catalogue.values() for k, v in group.items()}
    at = new_app(view="mlm", lang=lang, text="我们在河边的银行门口见面，然后去银行存钱。")
    assert not at.exception
    shown = [c.value for c in at.caption]  # the sidebar's too
    help_start = strings["models_offline_help"][:12]
    assert sum(help_start in c for c in shown) == 1, shown
    assert any(strings["no_local_mlm"] in c and strings["models_see_sidebar"] in c for c in shown)
