"""The Attribution page under AppTest: the live methods on a visit, the slow ones on a button
press (then cached), a notice where a family's mixing is not defined, every family drawn."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from tests.drivers import ALL_TINY_CONFIGS, TINY_CONFIGS, charts, new_app, no_problem


def open_page(**query: str):
    at = new_app(**query)
    at.sidebar.radio(key="view").set_value("attribution").run()
    assert no_problem(at), ([e.value for e in at.exception], [e.value for e in at.error])
    return at


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_a_pair_on_the_default_model_explains_its_similarity():
    at = open_page(text="A man is playing a guitar.", pair="Someone plays music.")
    assert at.selectbox(key="attr_target").value == "similarity"
    assert "cosine similarity of the two sentences" in captions(at)
    # tokens, the mixing heatmap, attention + three measures side by side, two agreement charts
    assert charts(at) == 1 + 1 + 4 + 2
    at.radio(key="attr_method").set_value("integrated_gradients").run()
    assert no_problem(at) and charts(at) == 1 + 4 + 2  # nothing until the button
    at.button(key="attr_run_gradient").click().run()
    assert no_problem(at) and "Completeness" in captions(at)
    at.selectbox(key="attr_mix").set_value("value_zeroing").run()
    at.button(key="attr_run_mixing").click().run()
    assert no_problem(at) and charts(at) == 1 + 1 + 5 + 2  # Value Zeroing joined the comparison
    at.radio(key="attr_method").set_value("attn_grad").run()
    at.slider(key="attr_mix_layer").set_value(6).run()
    at.checkbox(key="attr_rolled").check().run()
    assert no_problem(at) and "through every layer up to it" in captions(at)


def test_one_sentence_explains_a_token_vector_in_chinese():
    at = new_app(text="银行在河边。", lang="zh")
    at.sidebar.radio(key="view").set_value("attribution").run()
    assert no_problem(at)
    assert at.selectbox(key="attr_target").value == "token"
    assert "此图解释的是词元" in captions(at)


@pytest.fixture(scope="module")
def folders(tokenizer, tmp_path_factory) -> dict[str, str]:
    found = {}
    for model_type, make in ALL_TINY_CONFIGS.items():
        torch.manual_seed(0)
        model = AutoModel.from_config(make(), attn_implementation="eager")
        folder = tmp_path_factory.mktemp(f"attr-{model_type}")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        found[model_type] = str(folder)
    return found


@pytest.mark.parametrize("model_type", sorted(ALL_TINY_CONFIGS))
def test_every_family_draws_or_says_why_not(folders, model_type):
    at = open_page(model=folders[model_type], text="The bank by the river flooded again.")
    assert charts(at) >= 1  # the gradient methods work for every family
    notices = " ".join(i.value for i in at.info)
    assert ("not defined for" in notices) == (model_type not in TINY_CONFIGS)
