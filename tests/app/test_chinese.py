"""In 中文 no page shows an English sentence of ours: captions, messages, widget labels and
figure labels all come from the Chinese catalogue. Words the catalogue itself keeps in Latin
letters (query, softmax, [CLS], model names...) and the user's own tokens are allowed."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.drivers import new_app
from viz.ui.i18n import zh
from viz.ui.pages import PAGE_NAMES

WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
PLOTLY = re.compile(r"%\{[^}]*\}|<[^>]*>|&[a-z]+;")
TEXT = "我们在河边的银行门口见面。"


def latin_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(PLOTLY.sub(" ", text))}


# Latin words the Chinese catalogue uses on purpose (terms, names, formats).
KEPT = set().union(*(latin_words(t) for group in zh.CATALOGUE.values() for t in group.values()))


def figure_texts(spec: dict) -> list[str]:
    """Titles, axis titles, colour bars, legends, annotations and hovers of one figure."""
    layout, out = spec.get("layout", {}), []

    def title(obj: object) -> None:
        if isinstance(obj, dict):
            obj = obj.get("text")
        if isinstance(obj, str):
            out.append(obj)

    title(layout.get("title"))
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            title(axis.get("title"))
    out += [a.get("text", "") for a in layout.get("annotations", [])]
    for trace in spec.get("data", []):
        title(trace.get("name"))
        title(trace.get("hovertemplate"))
        title((trace.get("colorbar") or {}).get("title"))
        title((trace.get("marker", {}).get("colorbar") or {}).get("title"))
    return out


def page_texts(at: AppTest) -> list[str]:
    """Every piece of our text on the page as the user sees it."""
    texts = [
        e.value
        for kind in (
            "caption",
            "info",
            "warning",
            "error",
            "success",
            "markdown",
            "subheader",
            "title",
        )
        for e in at.get(kind)
    ]
    for kind in (
        "radio",
        "selectbox",
        "checkbox",
        "slider",
        "number_input",
        "button",
        "multiselect",
        "text_area",
        "text_input",
        "toggle",
    ):
        for widget in at.get(kind):
            texts.append(getattr(widget, "label", "") or "")
            if kind == "radio":
                texts += [str(o) for o in widget.options]
            placeholder = getattr(widget, "placeholder", None)
            if placeholder:
                texts.append(placeholder)
    for element in at.get("plotly_chart"):
        texts += figure_texts(json.loads(element.proto.spec))
    return texts


def untranslated(at: AppTest, allowed: set[str]) -> list[str]:
    return [t for t in page_texts(at) if latin_words(t.replace("\\", "")) - KEPT - allowed]


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_no_english_on_any_page_in_chinese(page, tiny_mlm_folder):
    # the MLM lens and ablation show their predictions only for a model with an MLM head
    model = tiny_mlm_folder if page in ("mlm", "ablation") else "all-MiniLM-L6-v2"
    at = new_app(lang="zh", view=page, text=TEXT, model=model)
    assert not at.exception, [e.value for e in at.exception]
    if page == "probe":
        at.button(key="probe_run").click().run()
    if page == "ablation":
        at.multiselect(key="ablate_heads").select("L1H2").run()
        at.button(key="ablation_scan").click().run()
    assert not at.exception, [e.value for e in at.exception]
    facts = at.caption[1].value  # model name and type, as the model spells them
    # the user's own inputs: the model's name and tokens, and the probe's sample sentences
    allowed = latin_words(facts) | latin_words(model) | {"gelu", "relu", "unk"}
    allowed |= {"english", "png", "svg"}  # the language picker and file formats
    allowed |= {"cos", "vs", "pc", "out"}  # notation: 1 − cos, L1 vs L2, PC 1, out[i]
    for frame in at.dataframe:  # what the model predicts is the model's, not ours
        allowed |= latin_words(" ".join(map(str, frame.value.to_numpy().ravel())))
    problems = untranslated(at, allowed)
    assert not problems, f"English on the {page} page in 中文: {problems}"
