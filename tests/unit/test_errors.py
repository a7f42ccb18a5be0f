"""User errors: every one the core raises has a code in viz.errors.MESSAGES and the English text
the messages had before they had codes; our bugs are not UserErrors."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from transformers import GPT2Config

import viz.models
from viz import errors
from viz.analysis import probe
from viz.capture import trace
from viz.errors import MESSAGES, ModelLoadError, UserError
from viz.extract import parse_layers

ROOT = Path(__file__).resolve().parents[2]
# The core: everything but the UI package (and the figures and strings the UI engineer owns).
CORE = [
    p
    for p in sorted((ROOT / "viz").rglob("*.py"))
    if not {"ui", "figures"} & set(p.relative_to(ROOT / "viz").parts[:-1]) and p.name != "i18n.py"
]


def fields(text: str) -> list[str | None]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


def test_codes_are_short_snake_case_and_templates_name_their_placeholders():
    for code, text in MESSAGES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,30}", code), code
        names = fields(text)
        assert all(names), f"{code}: a positional {{}} cannot be translated"
        UserError(code, **dict.fromkeys(names, "x"))  # fills without a KeyError
    with pytest.raises(KeyError, match="add it to viz.errors.MESSAGES"):
        UserError("no_such_code")


def codes_raised(path: Path) -> set[str]:
    """String literals that name a code where a UserError or ModelLoadError is made."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in MESSAGES:
                found.add(node.value)
    return found


def test_every_code_is_raised_somewhere_and_no_core_module_raises_a_bare_value_error():
    used = set().union(*(codes_raised(p) for p in CORE if p.name != "errors.py"))
    assert set(MESSAGES) - used == set(), "codes in MESSAGES that nothing raises"
    allowed = {"trace.py"}  # a Trace built with wrong shapes: a programming error, not the user's
    for path in CORE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", None)
                if name == "ValueError" and path.name not in allowed:
                    pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} raises a bare ValueError")


def test_model_load_error_is_one_class():
    assert viz.models.ModelLoadError is errors.ModelLoadError
    assert issubclass(ModelLoadError, UserError) and issubclass(UserError, ValueError)


def test_errors_carry_their_code_and_params(tmp_path, monkeypatch, bundled):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        viz.models.load_encoder("   ")
    assert err.value.code == "name_empty"
    GPT2Config(n_layer=1, n_head=2, n_embd=8).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        viz.models.load_encoder(str(tmp_path))
    assert err.value.code == "decoder_only" and err.value.params["model_type"] == "gpt2"
    assert str(err.value).startswith(
        "'gpt2' is a decoder-only (left-to-right) model, not a bidirectional encoder. "
        "This explorer supports encoders: albert, bert, "
    )
    for kwargs, code in [
        (dict(text=" "), "text_empty"),
        (dict(text="ok", pair=""), "pair_empty"),
        (dict(text="caf\udcff"), "text_not_utf8"),
        (dict(text="ok", ablate=frozenset({(0, 12)})), "head_out_of_range"),
        (dict(text="ok", only=["hidden"]), "capture_unknown"),
    ]:
        with pytest.raises(UserError) as err:
            trace(bundled, **kwargs)
        assert err.value.code == code, kwargs
    assert str(err.value) == (
        "Cannot capture hidden: choose from hidden_states, attentions, queries, keys, values, "
        "attn_context, attn_outputs, ffn_activations, ffn_outputs."
    )


@pytest.mark.parametrize(
    ("call", "english"),
    [  # the messages whose parameters moved: the text as it was written before codes
        (
            lambda: probe.read_labelled_csv(b"x" * 6_500_000),
            "The file is 6.5 MB; the limit is 5 MB. Upload a smaller sample.",
        ),
        (
            lambda: probe.read_labelled_csv(b"sentence,class\nhi,a\n"),
            "The CSV needs the columns 'text' and 'label'; its header has 'sentence', 'class'.",
        ),
        (
            lambda: probe.read_labelled_csv(b"\n\ntext,label\n"),
            "The CSV needs the columns 'text' and 'label'; its header has nothing.",
        ),
        (
            lambda: probe.read_labelled_csv(b"text,label\na,x\nb,x\n"),
            "All rows have the same label ('x'); a probe needs at least two classes.",
        ),
        (
            lambda: probe.read_labelled_csv(b"text,label\na,\n"),
            "All rows have the same label ('none'); a probe needs at least two classes.",
        ),
        (
            lambda: probe.read_labelled_csv(b"text,label\na,x\nb,x\nc,y\n"),
            "Each label needs at least 2 examples for cross-validation; 'y' has only one.",
        ),
        (
            lambda: probe.read_labelled_csv(b"text,label\na,x\nb,x\nc,y\nd,z\n"),
            "Each label needs at least 2 examples for cross-validation; 'y', 'z' have only one.",
        ),
        (
            lambda: probe.read_labelled_csv("text,label\ncafé,a\n".encode("latin-1")),
            "The file is not UTF-8 (byte 14 is invalid). Save it as UTF-8 (in Excel: "
            "'CSV UTF-8') and upload it again.",
        ),
        (
            lambda: parse_layers("9", 6),
            "Layer 9 does not exist: this model has layers 0 (embeddings) to 6.",
        ),
        (
            lambda: parse_layers("Two", 6),
            "--layers 'two' is not 'all', 'last4' or numbers like 0,3,6.",
        ),
    ],
)
def test_english_text_is_unchanged(call, english):
    with pytest.raises(UserError) as err:
        call()
    assert str(err.value) == english


def test_the_clis_file_errors_read_as_before(tmp_path):
    from viz.cli import _check_output, _not_utf8

    bad = tmp_path / "in.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    assert str(_not_utf8(bad)) == (
        f"{bad} is not UTF-8 text (line 2, byte 4 of the line): save it as UTF-8."
    )
    with pytest.raises(UserError) as err:
        _check_output(tmp_path, "emb.npy")
    assert (
        str(err.value)
        == f"--out '{tmp_path}' is a folder: give a file name, e.g. {tmp_path / 'emb.npy'}."
    )
