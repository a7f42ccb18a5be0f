"""Capture what every layer computes, through forward hooks.

``capture(encoder)`` (``hooks.py``) is the one context manager that registers hooks: the generic
ones every family gets and its quirks' own (``viz.arch``), each added inside ``try`` and removed
in ``finally``; results go to a local ``Store`` (``store.py``), never onto the model, and the
encoder's lock is held from registration to removal because every app session shares one
model. Families that call their attention through transformers' attention interface give Q, K,
V and the probabilities to ``attention.py`` instead of to hooks. Switching heads off is
``ablation.py``. ``trace(encoder, text)`` (``run.py``) is the
public entry point; callers reach it as ``viz.capture.trace``.
"""

from viz.capture.hooks import capture, shapes
from viz.capture.run import SCAN_BATCH_BYTES, each_head_off, model_inputs, trace, uses_segments
from viz.capture.store import BLOCKS, Store
from viz.trace import FIELDS, KINDS, kinds_of

__all__ = [
    "BLOCKS",
    "FIELDS",
    "KINDS",
    "SCAN_BATCH_BYTES",
    "Store",
    "capture",
    "each_head_off",
    "kinds_of",
    "model_inputs",
    "shapes",
    "trace",
    "uses_segments",
]
