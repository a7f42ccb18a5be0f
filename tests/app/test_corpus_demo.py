"""The Corpus page on its own demo, built by its button with the bundled model: Chinese lines
the model reads, both senses of "bank" in the same-word chart, and the demo's labels in 中文."""

from __future__ import annotations

import json

import pytest

from tests.drivers import new_app, no_problem
from viz.models import DEFAULT_MODEL
from viz.ui.i18n import tr_in
from viz.ui.pages.corpus import DEMO_LABELS, demo_folder, demo_texts

RIVER = "We walked along the bank of the river."
MONEY = "I opened an account at the bank."


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The page's demo, built once by its button in a folder of this module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("VIZ_CORPUS_DIR", str(tmp_path_factory.mktemp("demo")))
    at = new_app(view="corpus", text=RIVER)
    at.button(key="corpus_demo_build").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    yield demo_folder(DEFAULT_MODEL)
    mp.undo()


def test_the_demo_has_chinese_lines_the_model_reads(tokenizer):
    texts, labels = demo_texts()
    chinese = [t for t in texts if any("\u4e00" <= c <= "\u9fff" for c in t)]
    assert len(chinese) >= 20
    for text in chinese:
        assert tokenizer.unk_token not in tokenizer.tokenize(text), text
    for sense in ("bank: river", "bank: money"):  # enough of each for ten neighbours
        assert 15 <= labels.count(sense) <= 30
    assert set(labels) == set(DEMO_LABELS)


def _same_word(at) -> dict:
    return json.loads(at.get("plotly_chart")[1].proto.spec)  # after the map


def _bars(fig) -> dict[str, list[int]]:
    return {t["name"]: list(t["y"]) for t in fig["data"]}


def test_the_same_word_chart_parts_the_senses_of_bank(demo):
    """At the embeddings the ten 'bank's nearest a river bank mix both senses; from the first
    layers on they are the river's. The axis spans 0 to k."""
    at = new_app(view="corpus", text=RIVER)
    at.button_group(key="corpus_word").set_value(5).run()  # [CLS] We walked along the bank
    assert no_problem(at), [e.value for e in at.exception]
    fig = _same_word(at)
    assert fig["layout"]["yaxis"]["range"] == [0, 10]
    bars = _bars(fig)
    on_map = {
        t["name"]: t["marker"]["color"]
        for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    }
    assert all(t["marker"]["color"] == on_map[t["name"]] for t in fig["data"])  # one colour a label
    assert bars["bank: money"][0] >= 2  # the embeddings: both senses
    assert bars["bank: river"][-1] == 10 and bars.get("bank: money", [0] * 7)[-1] == 0
    at.sidebar.text_area(key="text").input(MONEY).run()
    at.button_group(key="corpus_word").set_value(7).run()  # [CLS] I opened an account at the
    bars = _bars(_same_word(at))
    # nearly all money, and the rest the bank lines of the news (their label is 'business')
    assert bars["bank: money"][-1] >= 8 and bars["bank: money"][0] <= 4
    assert any("labels its 'bank' and 生 lines by sense" in c.value for c in at.caption)


def test_the_demo_labels_speak_chinese_and_a_folder_keeps_its_own(demo):
    at = new_app(view="corpus", text=RIVER, lang="zh")
    assert no_problem(at), [e.value for e in at.exception]
    chinese = {tr_in("zh", f"corpus_label_{key}") for key in DEMO_LABELS.values()}
    names = {t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert names == chinese and {"体育", "正面", "bank：河岸", "生：学生"} <= names
    assert set(at.dataframe[0].value["label"]) <= chinese  # the neighbours' labels
    at.button_group(key="corpus_word").set_value(5).run()  # bank
    assert {"bank：河岸", "bank：银行"} <= set(_bars(_same_word(at)))
    # the same folder opened as a folder: its labels are data, shown as they are
    at.radio(key="corpus_source").set_value("folder").run()
    at.text_input(key="corpus_folder").input(str(demo)).run()
    assert no_problem(at), [e.value for e in at.exception]
    names = {t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert {"sports", "bank: river"} <= names and "体育" not in names
