"""The package's layers, checked on the source so they cannot erode: only viz.ui imports
streamlit; analyses import no torch; nothing imports upward; figures carry no English."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

VIZ = Path(__file__).resolve().parents[2] / "viz"
MODULES = sorted(p for p in VIZ.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(VIZ.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def uses(path: Path, package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in imports(path))


def test_the_rules_see_every_module():
    names = {module_name(p) for p in MODULES}
    assert {"viz.ui.app", "viz.ui.pages.attention", "viz.analysis.attention"} <= names


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_only_the_ui_imports_streamlit(path):
    if module_name(path).startswith("viz.ui"):
        return
    assert not uses(path, "streamlit"), f"{module_name(path)} imports streamlit"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_analyses_and_figures_import_no_torch(path):
    name = module_name(path)
    if name.startswith(("viz.analysis", "viz.figures", "viz.names", "viz.errors")):
        assert not uses(path, "torch"), f"{name} imports torch"
        assert not uses(path, "transformers"), f"{name} imports transformers"


# Lower layers never import higher ones: the core knows nothing of figures or the page.
ABOVE = {
    "viz.analysis": ("viz.figures", "viz.ui", "viz.cli"),
    "viz.figures": ("viz.ui", "viz.cli"),
    "viz.arch": ("viz.analysis", "viz.figures", "viz.ui", "viz.cli"),
    "viz.capture": ("viz.analysis", "viz.figures", "viz.ui", "viz.cli"),
    "viz.names": ("viz.",),
    "viz.errors": ("viz.",),
}


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_nothing_imports_upward(path):
    name = module_name(path)
    for layer, forbidden in ABOVE.items():
        if name == layer or name.startswith(layer + "."):
            bad = [i for i in imports(path) if i.startswith(forbidden)]
            assert not bad, f"{name} imports {bad}, a layer above it"


# Keyword arguments whose strings a reader sees on a chart.
SHOWN = {"hovertemplate", "title", "title_text", "name", "subplot_titles", "text", "ticktext"}
ENGLISH = re.compile(r"[A-Za-z]{3,}")
FORMULA_WORDS = {"cos"}  # 1 − cos is a formula, not English
PLOTLY = re.compile(r"%\{[^}]*\}|<[^>]*>|&[a-z]+;")  # placeholders, tags, entities


def shown_strings(path: Path) -> list[tuple[int, str]]:
    """Literal text passed to a shown keyword (f-string parts included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg in SHOWN:
            keys = {id(k) for d in ast.walk(node.value) if isinstance(d, ast.Dict) for k in d.keys}
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    if id(sub) not in keys:  # {"text": ...}: a Plotly property name
                        out.append((sub.lineno, sub.value))
    return out


def english_words(text: str) -> set[str]:
    return set(ENGLISH.findall(PLOTLY.sub("", text))) - FORMULA_WORDS


@pytest.mark.parametrize("path", sorted((VIZ / "figures").glob("*.py")), ids=lambda p: p.stem)
def test_figures_carry_no_english(path):
    """Every word a figure shows comes from its caller (in the reader's language)."""
    english = [(line, text) for line, text in shown_strings(path) if english_words(text)]
    assert not english, f"{path.name}: English text in a figure: {english}"
