"""The app driven by Streamlit's AppTest: no server, the real model, the real script."""

from __future__ import annotations

import pytest

import viz.capture
from tests.drivers import charts, layer_shown, new_app, set_layer
from viz.ui.examples import EXAMPLES

VIEW_CHARTS = {"attention": 3, "layers": 6, "embeddings": 1, "heads": 1, "export": 0}


@pytest.fixture
def forward_passes(monkeypatch) -> list[str]:
    """Count real traces: app.py calls viz.capture.trace through the module every run."""
    calls: list[str] = []
    real = viz.capture.trace

    def counting(encoder, text, pair=None, **options):
        calls.append(text)
        return real(encoder, text, pair, **options)

    monkeypatch.setattr(viz.capture, "trace", counting)
    return calls


def test_every_view_layer_and_head_without_rerunning_the_model(forward_passes):
    at = new_app()
    at.sidebar.text_area(key="text").input("Counting forward passes: the river bank.").run()
    assert not at.exception and not at.error
    assert forward_passes[-1] == "Counting forward passes: the river bank."
    passes = len(forward_passes)
    for view, expected in VIEW_CHARTS.items():
        at.sidebar.radio(key="view").set_value(view).run()
        assert not at.exception and not at.error, view
        assert charts(at) == expected, view
    at.sidebar.radio(key="view").set_value("attention").run()
    for layer, head in ((3, 5), (6, 12), (1, 1)):
        set_layer(at, layer)
        at.slider(key="head").set_value(head).run()
        assert not at.exception
    at.checkbox(key="average").check().run()
    at.checkbox(key="hide_special").check().run()
    at.checkbox(key="merge").check().run()
    assert not at.exception and charts(at) == 3
    assert len(forward_passes) == passes  # nothing above ran the model again


def test_a_trace_larger_than_the_cache_is_still_not_recomputed(forward_passes, monkeypatch):
    """With a trace cache of 1 MB, every trace is over the bound (as bert-base's at 512 tokens
    is over the default 192 MB): moving the sliders must still not run the model again."""
    import streamlit as st

    monkeypatch.setenv("VIZ_TRACE_CACHE_MB", "1")
    st.cache_resource.clear()  # the cache is made once per process: make it again, at 1 MB
    try:
        text = "A long enough sentence makes a trace of more than one megabyte on this model."
        at = new_app(text=text)
        assert not at.exception and charts(at) == 3
        passes = len(forward_passes)
        for layer in (2, 4, 6):
            set_layer(at, layer)
            assert not at.exception and charts(at) == 3
        assert len(forward_passes) == passes
    finally:
        monkeypatch.delenv("VIZ_TRACE_CACHE_MB")
        st.cache_resource.clear()


def test_address_restores_the_page():
    at = new_app(view="heads", layer="4", head="7", text="Links restore pages.", lang="zh")
    assert not at.exception
    assert at.sidebar.text_area(key="text").value == "Links restore pages."
    assert at.sidebar.radio(key="view").value == "heads"
    assert at.session_state.layer == 4 and at.session_state.head == 7
    assert "注意力" in at.sidebar.radio(key="view").options[0]  # Chinese labels
    assert at.query_params["view"] in ("heads", ["heads"])
    at.sidebar.radio(key="view").set_value("attention").run()
    assert at.query_params["view"] in ("attention", ["attention"])
    assert layer_shown(at) == 4 and at.slider(key="head").value == 7


def test_pair_mode_and_chinese_example():
    at = new_app()
    at.sidebar.text_input(key="pair").input("Where did the water go?").run()
    assert not at.exception and not at.error and charts(at) == 3
    chinese = next(e for e in EXAMPLES if "银行" in e)
    assert any(chinese in shown for shown in at.sidebar.selectbox(key="example_pick").options)
    at.sidebar.selectbox(key="example_pick").set_value(chinese).run()
    assert not at.exception and "银行" in at.sidebar.text_area(key="text").value


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("text", "   ", "empty"),
        ("model", "/no/such/folder", "not a model folder"),
        ("model", "not-a-real-org/not-a-model", "not-a-real-org"),
    ],
)
def test_bad_input_is_a_message_and_the_app_recovers(field, value, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = new_app()

    def widget():
        sidebar = at.sidebar
        return sidebar.text_area(key="text") if field == "text" else sidebar.text_input(key="model")

    widget().input(value).run()
    assert not at.exception
    assert at.error and message in at.error[0].value.replace("\\", "")
    widget().input("A good sentence." if field == "text" else "all-MiniLM-L6-v2").run()
    assert not at.exception and not at.error and charts(at) == 3


def test_truncation_is_reported():
    at = new_app()
    at.sidebar.text_area(key="text").input("word " * 700).run()
    assert not at.exception
    assert at.warning and "190" in at.warning[0].value  # 700 + 2 specials - 512


def test_characters_the_model_cannot_read_are_pointed_out():
    at = new_app()
    at.sidebar.text_area(key="text").input("我们在河边的银行门口见面。").run()
    assert not at.exception and not at.error
    assert any("UNK" in box.value and "bert-base-chinese" in box.value for box in at.info)
