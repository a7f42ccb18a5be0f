"""The attention page in a real browser: what a click on a thumbnail or on a head-view token does
where the reader is looking (a real server, Debian's headless Chromium)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image

from tests.drivers import CHARTS, chromium, streamlit_server, thumbnail, wait_for_charts
from viz import load_encoder, trace

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
    charts = page.locator(CHARTS)
    grid = charts.nth(1)  # the heatmap, the model view beside it, the head view
    grid.evaluate("(el) => el.scrollIntoView({block: 'start'})")  # the reader at the thumbnails
    page.wait_for_timeout(300)
    page.mouse.click(*thumbnail(page, 3, 5))
    page.wait_for_url("**layer=3&head=5**", timeout=30_000)
    page.wait_for_function(
        f"() => document.querySelector('{CHARTS}').textContent.includes('Layer 3, head 5')",
        timeout=30_000,
    )
    wait_for_charts(page, 3)
    assert page.locator(ERRORS).count() == 0
    heatmap = charts.first.locator("canvas")
    assert visible_share(page, heatmap) > 0.5  # the opened head is in view, without scrolling
    assert visible_share(page, grid.locator("canvas")) == 1  # and so is the grid
    assert page.locator("input.viz-range").input_value() == "3"  # the slider follows


def head_view_token(page, side: int, index: int) -> tuple[float, float]:
    """Where token ``index`` of the head view's left (0) or right (1) side is on the page."""
    view = page.locator('.viz-chart[data-kind="heads"]')
    box = view.locator("canvas").bounding_box()
    at = json.loads(view.get_attribute("data-tokens"))
    count = at["left"] if side == 0 else at["right"]
    y = at["top"] + index * (at["bottom"] - at["top"]) / max(count - 1, 1)
    return box["x"] + at["x"][side], box["y"] + y


def test_hovering_and_clicking_a_head_view_token_isolates_its_lines(server, browser):
    page = attention_page(browser, server)
    view = page.locator('.viz-chart[data-kind="heads"]')
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    lines_before = int(view.get_attribute("data-lines"))
    x, y = head_view_token(page, 0, 5)  # token 5, "river", on the left
    page.mouse.move(x + 40, y + 20)
    page.mouse.move(x, y, steps=5)
    hover = view.locator(".viz-tip")
    hover.wait_for(state="visible", timeout=10_000)
    said = hover.text_content()
    assert said.startswith("river") and said.count("→") == 3  # its three strongest lines
    assert int(view.get_attribute("data-lines")) < lines_before  # only its lines, while hovered
    page.mouse.click(x, y)
    page.wait_for_url("**attention_query=5**", timeout=30_000)
    wait_for_charts(page, 4)  # the focused row's bars join the page
    assert page.locator(ERRORS).count() == 0
    page.mouse.move(x - 200, y)  # off the tokens: the focus alone decides
    page.wait_for_function(
        "(n) => Number(document.querySelector('.viz-chart[data-kind=heads]').dataset.lines) < n",
        arg=lines_before / 4,  # only river's lines are left
        timeout=10_000,
    )
    assert page.get_by_role("combobox", name="Token in focus").input_value() == "5 river"
    # a second click on the same token shows every line again
    x, y = head_view_token(page, 0, 5)
    page.mouse.click(x, y)
    page.wait_for_function("() => !location.search.includes('attention_query')", timeout=30_000)
    wait_for_charts(page, 3)
    page.mouse.move(x - 200, y)
    page.wait_for_function(
        "(n) => document.querySelector('.viz-chart[data-kind=heads]').dataset.lines === n",
        arg=str(lines_before),
        timeout=10_000,
    )


def step_to_layer_2(page, title: str) -> None:
    """One ArrowRight on the layer slider, until the heatmap's title says ``title``."""
    thumb = page.locator("input.viz-range")
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_url("**layer=2**", timeout=30_000)
    page.wait_for_function(
        f"(t) => document.querySelector('{CHARTS}').textContent.includes(t)",
        arg=title,
        timeout=30_000,
    )
    wait_for_charts(page, 3)


def test_a_layer_step_repaints_in_the_browser_before_the_server_answers(server, browser):
    """The heatmap and the head view hold every layer: the step redraws both in the same
    task as the slider's own event, with nothing from the server, and they then show exactly
    the weights of the new layer (checked against the hover's exact value)."""
    page = attention_page(browser, server, layer="1", head="1")
    layers = page.locator("input.viz-range").evaluate(
        """(el) => {
            el.value = 4;
            el.dispatchEvent(new Event('input', {bubbles: true}));
            return [...document.querySelectorAll('.viz-chart')].map((c) => c.dataset.layer);
        }"""
    )
    assert layers == ["4", "4", "4"]  # heatmap, model view, head view: before any message
    titles = page.locator(".viz-title").all_text_contents()
    assert titles[0].startswith("Layer 4, head 1") and "layer 4, head 1" in titles[2]
    # the hover reads the new layer's exact weight: [CLS] -> [CLS] of layer 4, head 1
    heat = page.locator('.viz-chart[data-kind="heatmap"] canvas')
    box = heat.bounding_box()
    plot = json.loads(page.locator('.viz-chart[data-kind="heatmap"]').get_attribute("data-plot"))
    page.mouse.move(box["x"] + plot["x"] + 1, box["y"] + plot["y"] + 1)
    tip = page.locator('.viz-chart[data-kind="heatmap"] .viz-tip')
    tip.wait_for(state="visible", timeout=10_000)
    shown = float(tip.text_content().split()[-1])
    t = trace(load_encoder(), TEXT)
    assert shown == pytest.approx(float(t.attentions[3, 0, 0, 0]), abs=1e-6)


SLIDER_GEOMETRY = """() => {
    const box = (e) => e.getBoundingClientRect();
    const centre = (r) => [r.x + r.width / 2, r.y + r.height / 2];
    const ours = document.querySelector('input.viz-range');
    const value = box(document.querySelector('output.viz-value'));
    // Streamlit's head slider: its thumb is the round element in it (no role or test id)
    const head = [...document.querySelector('[data-testid=stSlider]').querySelectorAll('div')]
        .find((e) => getComputedStyle(e).borderRadius === '100%');
    const headValue = box(document.querySelector('[data-testid=stSliderThumbValue]'));
    return {
        input: [box(ours).x, box(ours).width], centre: centre(box(ours)), value: centre(value),
        headThumb: centre(box(head)), headValue: centre(headValue), headSize: box(head).width,
        fill: getComputedStyle(ours.parentElement).getPropertyValue('--viz-at'),
    };
}"""


def test_the_layer_slider_is_drawn_like_the_head_slider_beside_it(server, browser):
    """Our layer slider (a canvas component's range input) sits on the same line as
    Streamlit's head slider, with its value above the thumb, in the same place, and the track
    filled up to the thumb: at layer 1 empty, after End full."""
    page = attention_page(browser, server, layer="1", head="1")
    page.locator('[data-testid="stSliderThumbValue"]').first.wait_for(timeout=30_000)
    g = page.evaluate(SLIDER_GEOMETRY)
    assert g["fill"].strip() == "0"
    assert abs(g["centre"][1] - g["headThumb"][1]) <= 2  # the tracks on one line
    assert abs(g["value"][1] - g["headValue"][1]) <= 2  # the values on one line
    thumb = g["headSize"]
    assert abs(g["value"][0] - (g["input"][0] + thumb / 2)) <= 2  # the value over the thumb
    page.locator("input.viz-range").focus()
    page.keyboard.press("End")
    page.wait_for_url("**layer=6**", timeout=30_000)
    g = page.evaluate(SLIDER_GEOMETRY)
    assert g["fill"].strip() == "1"
    assert abs(g["value"][0] - (g["input"][0] + g["input"][1] - thumb / 2)) <= 2
    assert page.locator("output.viz-value").text_content() == "6"


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


def test_the_canvas_charts_download_as_png(server, browser):
    """Each canvas chart's PNG button saves what it shows, at the screen's resolution, on an
    opaque background."""
    page = attention_page(browser, server, layer="2", head="3")
    for kind, name in (("heatmap", "attention_raw.png"), ("heads", "head_view_raw.png")):
        chart = page.locator(f'.viz-chart[data-kind="{kind}"]')
        with page.expect_download() as saved:
            chart.locator(".viz-png").click()
        assert saved.value.suggested_filename == name
        image = Image.open(saved.value.path())
        canvas = chart.locator("canvas")
        size = canvas.evaluate("(c) => [c.width, c.height]")
        assert image.format == "PNG" and list(image.size) == size
        pixels = np.asarray(image.convert("RGBA"))
        assert (pixels[..., 3] == 255).all()  # no see-through pixels
        assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20  # a chart, not a blank
