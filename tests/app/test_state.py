"""What a user must not lose: text and choices across pages, a link that reopens the page
exactly as it was, pickers that follow a new result, and a Run button that speaks their
language."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.drivers import layer_shown, new_app, no_problem
from viz.ui.i18n import zh


def test_contrast_sentences_survive_a_visit_to_another_page():
    at = new_app(view="contrast")
    at.text_area(key="contrast_text").input("The bank was closed.\nWe sat on the bank.").run()
    at.text_input(key="contrast_word").input("bank").run()
    at.sidebar.radio(key="view").set_value("heads").run()
    at.sidebar.radio(key="view").set_value("contrast").run()
    assert no_problem(at)
    assert at.text_area(key="contrast_text").value == "The bank was closed.\nWe sat on the bank."
    assert at.text_input(key="contrast_word").value == "bank"


def test_probe_pickers_follow_the_new_data():
    at = new_app(view="probe")
    at.button(key="probe_run").click().run()
    first = at.number_input(key="probe_layer").value, at.selectbox(key="probe_pooling").value
    best = at.success[0].value
    at.radio(key="probe_source").set_value("topic").run()
    at.button(key="probe_run").click().run()
    assert no_problem(at)
    best_topic = at.success[0].value
    layer, pooling = (
        at.number_input(key="probe_layer").value,
        at.selectbox(key="probe_pooling").value,
    )
    assert f"layer {layer}" in best_topic and pooling in best_topic, (best_topic, layer, pooling)
    assert best != best_topic or first == (layer, pooling)
    download = [b for b in at.get("download_button") if "layer" in b.proto.label][0]
    assert f"layer {layer}" in download.proto.label


# A value other than the default for every control the address carries, per page.
CONTROLS = {
    "attention": [
        ("radio", "attention_mode", "norm"),
        ("checkbox", "average", True),
        ("checkbox", "hide_special", True),
        ("checkbox", "merge", True),
        ("layer", "layer", 4),  # drawn by the browser: tests/drivers.py set_layer
    ],
    "layers": [("number_input", "left_layer", 2), ("number_input", "right_layer", 5)],
    "embeddings": [
        ("radio", "proj_method", "t-SNE"),
        ("radio", "proj_scope", "one"),
        ("radio", "proj_color", "token"),
        ("slider", "proj_layer", 3),
    ],
    "math": [("slider", "head", 7), ("selectbox", "query_token", 4)],
    "contrast": [
        ("text_area", "contrast_text", "A bank.\nThe river bank."),
        ("text_input", "contrast_word", "bank"),
    ],
    "probe": [("radio", "probe_source", "topic")],
    "ablation": [("multiselect", "ablate_heads", ["L2H3", "L5H1"])],
    "export": [("slider", "export_layer", 2), ("radio", "image_format", "svg")],
}

# The pages that need a masked-LM head, on a tiny one.
MLM_CONTROLS = {
    "mlm": [("selectbox", "mlm_word", 5), ("slider", "mlm_k", 8)],
    "ablation": [("multiselect", "ablate_heads", ["L1H2"]), ("selectbox", "ablation_word", 5)],
}


class _Layer:
    """The attention page's layer slider, driven and read as the other widgets are."""

    def __init__(self, at) -> None:
        self.at, self.value = at, layer_shown(at)

    def set_value(self, value: int):
        self.at.session_state["layer"] = value
        return self.at


def widget(at, kind: str, key: str):
    return _Layer(at) if kind == "layer" else getattr(at, kind)(key=key)


def test_the_link_reopens_every_control_of_every_page():
    at = new_app(text="Links carry the whole page.", pair="Every control.", lang="zh")
    for page, controls in CONTROLS.items():
        at.sidebar.radio(key="view").set_value(page).run()
        for kind, key, value in controls:
            element = widget(at, kind, key)
            (
                element.input(value)
                if kind in ("text_area", "text_input")
                else element.set_value(value)
            ).run()
        assert no_problem(at), page
        link = dict(at.query_params)
        reopened = new_app(**{k: v[0] if isinstance(v, list) else v for k, v in link.items()})
        assert no_problem(reopened), page
        assert reopened.sidebar.radio(key="view").value == page
        assert reopened.sidebar.text_area(key="text").value == "Links carry the whole page."
        assert reopened.sidebar.text_input(key="pair").value == "Every control."
        assert reopened.session_state.lang == "zh"
        for kind, key, value in controls:
            assert widget(reopened, kind, key).value == value, (page, key)


def test_the_link_reopens_the_masked_word_pages(tiny_mlm_folder):
    text = "The cat sat on the warm mat."
    at = new_app(model=tiny_mlm_folder, text=text)
    for page, controls in MLM_CONTROLS.items():
        at.sidebar.radio(key="view").set_value(page).run()
        for kind, key, value in controls:
            widget(at, kind, key).set_value(value).run()
        assert no_problem(at), page
        link = dict(at.query_params)
        reopened = new_app(**{k: v[0] if isinstance(v, list) else v for k, v in link.items()})
        assert no_problem(reopened), page
        for kind, key, value in controls:
            assert widget(reopened, kind, key).value == value, (page, key)


def test_a_forged_masked_word_or_top_k_starts_the_page_as_usual(tiny_mlm_folder):
    at = new_app(view="mlm", model=tiny_mlm_folder, text="The cat sat.", mlm_word="99", mlm_k="400")
    assert no_problem(at)
    assert at.selectbox(key="mlm_word").value == 2 and at.slider(key="mlm_k").value == 5


def test_the_sidebar_offers_the_link_to_copy_and_says_when_a_text_is_too_long():
    at = new_app(view="layers", left_layer="2")
    code = at.sidebar.code[0].value
    params = dict(parse_qsl(urlsplit(code).query))
    assert params["view"] == "layers" and params["left_layer"] == "2"
    assert not at.sidebar.warning
    at.sidebar.text_area(key="text").input("word " * 500).run()
    assert at.sidebar.warning  # 2,500 characters do not fit in a link: said beside it
    assert "text" not in dict(parse_qsl(urlsplit(at.sidebar.code[0].value).query))


def test_a_forged_link_is_ignored_not_an_error():
    at = new_app(
        view="attention", attention_mode="bogus", layer="x", average="2", ablate_heads="L99H1,zz"
    )
    assert no_problem(at)
    assert at.radio(key="attention_mode").value == "raw"


def test_run_button_and_translated_hints():
    at = new_app(lang="zh")
    assert at.sidebar.button(key="run").label == zh.CATALOGUE["frame"]["run"]
    assert zh.CATALOGUE["frame"]["run_hint"] in [c.value for c in at.sidebar.caption]
    assert (
        at.sidebar.selectbox(key="example_pick").placeholder
        == zh.CATALOGUE["frame"]["example_none"]
    )
    at.sidebar.text_area(key="text").input("A new sentence to run.").run()
    at.sidebar.button(key="run").click().run()
    assert no_problem(at) and "A new sentence to run." in at.query_params["text"]


CHINESE = "我们在河边的银行门口见面，然后去银行存钱。"
TEXT = "The bank by the river flooded again."


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ({"lang": "zh"}, CHINESE),
        ({"lang": "zh", "text": TEXT}, TEXT),  # a link's own sentence stays
        ({"lang": "en"}, "The bank by the river flooded, so the bank on Main Street closed early."),
    ],
)
def test_a_chinese_link_opens_on_the_chinese_example(query, text):
    at = new_app(**query)
    assert no_problem(at) and at.sidebar.text_area(key="text").value == text


def test_switching_to_chinese_swaps_the_untouched_example_only():
    at = new_app()
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert at.sidebar.text_area(key="text").value == CHINESE
    at.sidebar.radio(key="lang").set_value("en").run()
    assert at.sidebar.text_area(key="text").value.startswith("The bank by the river")
    at = new_app(text=TEXT)
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert no_problem(at) and at.sidebar.text_area(key="text").value == TEXT
