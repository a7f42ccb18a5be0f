"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "viz", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )


def test_help_documents_every_option():
    for sub, options in {
        "trace": ["--text", "--pair", "--model", "--only", "--out"],
        "extract": ["--input", "--model", "--layers", "--pooling", "--batch-size", "--out"],
    }.items():
        result = run(sub, "--help")
        assert result.returncode == 0
        for option in options:
            assert option in result.stdout


def test_help_examples_show_every_command_of_the_tour():
    from viz.cli import EPILOG, build_parser

    assert EPILOG in build_parser().format_help()
    for command in ("trace", "extract", "index", "neighbors"):
        assert f"python -m viz {command} " in EPILOG, command


def test_trace_writes_npz(tmp_path):
    out = tmp_path / "t.npz"
    result = run("trace", "--text", "The bank closed.", "--pair", "It rained.", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out, allow_pickle=False) as data:
        tokens = list(data["tokens"])
        assert tokens[0] == "[CLS]" and "bank" in tokens
        assert data["hidden_states"].dtype == np.float32
        assert data["hidden_states"].shape == (7, len(tokens), 384)
        assert data["attentions"].shape == (6, 12, len(tokens), len(tokens))
        assert set(data["segment_ids"]) == {0, 1}


def test_trace_only_some_arrays(tmp_path):
    out = tmp_path / "t.npz"
    args = ["trace", "--text", "The bank closed.", "--only", "hidden_states, attentions"]
    result = run(*args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out, allow_pickle=False) as data:
        assert {"hidden_states", "attentions", "tokens"} <= set(data.files)
        assert not {"queries", "ffn_activations"} & set(data.files)
        assert data["attentions"].shape == (6, 12, len(data["tokens"]), len(data["tokens"]))


def test_extract_writes_npy(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("first sentence\nsecond, longer sentence here\n\nlast one\n", encoding="utf-8")
    out = tmp_path / "e.npy"
    result = run(
        "extract",
        "--input",
        str(src),
        "--layers",
        "0,3,-1",
        "--pooling",
        "cls",
        "--batch-size",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    emb = np.load(out)
    assert emb.shape == (4, 3, 384) and emb.dtype == np.float32
    assert "(layers emb, L3, L6; cls pooling)" in result.stderr
    assert np.isfinite(emb).all()


def test_errors_are_one_readable_line(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    cases = [
        (["trace", "--text", "   ", "--out", str(tmp_path / "x.npz")], "empty"),
        (["extract", "--input", str(tmp_path / "missing.txt"), "--out", "x.npy"], "does not exist"),
        (["extract", "--input", str(bad), "--out", str(tmp_path / "x.npy")], "not UTF-8"),
        (["extract", "--input", str(bad), "--layers", "9", "--out", "x.npy"], "not UTF-8"),
        (["trace", "--text", "hi", "--model", "nope/nope", "--out", "x.npz"], "nope/nope"),
        (["trace", "--text", "hi", "--only", "hidden", "--out", "x.npz"], "choose from"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_output_lands_where_asked_and_only_when_whole(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("The bank.\n\nA river bank that goes on and on and on.\n", encoding="utf-8")
    before = src.read_bytes()
    refused = run("extract", "--input", str(src), "--out", str(src))
    assert refused.returncode == 2 and "is the input file" in refused.stderr
    assert src.read_bytes() == before  # the input is untouched
    result = run("extract", "--input", str(src), "--max-tokens", "5", "--out", str(tmp_path / "e"))
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "e", allow_pickle=False).shape == (3, 7, 384)  # the name as given
    assert (
        "1 blank line got" in result.stderr
        and "1 line longer than 5 tokens, cut to 5" in result.stderr
    )
    result = run("trace", "--text", "hi", "--out", str(tmp_path / "noext"))
    assert result.returncode == 0 and (tmp_path / "noext").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e", "noext", "s.txt"]  # no leftovers
    for out, message in [(tmp_path, "is a folder"), (tmp_path / "no" / "t.npz", "does not exist")]:
        result = run("trace", "--text", "hi", "--out", str(out))
        assert result.returncode == 2 and message in result.stderr


def test_an_interrupted_write_leaves_nothing(tmp_path):
    from viz.cli import _written_whole

    out = tmp_path / "e.npy"
    out.write_bytes(b"an earlier result")
    with pytest.raises(KeyboardInterrupt), _written_whole(out) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"an earlier result"
    assert [p.name for p in tmp_path.iterdir()] == ["e.npy"]


def test_undecodable_bytes_and_bad_lines_are_named(tmp_path):
    # A terminal that cannot decode bytes passes them to Python as lone surrogates.
    result = run("trace", "--text", "caf\udcff ok", "--out", str(tmp_path / "t.npz"))
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    src = tmp_path / "s.txt"
    src.write_bytes(b"fine\n" * 2000 + "caf\xe9\n".encode("latin-1"))
    result = run("extract", "--input", str(src), "--out", str(tmp_path / "e.npy"))
    assert result.returncode == 2 and "line 2001, byte 4 of the line" in result.stderr
    result = run("extract", "--input", str(tmp_path), "--out", str(tmp_path / "e.npy"))
    assert result.returncode == 2 and "is a folder" in result.stderr
