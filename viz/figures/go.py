"""The Plotly objects our figures are built from: ``plotly.graph_objects``, without the checks.

Plotly validates every property it is given, in Python, item by item, and copies each trace
when it is added: that was about 60% of building a 128-token head view, on every step of a
slider. Our builders set only properties they were written for, so the app builds figures
unchecked (``_validate=False``: the same JSON, checked in tests/unit/test_figures.py), and
the tests build them checked (``VIZ_VALIDATE_FIGURES=1``, set by tests/conftest.py), where a
misspelt property fails loudly.
"""

from __future__ import annotations

import os

import plotly.graph_objects as _go
from plotly.colors import get_colorscale

VALIDATE = os.environ.get("VIZ_VALIDATE_FIGURES", "") == "1"


def named_scale(name: str) -> list:
    """A named Plotly colour scale as its stops, as the checks would expand it: Plotly.js
    knows fewer names than Python's Plotly, and draws some of those it knows differently."""
    return get_colorscale(name)


class Figure(_go.Figure):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("_validate", VALIDATE)
        super().__init__(*args, **kwargs)


def _unchecked(cls):
    class Unchecked(cls):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("_validate", VALIDATE)
            super().__init__(*args, **kwargs)

    Unchecked.__name__ = Unchecked.__qualname__ = cls.__name__
    return Unchecked


Bar = _unchecked(_go.Bar)
Box = _unchecked(_go.Box)
Heatmap = _unchecked(_go.Heatmap)
Image = _unchecked(_go.Image)
Scatter = _unchecked(_go.Scatter)
