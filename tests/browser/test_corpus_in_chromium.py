"""The Corpus page in a real server and headless Chromium: clicking a word of the sentence
picks the word whose corpus neighbours the page shows, and the link keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drivers import chromium, streamlit_server, wait_for_charts
from viz.corpus.index import build_index
from viz.models import DEFAULT_MODEL
from viz.ui.pages.corpus import demo_folder

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
CORPUS = [
    "The river bank was muddy after the storm.",
    "I deposited money at the bank this morning.",
    "A bank loan helped them buy the house.",
    "Fog lay over the quiet river at dawn.",
]
LABELS = ["nature", "money", "money", "nature"]
TEXT = "The bank by the river flooded again."


@pytest.fixture(scope="module")
def server(tmp_path_factory, bundled):
    """A server whose demo corpus is a small index built here (four lines: the page's own demo
    takes 3-9 s to build, and its neighbours would be other words)."""
    root = tmp_path_factory.mktemp("corpus")
    mp = pytest.MonkeyPatch()
    mp.setenv("VIZ_CORPUS_DIR", str(root))
    folder = demo_folder(DEFAULT_MODEL)
    mp.undo()
    folder.parent.mkdir(parents=True, exist_ok=True)
    build_index(bundled, CORPUS, LABELS, folder, [0, 3, 6], batch_size=4)
    with streamlit_server(env={"VIZ_CORPUS_DIR": str(root)}) as url:
        yield url


def _same_word_title(page) -> str:
    return page.locator(".st-key-corpus_same .js-plotly-plot").inner_text()


def test_clicking_a_word_of_the_sentence_shows_its_neighbours(server):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{server}/?view=corpus&text={TEXT.replace(' ', '+')}")
        wait_for_charts(page, 2, timeout=240_000)  # the map and the same-word count (a cold start)
        assert page.locator(ERRORS).count() == 0
        assert "'bank'" in _same_word_title(page)  # the first content word to start with
        strip = page.locator(".st-key-corpus_word")
        strip.get_by_role("radio", name="river", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('.st-key-corpus_same .js-plotly-plot')"
            "?.textContent.includes(\"'river'\")",
            timeout=90_000,
        )
        wait_for_charts(page, 2)
        assert page.locator(ERRORS).count() == 0
        assert page.get_by_text("'river' itself", exact=False).count() == 1
        page.wait_for_url("**corpus_word=5**", timeout=30_000)  # the share link keeps it
        page.screenshot(path=str(ARTIFACTS / "corpus.png"), full_page=True)
        page.goto(page.url)  # the link reopens the page on that word
        wait_for_charts(page, 2)
        assert "'river'" in _same_word_title(page)


def test_a_repeated_word_is_chosen_by_its_own_pill(server):
    """Two "bank"s in the sentence are two pills, "bank¹" and "bank²" (Streamlit's pills tell
    options apart by their label: alike, a click on the first left the second chosen)."""
    text = "The bank by the river flooded, so the bank closed."
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{server}/?view=corpus&text={text.replace(' ', '+')}&corpus_word=10")
        wait_for_charts(page, 2, timeout=240_000)
        strip = page.locator(".st-key-corpus_word")
        second = strip.get_by_role("radio", name="bank²", exact=True)
        assert second.get_attribute("aria-checked") == "true"
        strip.get_by_role("radio", name="bank¹", exact=True).click()
        page.wait_for_url("**corpus_word=2&**", timeout=30_000)
        wait_for_charts(page, 2)
        first = strip.get_by_role("radio", name="bank¹", exact=True)
        assert first.get_attribute("aria-checked") == "true"
        assert second.get_attribute("aria-checked") == "false"
        assert page.locator(ERRORS).count() == 0


def test_the_neurons_offer_goes_once_its_run_has_answered(server):
    """Once the top tokens are found, the button that asked for them and its caption are gone
    (they stayed on the page beside the result, as if the run had not happened)."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 3000})
        page.goto(f"{server}/?view=corpus&text={TEXT.replace(' ', '+')}")
        wait_for_charts(page, 2, timeout=240_000)
        button = page.locator(".st-key-corpus_neurons_run button")
        assert button.inner_text() == "Find the top tokens at layer 6"
        button.click()
        page.get_by_text("The corpus tokens where neuron 0 of layer 6", exact=False).wait_for()
        wait_for_charts(page, 2)
        assert button.count() == 0
        assert page.get_by_text("Finding what a neuron fires on", exact=False).count() == 0
        assert page.locator(ERRORS).count() == 0
