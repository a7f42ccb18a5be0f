"""The project as an installed package: built non-editable into a fresh venv and used from a
folder that is not the repository, so nothing can come from the working tree by accident.

Offline and quick: the venv gets no pip and no dependencies of its own; a ``.pth`` file makes
this environment's site-packages visible after its own (so torch, streamlit and pip resolve,
while ``viz`` is the freshly installed copy), and the build uses this environment's setuptools.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_THE_PROJECT = (
    ".git",
    ".venv",
    "build",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "artifacts",
)


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PIP_NO_INDEX": "1"},
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the venv's bin folder, an empty working folder outside the repository)."""
    tmp = tmp_path_factory.mktemp("install")
    # A copy of the working tree without git, venvs and build leftovers: the build writes
    # build/ and *.egg-info next to its sources, which must not land in the repository.
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_THE_PROJECT))
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site.stdout.strip(), "_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--ignore-installed",  # the dev environment's editable install is not to be replaced
        src,
        cwd=tmp,
    )
    work = tmp / "work"
    work.mkdir()
    return venv / "bin", work


@pytest.mark.slow
def test_the_package_holds_viz_and_its_samples_only(installed):
    bin_dir, work = installed
    probe = (
        "import importlib.metadata as md, json, viz; from pathlib import Path;"
        "print(json.dumps([str(Path(viz.__file__).parent),"
        " [str(f) for f in md.distribution('bert-layer-explorer').files]]))"
    )
    package, files = json.loads(_run(bin_dir / "python", "-c", probe, cwd=work).stdout)
    assert Path(package).is_relative_to(bin_dir.parent), package  # not the repository's viz
    assert {"sentiment.csv", "topic.csv"} <= {p.name for p in Path(package, "samples").iterdir()}
    tops = {f.split("/")[0] for f in files if not f.startswith("..")}  # ../bin: the script
    assert tops == {"viz", "bert_layer_explorer-0.1.0.dist-info"}, tops


@pytest.mark.slow
def test_the_command_line_runs_from_any_folder(installed):
    bin_dir, work = installed
    assert "trace" in _run(bin_dir / "python", "-m", "viz", "--help", cwd=work).stdout
    _run(
        *(bin_dir / "python", "-m", "viz", "trace", "--text", "The bank."),
        *("--only", "hidden_states", "--out", "x.npz"),
        cwd=work,
    )
    import numpy as np

    with np.load(work / "x.npz") as saved:
        assert saved["hidden_states"].ndim == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_console_script_serves_the_app(installed):
    bin_dir, work = installed
    port = _free_port()
    log = work / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(bin_dir / "bert-layer-explorer"),
                *("--server.port", str(port), "--server.headless", "true"),
                *("--server.address", "127.0.0.1"),
            ],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                url = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert answer.status == 200 and answer.read() == b"ok"
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no server on port {port}:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_the_installed_app_renders_without_the_repository(installed):
    bin_dir, work = installed
    script = (
        "from streamlit.testing.v1 import AppTest; from viz.ui.launch import APP;"
        "at = AppTest.from_file(str(APP), default_timeout=120).run();"
        "assert not at.exception, [e.value for e in at.exception]; print(APP)"
    )
    app = _run(bin_dir / "python", "-c", script, cwd=work).stdout.strip()
    assert Path(app).is_relative_to(bin_dir.parent), app


def test_the_console_script_carries_the_repository_settings():
    """An installed app does not read .streamlit/config.toml: the launcher's flags must match."""
    from viz.ui import launch

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    flat = {
        f"{section}.{key}": value for section, keys in config.items() for key, value in keys.items()
    }
    assert launch.SETTINGS == flat
    command = launch.command(["--server.port", "1"])
    assert command[1:5] == ["-m", "streamlit", "run", str(launch.APP)]
    assert command[-2:] == ["--server.port", "1"]  # the caller's flags come last and win
