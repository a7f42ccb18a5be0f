"""The CSV files a user downloads from a real server in headless Chromium: UTF-8 with a byte-order
mark (so Excel shows Chinese as Chinese), the token CSV with the label the page shows."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.drivers import chromium, streamlit_server, wait_for_charts

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHINESE = "我们在河边的银行门口见面，然后去银行存钱。"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def download(page, label: str) -> bytes:
    button = page.get_by_role("button", name=label)
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=120_000) as info:
        button.click()
    return Path(info.value.path()).read_bytes()


def rows(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_export_downloads_open_in_excel_with_the_shown_labels(server, browser, lang):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page.goto(f"{server}/?{urlencode({'view': 'export', 'lang': lang, 'text': CHINESE})}")
    layer_label = {
        "en": "Download layer 6 token embeddings (.csv)",
        "zh": "下载第 6 层的词元向量（.csv）",
    }
    heads_label = {"en": "Download the head table (.csv)", "zh": "下载注意力头统计表（.csv）"}
    tokens = rows(download(page, layer_label[lang]))
    assert tokens[0][:4] == ["position", "token", "shown as", "d0"]
    unknown = [r for r in tokens[1:] if r[1] == "[UNK]"]
    assert unknown and all(r[2].endswith("→[UNK]") and r[2][0] in CHINESE for r in unknown)
    heads = rows(download(page, heads_label[lang]))
    assert heads[0][:4] == ["layer", "head", "entropy", "distance"]  # the raw names
    assert len(heads) == 1 + 6 * 12
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    page.wait_for_timeout(800)
    assert page.locator(ERRORS).count() == 0
    page.screenshot(path=str(ARTIFACTS / f"export_{lang}.png"))


def test_probe_embeddings_download_has_a_byte_order_mark(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    page.goto(f"{server}/?view=probe&lang=zh")
    page.get_by_role("button", name="运行探针").click()
    wait_for_charts(page, 1, timeout=300_000)
    data = rows(download(page, "下载全部 240 条文本"))
    assert data[0][:3] == ["text", "label", "d0"] and len(data) == 241
    page.screenshot(path=str(ARTIFACTS / "probe_zh.png"))
