"""A visitor can send any widget value over the WebSocket. A selection the page never offered
is ignored, never a traceback (which would also persist on later reruns)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import streamlit as st

from tests.drivers import new_app
from viz.ui import widgets


@pytest.mark.parametrize(
    "customdata",
    [["x", "y"], {"a": 1, "b": 2}, "L3H4", None, [1], [[1], [2]], {"0": "one", "1": 2}],
)
def test_a_forged_chart_selection_is_ignored(customdata, monkeypatch):
    selection = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": customdata}]))
    monkeypatch.setattr(st, "session_state", {"chart": selection})
    assert widgets.clicked_head("chart") is None


def test_a_real_selection_is_read(monkeypatch):
    for data in ([3, 4, 0.5], {"0": 3, "1": 4}):
        selection = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": data}]))
        monkeypatch.setattr(st, "session_state", {"chart": selection})
        assert widgets.clicked_head("chart") == (3, 4)


@pytest.mark.parametrize("rows", [[99999], [-1], ["3"], [None]])
def test_a_forged_head_table_row_is_ignored(rows, monkeypatch):
    import pandas as pd

    from viz.ui.pages import heads

    state = {
        "head_table": SimpleNamespace(selection=SimpleNamespace(rows=rows)),
        "_head_frame": pd.DataFrame({"layer": [1, 2], "head": [1, 1]}),
    }
    monkeypatch.setattr(st, "session_state", state)
    heads.on_head_row()
    assert "layer" not in state  # nothing opened


def test_a_forged_query_token_in_the_address_is_ignored():
    at = new_app(view="math", query_token="999")
    assert not at.exception and not at.error
    assert at.selectbox(key="query_token").value == 1
