"""What a model path the server cannot load says, in the library and the CLI: one message for
every path that is not a model folder (the reason only in the log), never a traceback; a
refused pickle and a broken config.json say what is wrong."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from viz.cli import main as cli
from viz.models import ModelLoadError, load_encoder

NOT_A_MODEL = "not a model folder this server can read"


def tiny_bert() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    return BertModel(config)


def model_folder(folder: Path, tokenizer) -> Path:
    tiny_bert().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def unreadable(monkeypatch, folder: Path) -> None:
    """Make ``folder`` behave as a folder the server may not read (mode 000 for another user):
    it exists, but anything inside it raises PermissionError. The tests run as root, whom
    chmod does not stop, so the denial is made where pathlib, glob and transformers look."""
    inside = str(folder) + os.sep
    real_stat, real_scandir = os.stat, os.scandir

    def deny(path) -> None:
        if os.fspath(path).startswith(inside):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    def stat(path, *args, **kwargs):
        deny(path)
        return real_stat(path, *args, **kwargs)

    def scandir(path="."):
        deny(os.path.join(os.fspath(path), ""))
        return real_scandir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)


@pytest.fixture
def not_model_paths(tmp_path, tokenizer, monkeypatch) -> dict[str, str]:
    """Every kind of path that is not a loadable model folder, by what it is."""
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(
        tmp_path / "config-only"
    )
    locked = model_folder(tmp_path / "locked", tokenizer)
    unreadable(monkeypatch, locked)
    return {
        "missing": str(tmp_path / "nowhere"),
        "a file": str(tmp_path / "notes.txt"),
        "no config.json": str(tmp_path / "empty"),
        "config.json but no weights": str(tmp_path / "config-only"),
        "unreadable folder": str(locked),
        "inside an unreadable folder": str(locked / "model"),
    }


def test_every_path_that_is_not_a_model_folder_gets_one_message(not_model_paths, caplog):
    texts = {}
    for kind, path in not_model_paths.items():
        with caplog.at_level(logging.INFO, logger="viz.models"):
            with pytest.raises(ModelLoadError) as err:
                load_encoder(path)
        assert err.value.code == "not_a_model_folder", kind
        texts[kind] = str(err.value).replace(path, "PATH")
        assert path in caplog.text, kind  # the reason is in the server's log
        caplog.clear()
    assert len(set(texts.values())) == 1, texts
    assert NOT_A_MODEL in texts["missing"]
    assert "Permission" not in texts["unreadable folder"]


def test_cli_says_error_for_paths_that_are_not_model_folders(not_model_paths, tmp_path, capsys):
    lines = set()
    for kind, path in not_model_paths.items():
        out = tmp_path / "t.npz"
        assert cli(["trace", "--text", "hi", "--model", path, "--out", str(out)]) == 2, kind
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and NOT_A_MODEL in err[0], kind
        lines.add(err[0].replace(path, "PATH"))
    assert len(lines) == 1


class RunsCode:
    """Unpickled, this would create ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def malicious_pickle(tmp_path, tokenizer) -> tuple[Path, Path]:
    folder, marker = tmp_path / "evil", tmp_path / "payload-ran"
    model = tiny_bert()
    model.config.save_pretrained(folder)
    weights = {**model.state_dict(), "payload": RunsCode(marker)}
    torch.save(weights, folder / "pytorch_model.bin")
    tokenizer.save_pretrained(folder)
    return folder, marker


def test_a_malicious_pickle_is_refused_with_a_message(malicious_pickle, tmp_path, capsys):
    folder, marker = malicious_pickle
    with pytest.raises(ModelLoadError) as err:
        load_encoder(str(folder), allow_pickle=True)
    assert err.value.code == "pickle_unsafe" and "could run code" in str(err.value)
    args = ["trace", "--text", "hi", "--model", str(folder), "--allow-pickle"]
    assert cli([*args, "--out", str(tmp_path / "t.npz")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: The pickle (.bin) weights of")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"model_type": "bert", ', "config.json is not valid JSON: Expecting"),
        ('{"model_type": "my-own-encoder", "hidden_size": 16}', "model type 'my-own-encoder' is"),
        ("[1, 2]", "config.json is not valid JSON: it is not a JSON object"),
        # GTE v1.5's own-code format: the native class and a converted checkpoint are named
        ('{"model_type": "new", "hidden_size": 16}', "natively as 'gte'.*alibaba-nlp-community"),
    ],
)
def test_a_broken_or_custom_config_says_what_is_wrong(config, message, tmp_path, tokenizer):
    folder = model_folder(tmp_path / "model", tokenizer)
    (folder / "config.json").write_text(config, encoding="utf-8")
    with pytest.raises(ModelLoadError, match=message) as err:
        load_encoder(str(folder))
    assert "neither a local folder" not in str(err.value)


def test_a_custom_model_type_without_weights_says_so_too(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x"}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="model type 'x' is not one transformers knows"):
        load_encoder(str(tmp_path))


def test_an_unreadable_models_dir_offers_the_other_models(tmp_path, tokenizer, monkeypatch):
    from viz.local_models import find_local_models

    root = tmp_path / "models"
    model_folder(root / "tiny", tokenizer)
    assert [m.name for m in find_local_models(str(root), cache_dir=tmp_path)][1:] == [
        str(root / "tiny")
    ]
    unreadable(monkeypatch, root)
    assert [m.name for m in find_local_models(str(root), cache_dir=tmp_path)] == [
        "all-MiniLM-L6-v2"
    ]
