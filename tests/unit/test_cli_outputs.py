"""The command line's inputs, outputs and summaries: what it reads, what it refuses, what it
writes, and what it says about the text it read."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import tracemalloc
import uuid
from pathlib import Path

import numpy as np
import pytest

from viz import cli
from viz.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None, umask: int | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "viz", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin", **(env or {})},
        umask=-1 if umask is None else umask,
    )


def one_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


# [UNK] tokens in the summaries


def test_trace_summary_counts_unknown_tokens(tmp_path):
    result = run(
        "trace",
        "--text",
        "我们在河边的银行门口见面，然后去银行存钱。",
        "--out",
        str(tmp_path / "t.npz"),
    )
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        tokens, special = list(data["tokens"]), data["special"]
    real = int((~special).sum())
    unknown = sum(t == "[UNK]" for t, s in zip(tokens, special) if not s)
    assert unknown > real / 2  # the bundled model reads few Chinese characters
    assert f"{unknown} of {real} tokens are [UNK]" in result.stderr
    assert "does not read this script" in result.stderr
    quiet = run("trace", "--text", "The bank by the river.", "--out", str(tmp_path / "e.npz"))
    assert quiet.returncode == 0 and "[UNK]" not in quiet.stderr


def test_extract_summary_counts_unknown_tokens(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("The bank by the river.\n银行在河边。\n银行关门了。\n", encoding="utf-8")
    result = run("extract", "--input", str(src), "--quiet", "--out", str(tmp_path / "e.npy"))
    assert result.returncode == 0, result.stderr
    from viz.models import load_encoder

    tok = load_encoder().tokenizer
    rows = [tok(line, add_special_tokens=False)["input_ids"] for line in src.read_text().split()]
    unknown = sum(row.count(tok.unk_token_id) for row in rows)
    assert 0 < unknown
    assert f"{unknown} of {sum(map(len, rows))} tokens (in 2 lines) are [UNK]" in result.stderr


# sentence-transformers' cut, and the cuts of long lines


def test_extract_counts_lines_past_sentence_transformers_cut(tmp_path):
    src = tmp_path / "s.txt"
    long = " ".join(["river"] * 300)  # 302 tokens: ST's 256 cut applies, ours (512) does not
    src.write_text(f"short one\n{long}\n{long} bank\n", encoding="utf-8")
    result = run("extract", "--input", str(src), "--quiet", "--out", str(tmp_path / "e.npy"))
    assert result.returncode == 0, result.stderr
    assert "2 lines longer than 256 tokens, where sentence-transformers cuts" in result.stderr
    assert "--max-tokens 256 reproduces them" in result.stderr
    same = run(
        "extract", "--input", str(src), "--max-tokens", "256", "--out", str(tmp_path / "f.npy")
    )
    assert same.returncode == 0 and "sentence-transformers" not in same.stderr
    assert "2 lines longer than 256 tokens, cut to 256" in same.stderr


def test_a_huge_line_is_cut_before_the_tokenizer_sees_it(tmp_path, monkeypatch):
    from viz import extract
    from viz.models import load_encoder

    src = tmp_path / "s.txt"
    with src.open("w", encoding="utf-8") as f:
        f.write("a short line\n")
        f.write("bank river " * 500_000 + "\n")  # 5.5 MB on one line
        f.write("another short line\n")
    encoder = load_encoder()
    seen: list[int] = []
    tokenizer = type(encoder.tokenizer)
    original = tokenizer.__call__

    def spy(self, texts, *args, **kwargs):
        seen.append(max(len(t) for t in ([texts] if isinstance(texts, str) else texts)))
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(tokenizer, "__call__", spy)
    monkeypatch.setattr("viz.models.load_encoder", lambda *a, **k: encoder)
    out = tmp_path / "e.npy"
    args = cli.build_parser().parse_args(
        ["extract", "--input", str(src), "--quiet", "--layers", "-1", "--out", str(out)]
    )
    tracemalloc.start()
    try:
        cli.run_extract(args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = extract.max_chars(encoder.facts.max_tokens)
    assert seen and max(seen) <= limit
    assert peak < 40 * 2**20  # the 5.5 MB line is never held whole, let alone tokenised whole
    assert np.load(out).shape == (3, 1, 384)


def test_the_summary_counts_lines_cut_by_characters(tmp_path, capsys):
    src = tmp_path / "s.txt"
    src.write_text("ok\n" + "x" * 30_000 + "\n" + " " * 30_000 + "y\n", encoding="utf-8")
    assert cli.main(["extract", "--input", str(src), "--quiet", "--out", str(tmp_path / "e")]) == 0
    err = capsys.readouterr().err
    from viz.extract import max_chars

    chars = max_chars(512)
    assert f"; 2 lines longer than {chars} characters, cut to {chars} before tokenising" in err


def test_line_reader_cuts_and_keeps_line_ends(tmp_path):
    src = tmp_path / "s.txt"
    src.write_bytes(b"abc\r\n" + b"y" * 11 + b"\r\n" + b"z" * 10 + b"\r\nlast")
    assert list(cli._lines(src, 10)) == ["abc", "y" * 11, "z" * 10, "last"]
    src.write_bytes(b"a" * 11 + b"\r\nb\n")  # the "\r\n" split by the reader's limit
    assert list(cli._lines(src, 10)) == ["a" * 11, "b"]


# the output file: its mode, what it may replace, a full disk


def test_outputs_get_the_mode_of_a_new_file(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("one\ntwo\n", encoding="utf-8")
    for args, out in [
        (["trace", "--text", "The bank."], tmp_path / "t.npz"),
        (["extract", "--input", str(src), "--quiet"], tmp_path / "e.npy"),
    ]:
        result = run(*args, "--out", str(out), umask=0o022)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
    result = run("trace", "--text", "x", "--out", str(tmp_path / "u.npz"), umask=0o077)
    assert stat.S_IMODE((tmp_path / "u.npz").stat().st_mode) == 0o600


def test_out_refuses_what_is_not_a_regular_file(tmp_path):
    target = tmp_path / "target.npz"
    target.write_bytes(b"keep")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    src = tmp_path / "s.txt"
    src.write_text("one\n", encoding="utf-8")
    try:
        cases = [
            ("/dev/null", "is not a regular file"),
            (str(fifo), "is not a regular file"),
            (str(sock_path), "is not a regular file"),
            (str(link), "is a symbolic link"),
        ]
        for out, message in cases:
            for args in (["trace", "--text", "hi"], ["extract", "--input", str(src)]):
                # a model that does not exist: the refusal comes before any work
                one_error(run(*args, "--model", "no/such-model", "--out", out), message)
    finally:
        sock.close()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    assert target.read_bytes() == b"keep"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_full_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    src = tmp_path / "s.txt"
    src.write_text("one\ntwo\n", encoding="utf-8")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    out = tmp_path / "e.npy"
    assert cli.main(["extract", "--input", str(src), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: no space left on device while writing {out}: nothing was written; "
        "free some space or write elsewhere."
    ]
    assert _leftovers(tmp_path) == ["s.txt"]


def test_out_no_space_from_a_write_is_a_user_error(tmp_path):
    out = tmp_path / "t.npz"
    with pytest.raises(UserError, match="no space left on device"), cli._written_whole(out) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert _leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, where mounting is allowed (root, a mount namespace that permits it)."""
    mount = shutil.which("mount") or "/usr/bin/mount"
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_real_full_disk(small_disk, tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("one sentence\n" * 300, encoding="utf-8")  # 300 x 7 x 384 x 4 B = 3.2 MB
    out = small_disk / "e.npy"
    result = run("extract", "--input", str(src), "--quiet", "--out", str(out))
    one_error(result, "no space left on device")
    assert _leftovers(small_disk) == []
    (small_disk / "filler").write_bytes(b"\0" * (2 * 2**20 - 64 * 1024))
    result = run("trace", "--text", "The bank by the river. " * 20, "--out", str(small_disk / "t"))
    one_error(result, "no space left on device")
    assert _leftovers(small_disk) == ["filler"]


# standard input


def test_extract_reads_standard_input(tmp_path):
    lines = "first sentence\n\nsecond, longer sentence here\n"
    src = tmp_path / "s.txt"
    src.write_text(lines, encoding="utf-8")
    reference = run("extract", "--input", str(src), "--quiet", "--out", str(tmp_path / "f.npy"))
    assert reference.returncode == 0, reference.stderr
    for name in ("-", "/dev/stdin"):
        out = tmp_path / f"e{len(name)}.npy"
        result = run("extract", "--input", name, "--quiet", "--out", str(out), stdin=lines)
        assert result.returncode == 0, result.stderr
        assert "1 blank line got" in result.stderr
        np.testing.assert_allclose(np.load(out), np.load(tmp_path / "f.npy"), atol=1e-5)
    one_error(run("extract", "--input", "-", "--out", str(tmp_path / "x"), stdin=""), "empty")


# the environment torch starts in


def torch_import_seen(*argv: str) -> str:
    """``python -m viz ARGV`` in a fresh interpreter: ``OMP_WAIT_POLICY`` as torch began to
    import, as a list's repr (``[]``: torch was never imported)."""
    probe = (
        "import os, sys, runpy\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' and not seen:\n"
        "            seen.append(os.environ.get('OMP_WAIT_POLICY'))\n"
        "sys.meta_path.insert(0, Watch())\n"
        f"sys.argv = ['viz', *{list(argv)!r}]\n"
        "try:\n"
        "    runpy.run_module('viz', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(repr(seen))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env=env
    )
    return result.stderr.strip().splitlines()[-1]


def test_openmp_threads_wait_passively_when_torch_loads(tmp_path):
    out = str(tmp_path / "t.npz")
    assert torch_import_seen("trace", "--text", "x", "--model", "no/such", "--out", out) == (
        "['PASSIVE']"
    )


def test_help_and_mistakes_are_answered_before_torch_loads(tmp_path):
    """torch and transformers take seconds to import: the parser and the checks of the
    arguments do without them."""
    assert torch_import_seen("--help") == "[]"
    assert torch_import_seen("trace", "--text", "x", "--out", "/dev/null") == "[]"
    missing = str(tmp_path / "missing.txt")
    assert torch_import_seen("extract", "--input", missing, "--out", "e.npy") == "[]"
