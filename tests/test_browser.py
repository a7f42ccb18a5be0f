"""End to end: a real `streamlit run app.py` server and Debian's headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium, streamlit_server, submit_sentence, wait_for_charts

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_type_a_sentence_and_visit_every_view(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(server)
    wait_for_charts(page, 3)
    submit_sentence(page, "The guitar by the river flooded, so the bank closed early.", "guitar")
    assert page.locator(ERRORS).count() == 0
    assert "guitar" in page.locator(".js-plotly-plot").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "attention.png"))
    for view, label, charts in (
        ("layers", "Compare layers", 6),
        ("embeddings", "Token embeddings in 2-D", 1),
        ("heads", "Heads", 1),
    ):
        page.get_by_text(label, exact=True).click()
        page.wait_for_timeout(500)
        wait_for_charts(page, charts)
        assert page.locator(ERRORS).count() == 0, view
        page.screenshot(path=str(ARTIFACTS / f"{view}.png"))
    assert "view=heads" in page.url  # the address follows the page


def test_injected_markup_never_runs(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server)
    wait_for_charts(page, 3)
    payload = (
        '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> '
        "</div> **bold** $x^2$ [CLS]"
    )
    submit_sentence(page, payload, "script")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(ERRORS).count() == 0
    assert page.locator(".js-plotly-plot img").count() == 0
    # the tokens are shown as text: the heatmap's labels contain the literal characters
    assert "script" in page.locator(".js-plotly-plot").first.inner_text()


def test_clicking_a_thumbnail_opens_that_head(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(server + "/?view=attention&layer=1&head=1")
    wait_for_charts(page, 3)
    grid = page.locator(".js-plotly-plot").nth(1).locator(".nsewdrag").first.bounding_box()
    # the centre of the thumbnail at layer 3, head 5 in a grid of 6 x 12 thumbnails
    x = grid["x"] + grid["width"] * 4.5 / 12
    y = grid["y"] + grid["height"] * 2.5 / 6
    page.mouse.click(x, y)
    page.wait_for_url("**layer=3&head=5**", timeout=30_000)
    wait_for_charts(page, 3)
    assert page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
