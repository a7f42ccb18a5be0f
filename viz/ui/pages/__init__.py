"""The pages, in the order the sidebar lists them. ``PAGE_NAMES`` is the one list of pages:
the frame, the tests and the benchmarks read it. Each page is a module here with
``render(trace, key)``; its title is the catalogue string ``view_<name>``."""

from __future__ import annotations

import importlib
from types import ModuleType

PAGE_NAMES = (
    "attention",
    "layers",
    "embeddings",
    "heads",
    "math",
    "contrast",
    "probe",
    "mlm",
    "ablation",
    "attribution",
    "syntax",
    "corpus",
    "export",
)


def load_pages() -> dict[str, ModuleType]:
    """Every page module by name (importing one declares its widgets' memory)."""
    return {name: importlib.import_module(f"viz.ui.pages.{name}") for name in PAGE_NAMES}
