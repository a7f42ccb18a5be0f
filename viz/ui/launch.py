"""``bert-layer-explorer``: start the app that ships inside the installed package.

An installed app is started from any folder, so Streamlit does not find the repository's
``.streamlit/config.toml``; its settings travel here as command-line flags instead (a test
checks the two agree). Arguments given to the command come after them, so they win.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"

# The settings of .streamlit/config.toml, as `streamlit run` flags.
SETTINGS: dict[str, object] = {
    "server.maxUploadSize": 5,  # MB; the probe also refuses larger files
    "browser.gatherUsageStats": False,
    "runner.magicEnabled": False,
    "runner.postScriptGC": False,  # gc.collect(2) after every run walks torch's objects
    "client.toolbarMode": "viewer",
}


def _flag_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def command(argv: Sequence[str] = ()) -> list[str]:
    """``python -m streamlit run <package>/ui/app.py`` with the settings, then ``argv``."""
    flags = [part for key, value in SETTINGS.items() for part in (f"--{key}", _flag_value(value))]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags, *argv]


def main(argv: Sequence[str] | None = None) -> None:
    """Replace this process with the Streamlit server (signals and exit code go straight to it,
    and torch is first imported by the app, after it has set its OpenMP environment)."""
    args = command(sys.argv[1:] if argv is None else argv)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
