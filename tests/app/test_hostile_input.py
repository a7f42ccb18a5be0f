"""Hostile input through the app (AppTest) and the CLI: every case gets a clear message or a
working page, and the app keeps working afterwards. Also: nothing runs code from outside."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.drivers import charts, new_app
from viz.cli import main as cli
from viz.models import ModelLoadError, load_encoder

FIVE_MB = ("lorem ipsum dolor sit amet " * 200_000)[: 5 * 2**20]

TEXTS = {
    "empty": ("", "error"),
    "whitespace": (" \t\n  ", "error"),
    "single character": ("a", "ok"),
    "punctuation only": ("?!...;:--", "ok"),
    "10,000 words": ("word " * 10_000, "warning"),
    "5,000-character word": ("x" * 5_000, "ok"),
    "5 MB paste": (FIVE_MB, "warning"),
    "emoji joiners and combining marks": ("👩‍👩‍👧‍👦 👍🏽 e\u0301 a\u0308\u0304 🏳️‍🌈", "ok"),
    "right-to-left": ("مرحبا بالعالم שלום עולם", "ok"),
    "zero-width and control": ("a\u200bb\u200c\u200d\u2060c\x07\x1b[31m d", "ok"),
    "NUL": ("before\x00after", "ok"),
    "only control characters": ("\x01\x02\x03", "error"),
    "special-token lookalikes": ("[CLS] [SEP] [MASK] [PAD] <s> </s> <mask> [UNK]", "ok"),
    "html and script": ('<script>alert(1)</script><img src=x onerror="alert(2)"></div>', "ok"),
    "markdown": (
        "# title **bold** [link](javascript:alert(1)) ![img](http://x/y.png) `code`",
        "ok",
    ),
    "latex": (r"$\frac{1}{0}$ $$\begin{align}x\end{align}$$ \textbf{x} \\ \def\a{\a}\a", "ok"),
}


def good_sentence_works(at: AppTest) -> None:
    at.sidebar.text_area(key="text").input("A normal sentence after all that.").run()
    assert not at.exception and not at.error and charts(at) == 3


@pytest.mark.parametrize("case", list(TEXTS))
def test_app_survives_text(case):
    text, outcome = TEXTS[case]
    at = new_app()
    at.sidebar.text_area(key="text").input(text).run()
    assert not at.exception, case
    if outcome == "error":
        assert at.error and ("empty" in at.error[0].value or "no characters" in at.error[0].value)
    else:
        assert not at.error, [e.value for e in at.error]
        assert charts(at) >= 2
        if outcome == "warning":
            assert at.warning and any("dropped" in w.value for w in at.warning)
    # user text never reaches Markdown: the facts line and messages are ours
    assert all("<script>" not in m.value for m in at.markdown)
    good_sentence_works(at)


@pytest.mark.parametrize("view", ["layers", "heads", "math", "contrast", "export"])
def test_hostile_text_in_other_views(view):
    at = new_app(view=view)
    at.sidebar.text_area(key="text").input(TEXTS["html and script"][0] + " 👩‍👩‍👧‍👦").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no-such-org/no-such-model", "no-such-org/no-such-model"),
        ("/etc", "not a model folder"),  # one message for every such path: no file oracle
        ("/etc/passwd", "not a model folder"),
        ("../../../../", "not a model folder"),
        ("<script>alert(1)</script>", "script"),
    ],
)
def test_app_survives_model_names(model, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = new_app()
    at.sidebar.text_input(key="model").input(model).run()
    assert not at.exception
    assert at.error and message in at.error[0].value.replace("\\", "")
    at.sidebar.text_input(key="model").input("all-MiniLM-L6-v2").run()
    assert not at.exception and not at.error and charts(at) == 3


def test_decoder_only_model_in_the_app(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_head=2, n_embd=8).save_pretrained(tmp_path)
    at = new_app()
    at.sidebar.text_input(key="model").input(str(tmp_path)).run()
    assert not at.exception and at.error and "decoder-only" in at.error[0].value.replace("\\", "")


def test_allow_list_refuses_other_models(monkeypatch):
    monkeypatch.setenv("VIZ_ALLOWED_MODELS", "all-MiniLM-L6-v2")
    at = new_app(model="/etc")  # a link asking for another model falls back to the list
    assert not at.exception and not at.error and charts(at) == 3
    box = at.sidebar.selectbox(key="model")
    assert box.options == ["all-MiniLM-L6-v2"]


@pytest.mark.parametrize("case", [c for c in TEXTS if TEXTS[c][1] != "error"])
def test_cli_trace_survives_text(case, tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert cli(["trace", "--text", TEXTS[case][0], "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as data:
        assert data["hidden_states"].shape[1] <= 512
        assert np.isfinite(data["hidden_states"]).all()


@pytest.mark.parametrize("case", [c for c in TEXTS if TEXTS[c][1] == "error"])
def test_cli_trace_rejects_text(case, tmp_path, capsys):
    assert cli(["trace", "--text", TEXTS[case][0], "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary\xff\xfe", "not UTF"),
        ("caf\xe9 au lait\n".encode("latin-1"), "not UTF"),
        (b"ok line\nnul\x00line\n", "NUL"),
        (b"", "empty"),
    ],
)
def test_cli_extract_rejects_bad_files(content, message, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    assert cli(["extract", "--input", str(src), "--out", str(tmp_path / "e.npy"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_remote_code_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilModel"],
                "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"},
            }
        )
    )
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(ModelLoadError):
        load_encoder(str(tmp_path))
    assert not marker.exists()


GOOD_CSV = "text,label\n" + "".join(
    f'"{w} is {"wonderful" if i % 2 else "terrible"}, number {i}",{"pos" if i % 2 else "neg"}\n'
    for i, w in enumerate(["The film", "This song", "The meal", "Our trip", "That book"] * 8)
)
UPLOADS = {
    "binary file": (bytes(range(256)) * 64, "binary"),
    "UTF-16 file": (GOOD_CSV.encode("utf-16"), "binary"),  # its NUL bytes give it away
    "Latin-1 file": ("text,label\ncafé crème,a\nnaïve,b\n".encode("latin-1"), "not UTF"),
    "wrong columns": (b"sentence,category\nhello,a\nbye,b\n", "columns 'text' and 'label'"),
    "single class": (b"text,label\nhello,a\nbye,a\nagain,a\n", "same label"),
    "too many rows": (("text,label\n" + "hi,a\nho,b\n" * 3000).encode(), "rows"),
    "huge file": (b"text,label\n" + b"x" * (6 * 2**20) + b",a\n", "limit"),
    "empty file": (b"", "empty"),
    "script in the text": (
        b"text,label\n<script>window.x=1</script> good,a\n<img src=x onerror=alert(1)> bad,b\n",
        "at least 2 examples",  # too few to cross-validate: a message, and never markup
    ),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_probe_upload_gives_a_clear_message(case):
    content, message = UPLOADS[case]
    at = new_app(view="probe")
    at.radio(key="probe_source").set_value("upload").run()
    at.file_uploader(key="probe_file").upload("data.csv", content, "text/csv").run()
    assert not at.exception, case
    assert at.error and message in at.error[0].value, [e.value for e in at.error]
    assert all("<script>" not in m.value for m in at.markdown)
    # a good file afterwards works: the page was not broken by the bad one
    at.file_uploader(key="probe_file").set_value(("good.csv", GOOD_CSV.encode(), "text/csv"))
    at.run()
    at.button(key="probe_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert charts(at) == 1 and at.success
