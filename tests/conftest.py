"""Shared fixtures: the bundled model (real, offline) and tiny random models built from configs."""

from __future__ import annotations

import os
from pathlib import Path

# Figures are built with Plotly's property checks in every test (the app skips them, see
# viz/figures/go.py); servers the tests start inherit it.
os.environ.setdefault("VIZ_VALIDATE_FIGURES", "1")

import pytest
import torch
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
)

from tests.drivers import TINY_CONFIGS
from viz.models import Encoder, bundled_model_dir, load_encoder


@pytest.fixture(scope="session")
def tokenizer():
    return AutoTokenizer.from_pretrained(bundled_model_dir())


def tiny_model(model_type: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = TINY_CONFIGS[model_type]()
    config._attn_implementation = "eager"
    return AutoModel.from_config(config, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def spm_folder(tmp_path_factory) -> Path:
    """A SentencePiece tokenizer as DeBERTa-v3 ships it on the Hub: ``spm.model`` and a config,
    no tokenizer.json (transformers converts it with the sentencepiece package)."""
    import sentencepiece

    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    corpus.write_text(
        "The bank by the river flooded, so the bank closed early.\n"
        "I deposited money at the bank on Main Street.\n" * 40,
        encoding="utf-8",
    )
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "spm"),
        vocab_size=40,
        hard_vocab_limit=False,  # a corpus this small has fewer pieces
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
    )
    for name in ("corpus.txt", "spm.vocab"):
        (folder / name).unlink()
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": false}', encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="session")
def tiny_encoders(tokenizer) -> dict[str, Encoder]:
    return {t: Encoder.from_model(tiny_model(t), tokenizer, name=f"tiny-{t}") for t in TINY_CONFIGS}


@pytest.fixture(scope="session")
def bundled() -> Encoder:
    return load_encoder()


@pytest.fixture(scope="session")
def tiny_mlm_folder(tmp_path_factory, tokenizer) -> str:
    """A tiny random BertForMaskedLM saved with the bundled tokenizer, loadable by path."""
    folder = tmp_path_factory.mktemp("tiny-mlm")
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        architectures=["BertForMaskedLM"],
    )
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


TIERS = ("unit", "app", "browser")  # the folder a test lives in is its tier


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier (its folder): ``-m "not browser and not slow"`` is the
    fast loop."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True, scope="session")
def _own_corpus_dir(tmp_path_factory):
    """The Corpus page's demo index in a folder of this run, not the machine's shared one
    (``/tmp/viz-corpus``): a demo built there by hand would change what the pages show."""
    mp = pytest.MonkeyPatch()
    mp.setenv("VIZ_CORPUS_DIR", str(tmp_path_factory.mktemp("viz-corpus")))
    yield
    mp.undo()
