"""The app driven by Streamlit's AppTest: no server, real model, real script."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_app_traces_the_typed_sentence():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    at.sidebar.text_area[0].input("A cat sat on the mat.").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) >= 1
    assert "cat" in at.dataframe[0].value["token"].tolist()


def test_app_empty_text_is_a_message_not_a_crash():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_area[0].input("   ").run()
    assert not at.exception
    assert at.error and "empty" in at.error[0].value
