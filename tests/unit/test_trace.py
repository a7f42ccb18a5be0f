"""The one table of captured arrays (viz.trace.ARRAYS) and what reads it; the public API."""

from __future__ import annotations

import dataclasses
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viz.trace import ARRAYS, CAPTURED, FIELDS, KINDS, LETTERS, Trace, kinds_of, shape_of

ROOT = Path(__file__).resolve().parents[2]


def npz_paragraph() -> str:
    """README's paragraph that lists the keys of trace.npz (under "Command line")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^`trace\.npz` holds.*?(?=\n\n)", text, flags=re.S | re.M)
    assert match, "README.md lost its paragraph on trace.npz"
    return match[0]


def test_readme_names_every_captured_array():
    paragraph = npz_paragraph()
    missing = [a.name for a in ARRAYS if f"`{a.name}`" not in paragraph]
    assert not missing, f"README.md's trace.npz paragraph does not name {missing}"


def test_cli_help_is_read_from_the_table():
    from viz.cli import build_parser, trace_description

    description = trace_description()
    for a in ARRAYS:
        assert f"{a.name} [{a.shape}] ({a.meaning})" in description
    for letter in LETTERS:
        assert f"{letter} {LETTERS[letter]}" in description
    help_text = build_parser()._subparsers._group_actions[0].choices["trace"].format_help()
    assert ", ".join(CAPTURED) in " ".join(help_text.split())


def test_the_table_matches_the_trace_and_uses_only_the_letters():
    assert set(CAPTURED) <= {f.name for f in dataclasses.fields(Trace)}
    assert len(set(CAPTURED)) == len(CAPTURED) and len(set(KINDS)) == len(KINDS)
    assert FIELDS == dict(zip(KINDS, CAPTURED))
    sizes = dict(L=2, H=3, T=5, D=12, dk=4, F=7)
    assert shape_of("L+1 T D", sizes) == (3, 5, 12)
    for a in ARRAYS:
        assert len(a.dims(sizes)) == len(a.shape.split())
    with pytest.raises(ValueError, match="Unknown shape letter"):
        shape_of("L X", sizes)


def test_every_array_has_the_tables_shape_and_a_wrong_one_is_refused(tiny_encoders):
    from viz.capture import trace

    encoder = tiny_encoders["deberta-v2"]
    t = trace(encoder, "The bank by the river.")
    sizes = encoder.facts.sizes(t.num_tokens)
    for a in ARRAYS:
        assert getattr(t, a.name).shape == a.dims(sizes), a.name
    wrong = np.zeros((1, *t.hidden_states.shape[1:]), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Trace.hidden_states has shape \(1, "):
        dataclasses.replace(t, hidden_states=wrong)


def test_only_names_are_checked_against_the_table():
    assert kinds_of(["attentions", "hidden_states"]) == ("hidden", "probs")
    with pytest.raises(ValueError, match="Cannot capture hidden: choose from hidden_states, "):
        kinds_of(["hidden"])
    with pytest.raises(ValueError, match="Cannot capture nothing"):
        kinds_of([])


def python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_viz_or_an_analysis_does_not_import_torch():
    import viz.analysis

    # not mlm: it runs the model's own masked-LM head
    analyses = [m.name for m in pkgutil.iter_modules(viz.analysis.__path__) if m.name != "mlm"]
    imports = "; ".join(f"import viz.analysis.{name}" for name in analyses)
    code = f"import sys, viz, viz.trace, viz.names, viz.errors; {imports}"
    assert python(f"{code}; print(sorted({{'torch', 'transformers'}} & set(sys.modules)))") == "[]"


@pytest.mark.parametrize("first", ["import viz.trace", "import viz.capture", "pass"])
def test_the_public_api(first):
    """``viz.trace`` runs a trace whichever module was imported first."""
    code = (
        f"{first}\n"
        "import viz\n"
        "from viz import Trace, load_encoder, sentence_embeddings, trace\n"
        "encoder = load_encoder()\n"
        "t = trace(encoder, 'The bank.')\n"
        "assert isinstance(viz.trace(encoder, 'A river.'), Trace) and isinstance(t, Trace)\n"
        "assert viz.trace.Trace is Trace and viz.trace.ARRAYS\n"
        "print(sentence_embeddings(encoder, ['one', 'two']).shape)\n"
    )
    assert python(code) == "(2, 7, 384)"
