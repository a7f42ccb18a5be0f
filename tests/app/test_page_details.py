"""Smaller defects of the heads, probe, math, MLM, ablation, contrast and export pages, as a new
user meets them: each test here failed before its fix."""

from __future__ import annotations

import base64
import codecs
import csv
import io
import json

import numpy as np
import pytest
import torch

from tests.drivers import new_app, no_problem
from viz import lens as viz_lens
from viz.analysis import mlm
from viz.analysis.head_math import activation
from viz.capture import trace
from viz.figures import head_math as math_fig
from viz.figures import lines as lines_fig
from viz.tokens import word_groups
from viz.ui.i18n import en, zh
from viz.ui.pages import contrast as contrast_page
from viz.ui.pages import export as export_page
from viz.ui.pages import probe as probe_page

CHINESE = "我们在河边的银行门口见面，然后去银行存钱。"


def numbers(values: object) -> np.ndarray:
    """A figure's array as Plotly's JSON holds it: a list, or base64 with its dtype."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def spec(at, title_part: str) -> dict:
    """The Plotly figure on the page whose title contains ``title_part``."""
    for element in at.get("plotly_chart"):
        fig = json.loads(element.proto.spec)
        if title_part in (fig["layout"].get("title") or {}).get("text", ""):
            return fig
    raise AssertionError(f"no chart titled …{title_part}…")


# ---------------------------------------------------------------- heads: readable column names
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_head_table_columns_read_as_words_in_both_languages(lang):
    at = new_app(view="heads", lang=lang)
    assert no_problem(at)
    labels = {k: v.get("label") for k, v in json.loads(at.dataframe[0].proto.columns).items()}
    shares = ("to_cls", "to_sep", "to_punct", "to_self", "to_prev", "to_next")
    assert all(labels[c] and "_" not in labels[c] for c in shares), labels
    assert labels["to_cls"] == {"en": "to [CLS]", "zh": "→[CLS]"}[lang]
    assert list(at.dataframe[0].value.columns[2:]) == ["entropy", "distance", *shares]  # raw


# ---------------------------------------------------------------- probe: the star on its series
def test_best_star_takes_the_colour_of_the_series_it_sits_on():
    series = {
        "mean": np.array([0.5, 0.9, 0.8]),
        "cls": np.array([0.5, 0.6, 0.7]),
        "max": np.array([0.5, 0.85, 0.88]),
    }
    fig = lines_fig.by_layer(series, "t", "y", best=("mean", 1), best_name="best")
    lines = {tr.name: tr for tr in fig.data if tr.name in series}
    star = next(tr for tr in fig.data if tr.marker.symbol == "star")
    assert star.x == ("L1",) and star.y == (0.9,)
    assert star.marker.color == lines["mean"].line.color
    assert len({lines[n].line.color for n in series}) == 3  # each series its own colour


# ---------------------------------------------------------------- math view
def test_gelu_colour_bar_covers_only_the_range_gelu_has():
    x = np.random.default_rng(0).normal(0, 2, size=(20, 64))
    values = activation("gelu", x)  # never below about -0.17
    heat = math_fig.matrix(values, [f"t{i}" for i in range(20)], "gelu").data[0]
    assert values.min() - 1e-9 <= heat.zmin < 0 and heat.zmin > -0.2
    assert heat.zmax > 2
    zero = -heat.zmin / (heat.zmax - heat.zmin)  # white sits at 0 on the bar
    assert any(abs(p - zero) < 1e-9 and c == "rgb(247, 247, 247)" for p, c in heat.colorscale)
    q = math_fig.matrix(x, [f"t{i}" for i in range(20)], "q").data[0]  # both signs: near symmetric
    assert q.zmin < -3 and q.zmax > 3


def test_math_view_gelu_chart_and_numbers_table():
    at = new_app(view="math", layer="2", head="3", text="The bank by the river flooded.")
    assert no_problem(at)
    ffn = spec(at, "gelu(h W₁ + b₁)")["data"][0]
    assert -0.2 < ffn["zmin"] < 0 < ffn["zmax"]  # was symmetric, down to about -1.3
    table = at.dataframe[0].value
    query = at.selectbox(key="query_token").value
    tokens = [t.split(" ", 1)[1] for t in at.selectbox(key="query_token").options]
    assert list(table["key"]) == tokens and list(table.columns) == [
        "position",
        "key",
        "qk",
        "scaled",
        "alpha",
    ]
    np.testing.assert_allclose(table["scaled"], table["qk"] / np.sqrt(32), atol=2e-6)
    alpha = np.exp(table["scaled"] - table["scaled"].max())
    np.testing.assert_allclose(table["alpha"], alpha / alpha.sum(), atol=2e-6)
    assert any(f"query token {query}" in c.value for c in at.caption)


def test_math_step_3_is_a_short_heading_with_its_explanation_below():
    for lang in ("en", "zh"):
        at = new_app(view="math", lang=lang)
        heading = [m.value for m in at.markdown if m.value.startswith("**3.")]
        assert len(heading) == 1 and "m_j" not in heading[0] and len(heading[0]) < 60
        assert any("$m_j$" in c.value for c in at.caption), lang


def test_math_numbers_table_shows_the_relative_term(tiny_encoders, tmp_path):
    encoder = tiny_encoders["deberta-v2"]
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    at = new_app(view="math", model=str(tmp_path), text="The bank by the river flooded.")
    assert no_problem(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["position", "key", "qk", "scaled", "relative", "score", "alpha"]
    np.testing.assert_allclose(table["scaled"], table["qk"] / np.sqrt(3 * 8), atol=2e-6)
    np.testing.assert_allclose(table["score"], table["scaled"] + table["relative"], atol=2e-6)
    assert np.abs(table["relative"]).max() > 0


# ---------------------------------------------------------------- MLM lens
def test_content_word_skips_stop_words_punctuation_and_unknowns():
    words = ["[CLS]", "The", "cat", "sat", "[SEP]"]
    assert mlm.content_word(words, [1, 2, 3]) == 2
    assert mlm.content_word(["[CLS]", "It", ",", "is", "[SEP]"], [1, 2, 3]) == 1  # all stop
    assert mlm.content_word(["of", "the", "and"], [0, 1, 2]) == 1  # the first of the longest
    chars = list("我们在河边的银行")
    assert mlm.content_word(chars, list(range(len(chars)))) == 3  # 河
    assert mlm.content_word(chars, list(range(len(chars))), avoid=[3]) == 4  # 河 is [UNK]
    assert mlm.content_word(["!", "?"], [0, 1]) == 0


def test_lens_follows_the_masked_word_through_the_layers(tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    from viz.models import Encoder

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
    )
    model = BertForMaskedLM._from_config(config, attn_implementation="eager").eval()
    encoder = Encoder.from_model(model, tokenizer, name="tiny-mlm")
    text = "The cat sat on the warm mat."
    plain = trace(encoder, text)
    word = 2  # "cat"
    true_id = int(plain.token_ids[word_groups(plain.word_ids)[word][0]])
    masked = trace(encoder, text, mask_word=word)
    pos = mlm.mask_position(masked, tokenizer.mask_token_id)
    result = viz_lens.lens(encoder, masked, pos, k=5, true_id=true_id)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([masked.token_ids.tolist()])).logits[0, pos]
    assert result.true_token == "cat" and result.true_rank.shape == (3,)
    assert int(result.true_rank[-1]) == 1 + int((logits > logits[true_id]).sum())
    assert int(logits.argmax()) == result.final_id


def test_mlm_lens_masks_a_content_word_and_shows_the_masked_sentence(tiny_mlm_folder):
    at = new_app(view="mlm", model=tiny_mlm_folder, text="The cat sat *on* the warm mat.")
    assert no_problem(at), [e.value for e in at.exception]
    assert at.selectbox(key="mlm_word").value == 2  # "cat", not "The"
    shown = [m.value for m in at.markdown if "Masked input" in m.value]
    assert shown == ["Masked input: The `[MASK]` sat \\*on\\* the warm mat\\."]
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["emb", "L1", "L2"]
    assert (table["true_rank"] >= 1).all()
    labels = json.loads(at.dataframe[0].proto.columns)
    assert labels["true_rank"]["label"] == "rank of the masked word"
    names = [t["name"] for t in spec(at, "Rank at each layer")["data"]]
    assert any("the masked word" in n and "cat" in n for n in names), names
    ranks = [t["y"] for t in spec(at, "Rank at each layer")["data"] if "masked" in t["name"]]
    assert len(ranks) == 1 and list(numbers(ranks[0])) == list(table["true_rank"])
    at.selectbox(key="mlm_word").set_value(5).run()  # "on": the user's choice holds
    assert no_problem(at) and at.selectbox(key="mlm_word").value == 5
    figure = spec(at, "Rank at each layer")  # a chart is not Markdown: no escaping backslashes
    assert "\\" not in json.dumps([figure["layout"]["title"], [t["name"] for t in figure["data"]]])
    shown = [m.value for m in at.markdown if "Masked input" in m.value]
    assert shown == ["Masked input: The cat sat \\*`[MASK]`\\* the warm mat\\."]


def test_mlm_masked_chinese_input_marks_the_mask_between_characters(tiny_mlm_folder):
    """'**' between two Chinese characters is not bold in Markdown: the mask is a code span."""
    at = new_app(view="mlm", lang="zh", model=tiny_mlm_folder, text=CHINESE)
    assert no_problem(at)
    shown = [m.value for m in at.markdown if m.value.startswith("遮盖后的输入")]
    assert shown == ["遮盖后的输入：我们在`[MASK]`边的银行门口见面，然后去银行存钱。"]


def test_ablation_starts_its_mlm_picker_on_a_content_word(tiny_mlm_folder):
    at = new_app(view="ablation", model=tiny_mlm_folder, text="The cat sat on the mat.")
    at.multiselect(key="ablate_heads").select("L1H2").run()
    assert no_problem(at) and at.selectbox(key="ablation_word").value == 2


# ---------------------------------------------------------------- ablation
def test_ablation_drift_starts_at_the_first_layer():
    at = new_app(view="ablation", ablate_heads="L3H4")
    assert no_problem(at)
    bars = spec(at, "How far each layer")["data"][0]
    assert list(bars["x"]) == ["L1", "L2", "L3", "L4", "L5", "L6"]
    y = numbers(bars["y"])
    assert (y[:2] < 1e-9).all() and (y[2:] > 1e-6).all()  # layers before the head do not move


# ---------------------------------------------------------------- contrast
def test_sense_tags_are_read_after_the_last_bar():
    lines = contrast_page.tagged_lines("A bank. | river\n\n a | b c |money \nNo tag here.\nx |  ")
    assert lines == [
        ("A bank.", "river"),
        ("a | b c", "money"),
        ("No tag here.", None),
        ("x", None),
    ]


def test_contrast_pairs_grouped_by_sense_with_their_means():
    at = new_app(view="contrast")
    assert no_problem(at)
    text = at.text_area(key="contrast_text").value
    assert text.count("| river") == 2 and text.count("| money") == 2
    link = at.query_params["contrast_text"]
    assert "| river" in (link[0] if isinstance(link, list) else link)  # tags travel in the link
    fig = spec(at, "sentence pairs")
    means = [t for t in fig["data"] if t.get("showlegend", True) is not False]
    names = [t["name"] for t in means]
    assert names == ["same sense (2 pairs), mean", "different senses (4 pairs), mean"], names
    assert means[0]["line"]["color"] != means[1]["line"]["color"]
    thin = [t for t in fig["data"] if t.get("showlegend") is False]
    assert len(thin) == 6
    same = [t for t in thin if t["line"]["color"] == means[0]["line"]["color"]]
    assert {t["name"] for t in same} == {"#1 (river) vs #3 (river)", "#2 (money) vs #4 (money)"}
    captions = " ".join(c.value for c in at.caption)
    assert "Look for the layer where the two means part" in captions
    gap = numbers(means[0]["y"]) - numbers(means[1]["y"])
    i = int(np.argmax(gap))
    names = ["emb"] + [f"L{n}" for n in range(1, len(gap))]
    said = f"{names[i]} ({gap[i]:+.3f})"
    assert said in captions and ("furthest above" in captions) == (i < len(gap) - 1)


def test_contrast_without_tags_says_how_to_tag():
    at = new_app(view="contrast")
    at.text_area(key="contrast_text").input("A bank.\nThe river bank.\nThe bank lent money.").run()
    assert no_problem(at)
    fig = spec(at, "sentence pairs")
    assert len(fig["data"]) == 3  # one line a pair
    assert any("Tag each sentence" in c.value for c in at.caption)


def test_contrast_tags_in_chinese():
    at = new_app(view="contrast", lang="zh")
    assert no_problem(at)
    assert "| 花费" in at.text_area(key="contrast_text").value
    names = [t["name"] for t in spec(at, "两两比较")["data"] if t.get("showlegend") is not False]
    assert names == ["词义相同（2 对），平均", "词义不同（4 对），平均"]
    # the bundled English model reads half of these characters as [UNK]: the means never part
    assert any("始终没有明显高于" in c.value for c in at.caption)


def test_contrast_shows_only_its_own_unknown_token_notice():
    """The sidebar sentence has a few characters the model lacks, the contrast sentences none:
    the frame's notice about the sidebar is not the contrast page's business."""
    assert contrast_page.OWN_NOTICES is True
    at = new_app(view="contrast", text="The bank 银 by the river flooded again today.")
    assert no_problem(at)
    unknown = [i.value for i in at.info if "not in this model's vocabulary" in i.value]
    assert unknown == []
    at.text_area(key="contrast_text").input("银 bank.\nThe river bank.").run()
    unknown = [i.value for i in at.info if "not in this model's vocabulary" in i.value]
    assert len(unknown) == 1 and unknown[0].startswith("1 of the")


# ---------------------------------------------------------------- CSV downloads
def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8)  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_token_csv_has_the_shown_label_and_a_byte_order_mark(bundled):
    t = trace(bundled, CHINESE)
    rows = read_csv(export_page.layer_csv(t, 3))
    assert rows[0][:4] == ["position", "token", "shown as", "d0"]
    unknown = [r for r in rows[1:] if r[1] == "[UNK]"]
    assert unknown and all(len(r[2]) == 7 and r[2].endswith("→[UNK]") for r in unknown)
    assert len(rows) == t.num_tokens + 1 and len(rows[1]) == 3 + 384


def test_probe_embeddings_csv_has_a_byte_order_mark():
    from viz.analysis.probe import LabelledTexts

    data = LabelledTexts(("我很喜欢", "太糟糕了"), ("好", "坏"), 0)
    rows = read_csv(probe_page.embeddings_csv(data, np.zeros((2, 4), np.float32)))
    assert rows[0] == ["text", "label", "d0", "d1", "d2", "d3"]
    assert rows[1][:2] == ["我很喜欢", "好"]


def test_catalogues_keep_the_csv_names_apart_from_the_shown_ones():
    for catalogue in (en.CATALOGUE, zh.CATALOGUE):
        shown = catalogue["columns"]
        assert all("_" not in shown[f"col_to_{s}"] for s in ("cls", "sep", "self", "next"))
