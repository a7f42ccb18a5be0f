"""End to end: a real `streamlit run app.py` server and Debian's headless Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.drivers import (
    CHARTS,
    chromium,
    streamlit_server,
    submit_sentence,
    thumbnail,
    wait_for_charts,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
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
    assert "guitar" in page.locator(CHARTS).first.text_content()  # the heatmap's tokens
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
        "</div> **bold** $x^2$ [CLS] AT&T 'quoted'"
    )
    submit_sentence(page, payload, "script")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(ERRORS).count() == 0
    assert page.locator(".js-plotly-plot img, .viz-chart img").count() == 0
    # the tokens are shown as text: the heatmap's labels contain the literal characters
    labels = page.locator(CHARTS).first.text_content()
    assert "script" in labels
    # quotes and ampersands read as typed, not as the entities that carried them
    assert '"' in labels and "'" in labels and "&" in labels
    assert "&quot;" not in labels and "&#x27;" not in labels and "&amp;" not in labels


def test_clicking_a_thumbnail_opens_that_head(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(server + "/?view=attention&layer=1&head=1")
    wait_for_charts(page, 3)
    page.mouse.click(*thumbnail(page, 3, 5))
    page.wait_for_url("**layer=3&head=5**", timeout=30_000)
    wait_for_charts(page, 3)
    assert page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


def open_view(page, url: str, charts: int) -> None:
    page.goto(url)
    wait_for_charts(page, charts)
    assert page.locator(ERRORS).count() == 0, url


def pick_heads(page, *heads: str) -> None:
    """Choose options in the ablation view's multiselect, as a person would: open, click."""
    box = page.get_by_label("Heads to switch off")
    for head in heads:
        box.click()
        box.press_sequentially(head)
        page.get_by_role("option", name=head, exact=True).click()
        wait_for_charts(page, 0)
    page.keyboard.press("Escape")
    page.wait_for_timeout(800)  # the menu fades out


def test_explanation_views_on_the_default_model(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    open_view(page, server + "/?view=math&layer=3&head=2", 10)
    assert "the largest difference from the layer output" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "math.png"), full_page=True)
    open_view(page, server + "/?view=contrast", 2)
    page.screenshot(path=str(ARTIFACTS / "contrast.png"))
    page.goto(server + "/?view=probe")
    page.get_by_role("button", name="Run the probe").click()
    wait_for_charts(page, 1, timeout=300_000)
    assert page.locator(ERRORS).count() == 0
    assert "Best: layer" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "probe.png"))
    page.goto(server + "/?view=mlm")
    page.get_by_text("no masked-language-model head").wait_for()
    page.goto(server + "/?view=ablation")
    pick_heads(page, "L1H1", "L2H3")
    wait_for_charts(page, 1)
    assert page.locator(ERRORS).count() == 0
    page.get_by_role("button", name="Scan every head").click()
    wait_for_charts(page, 2)  # the chosen heads' chart and the 6 x 12 map
    page.get_by_text("Largest effect: L").wait_for()
    assert page.locator(ERRORS).count() == 0
    # a click on the map's cell at layer 4, head 10 (a grid of 6 x 12) switches that head off too
    cells = page.locator(".js-plotly-plot").nth(1).locator(".nsewdrag").first.bounding_box()
    page.mouse.click(cells["x"] + cells["width"] * 9.5 / 12, cells["y"] + cells["height"] * 3.5 / 6)
    chosen = page.locator('[data-testid="stMultiSelect"]')
    chosen.get_by_text("L4H10", exact=True).wait_for(timeout=30_000)
    wait_for_charts(page, 2)
    assert chosen.get_by_text("L1H1", exact=True).count() == 1  # the earlier choices stay
    assert page.locator(ERRORS).count() == 0
    page.screenshot(path=str(ARTIFACTS / "ablation.png"), full_page=True)


def test_mlm_lens_and_ablation_on_a_masked_lm(server, browser, tiny_mlm_folder):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    text = "The cat sat on the warm mat."
    open_view(page, f"{server}/?view=mlm&model={tiny_mlm_folder}&text={text}", 1)
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "mlm.png"))
    page.get_by_text("Head ablation", exact=True).click()
    pick_heads(page, "L1H2")
    wait_for_charts(page, 1)
    assert page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # predictions before, after
    page.screenshot(path=str(ARTIFACTS / "mlm_ablation.png"))


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_clicking_a_head_table_row_opens_that_head(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(server + "/?view=heads")
    wait_for_charts(page, 1)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    page.wait_for_timeout(500)  # the grid draws on a canvas after it mounts
    box = grid.bounding_box()
    header = row = 35  # Streamlit's default header and row heights, in pixels
    # the selection checkbox of the third row: layer 1, head 3 (the table is sorted by layer)
    page.mouse.click(box["x"] + 15, box["y"] + header + 2 * row + row / 2)
    opened = {"view": "attention", "layer": "1", "head": "3"}
    page.wait_for_url(lambda url: opened.items() <= query(url).items(), timeout=30_000)
    wait_for_charts(page, 3)
    assert page.locator(ERRORS).count() == 0
    assert "Layer 1, head 3" in page.locator(CHARTS).first.inner_text()


def test_a_layer_move_redraws_the_heatmap_but_not_the_model_view(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(server + "/?view=attention&layer=2&head=1")
    wait_for_charts(page, 3)
    page.evaluate(
        f"() => document.querySelectorAll('{CHARTS}').forEach((el, i) => {{ el.dataset.tag = i; }})"
    )
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")
    page.wait_for_url("**layer=3**", timeout=30_000)
    page.wait_for_function(
        f"() => document.querySelector('{CHARTS}').textContent.includes('Layer 3')",
        timeout=30_000,
    )
    wait_for_charts(page, 3)
    tags = page.evaluate(
        f"() => [...document.querySelectorAll('{CHARTS}')].map((el) => el.dataset.tag)"
    )
    # the heatmap and the head view redrew their canvases in place, and the model view
    # (cached per sentence) is the same element: nothing on the page was rebuilt
    assert tags == ["0", "1", "2"]
    layers = page.evaluate(
        "() => [...document.querySelectorAll('.viz-chart')].map((el) => el.dataset.layer)"
    )
    assert layers == ["3", "3", "3"]  # the heatmap, the model view's outline, the head view


def test_switching_language_keeps_every_choice_selected(server, browser):
    """Streamlit keeps a radio's choice by its shown label; after a language switch the
    browser must still show the view and the attention mode chosen, in the new language."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    open_view(page, server + "/?view=attention&lang=en", 3)
    page.get_by_text("attention rollout", exact=True).click()
    wait_for_charts(page, 3)
    page.get_by_text("中文", exact=True).click()
    page.get_by_text("BERT 逐层探索器").wait_for()
    wait_for_charts(page, 3)
    checked = page.evaluate(
        "[...document.querySelectorAll('[role=radiogroup] input:checked')]"
        ".map(i => i.closest('label').innerText.trim())"
    )
    assert {"中文", "注意力", "注意力展开（rollout）"} <= set(checked), checked
    assert page.locator(ERRORS).count() == 0
