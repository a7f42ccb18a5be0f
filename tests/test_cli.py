"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


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
