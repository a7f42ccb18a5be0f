"""The attention page in a real browser: what a click on a thumbnail or on a head-view token does
where the reader is looking (a real server, Debian's headless Chromium)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.drivers import chromium, streamlit_server, wait_for_charts

pytestmark = pytest.mark.browser
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TEXT = "The guitar by the river bank flooded, so the bank closed early."  # 16 tokens
LAPTOP = {"width": 1400, "height": 900}  # a laptop's window: the page does not fit in it


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def attention_page(browser, server: str, **params: str):
    page = browser.new_page(viewport=LAPTOP)
    page.goto(f"{server}/?{urlencode({'view': 'attention', 'text': TEXT, **params})}")
    wait_for_charts(page, 3)
    return page


def visible_share(page, locator) -> float:
    """How much of the element's height is inside the window (0 to 1)."""
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    inside = min(box["y"] + box["height"], height) - max(box["y"], 0)
    return max(inside, 0) / box["height"]


def test_a_clicked_thumbnail_opens_a_heatmap_the_reader_can_see(server, browser):
    page = attention_page(browser, server, layer="1", head="1")
    charts = page.locator(".js-plotly-plot")
    grid = charts.nth(1)
    grid.evaluate("(el) => el.scrollIntoView({block: 'start'})")  # the reader at the thumbnails
    page.wait_for_timeout(300)
    cells = grid.locator(".nsewdrag").first.bounding_box()
    # the thumbnail of layer 3, head 5 in a grid of 6 x 12
    page.mouse.click(cells["x"] + cells["width"] * 4.5 / 12, cells["y"] + cells["height"] * 2.5 / 6)
    page.wait_for_url("**layer=3&head=5**", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('.js-plotly-plot').textContent.includes('Layer 3, head 5')",
        timeout=30_000,
    )
    wait_for_charts(page, 3)
    assert page.locator(ERRORS).count() == 0
    heatmap = charts.first.locator(".nsewdrag").first
    assert visible_share(page, heatmap) > 0.5  # the opened head is in view, without scrolling
    assert visible_share(page, grid.locator(".nsewdrag").first) == 1  # and so is the grid


def test_hovering_and_clicking_a_head_view_token_isolates_its_lines(server, browser):
    page = attention_page(browser, server)
    head_view = page.locator(".js-plotly-plot").nth(2)
    head_view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    area = head_view.locator(".nsewdrag").first.bounding_box()
    T = 16
    y = area["y"] + (5 + 0.6) / (T - 1 + 1.2) * area["height"]  # token 5, "river", on the left
    page.mouse.move(area["x"] + 40, y + 20)
    page.mouse.move(area["x"] + 2, y, steps=5)
    hover = head_view.locator(".hoverlayer .hovertext")
    hover.first.wait_for(timeout=10_000)
    said = hover.first.text_content()
    assert said.startswith("river") and said.count("→") == 3  # its three strongest lines
    lines_before = line_count(head_view)
    page.mouse.click(area["x"] + 2, y)
    page.wait_for_url("**attention_query=5**", timeout=30_000)
    wait_for_charts(page, 4)  # the focused row's bars join the page
    assert page.locator(ERRORS).count() == 0
    head_view = page.locator(".js-plotly-plot").nth(3)
    assert line_count(head_view) < lines_before / 4  # only river's lines are left
    assert page.get_by_role("combobox", name="Token in focus").input_value() == "5 river"
    # a second click on the same token shows every line again
    area = head_view.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(area["x"] + 2, area["y"] + (5 + 0.6) / (T - 1 + 1.2) * area["height"])
    page.wait_for_function("() => !location.search.includes('attention_query')", timeout=30_000)
    wait_for_charts(page, 3)
    assert line_count(page.locator(".js-plotly-plot").nth(2)) == lines_before


def line_count(chart) -> int:
    """Line segments drawn by the head view: every path's 'M' (a NaN gap starts a new one)."""
    return chart.evaluate(
        "(el) => [...el.querySelectorAll('.scatterlayer .js-line')]"
        ".reduce((n, p) => n + ((p.getAttribute('d') || '').match(/M/g) || []).length, 0)"
    )


def step_to_layer_2(page, title: str) -> None:
    """One ArrowRight on the layer slider, until the heatmap's title says ``title``."""
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_url("**layer=2**", timeout=30_000)
    page.wait_for_function(
        "(t) => document.querySelector('.js-plotly-plot').textContent.includes(t)",
        arg=title,
        timeout=30_000,
    )
    wait_for_charts(page, 3)


def test_a_layer_step_reruns_only_the_page_and_keeps_the_share_link_current(server, browser):
    """A step of the layer slider reruns the page alone (a fragment), yet the sidebar's share
    link, written by the page into the sidebar, follows the new layer, once."""
    page = attention_page(browser, server, layer="1", head="1")
    step_to_layer_2(page, "Layer 2, head 1")
    assert page.locator(ERRORS).count() == 0
    page.get_by_text("Link to this page").click()
    link = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').first
    link.wait_for(timeout=10_000)
    assert "layer=2" in link.text_content() and "head=1" in link.text_content()
    assert page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').count() == 1


def test_a_layer_step_keeps_the_page_in_chinese(server, browser):
    """The page's own rerun (a fragment) speaks the session's language, not the default."""
    page = attention_page(browser, server, layer="1", head="1", lang="zh")
    step_to_layer_2(page, "第 2 层")
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "who attends to whom" not in main and "谁关注谁" in main
