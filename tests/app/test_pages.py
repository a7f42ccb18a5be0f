"""AppTest paths through the issue-4 views: head math, attention modes, contrast, the probe,
the MLM lens (on a tiny random masked-LM model saved to a folder) and head ablation."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tests.drivers import TINY_CONFIGS, charts, layer_shown, new_app, no_problem, set_layer
from viz.ui.pages import PAGE_NAMES


def test_head_math_view_checks_itself():
    at = new_app(view="math", layer="3", head="2")
    assert no_problem(at)
    assert at.success and "1e-4" in at.success[0].value
    assert len(at.get("latex")) >= 8
    at.selectbox(key="query_token").set_value(3).run()
    assert no_problem(at) and charts(at) >= 10


@pytest.mark.parametrize("mode", ["raw", "rollout", "norm"])
def test_attention_modes(mode):
    at = new_app(view="attention")
    at.radio(key="attention_mode").set_value(mode).run()
    assert no_problem(at) and charts(at) == 3
    set_layer(at, 4)
    assert no_problem(at)
    help_text = " ".join(c.value for c in at.caption)
    assert ("sums to 1" in help_text) == (mode != "norm")  # norm-based values are lengths
    at.checkbox(key="hide_special").check().run()
    help_text = " ".join(c.value for c in at.caption)
    assert ("less than 1" in help_text) == (mode != "norm")


def test_contrast_view():
    at = new_app(view="contrast")
    assert no_problem(at) and charts(at) == 2
    at.text_input(key="contrast_word").input("river").run()
    assert not at.exception and at.warning  # two of the four sentences lack "river"
    at.text_input(key="contrast_word").input("zebra").run()
    assert not at.exception and at.info


def test_probe_view_runs_and_downloads():
    at = new_app(view="probe")
    at.radio(key="probe_source").set_value("topic").run()
    assert no_problem(at)
    at.button(key="probe_run").click().run()
    assert no_problem(at) and charts(at) == 1
    assert at.success and "Best: layer" in at.success[0].value
    assert "Within one std of it:" in at.success[0].value  # the best is rarely alone
    assert len(at.get("download_button")) == 1


def test_mlm_lens_unavailable_on_the_default_model():
    at = new_app(view="mlm")
    assert no_problem(at) and at.info and "no masked-language-model head" in at.info[0].value


def test_mlm_lens_and_ablation_on_a_tiny_mlm_model(tiny_mlm_folder):
    at = new_app(view="mlm", model=tiny_mlm_folder, text="The cat sat on the warm mat.")
    assert no_problem(at), [e.value for e in at.exception]
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 3  # emb + 2 layers
    assert charts(at) == 1
    at.selectbox(key="mlm_word").set_value(2).run()
    assert no_problem(at)
    at.sidebar.radio(key="view").set_value("ablation").run()
    assert no_problem(at) and at.info  # asks to pick heads
    at.multiselect(key="ablate_heads").select("L1H2").select("L2H1").run()
    assert no_problem(at) and charts(at) == 1 and len(at.dataframe) == 2


def test_ablation_on_the_default_model():
    at = new_app(view="ablation")
    at.multiselect(key="ablate_heads").select("L3H4").run()
    assert no_problem(at) and charts(at) == 1


def test_head_scan_on_the_default_model():
    """The scan runs on request only, draws the L x H map, names the strongest heads, and is
    kept (cached) when the page reruns."""
    at = new_app(view="ablation")
    assert no_problem(at) and charts(at) == 0 and at.info  # no heads chosen, no scan yet
    at.button(key="ablation_scan").click().run()
    assert no_problem(at) and charts(at) == 1
    top = [c.value for c in at.caption if c.value.startswith("Largest effect")]
    assert len(top) == 1 and len(re.findall(r"L\d+H\d+ \(0\.\d{4}\)", top[0])) == 3
    at.multiselect(key="ablate_heads").select("L1H1").run()
    assert no_problem(at) and charts(at) == 2  # the chosen head's chart, and the map kept


# every view the app offers: each has its name in the string table ("view_<name>")
VIEWS = PAGE_NAMES


@pytest.fixture(scope="module")
def tiny_folders(tiny_encoders, tmp_path_factory) -> dict[str, str]:
    """Every tiny architecture saved as a model folder, loadable by path like a user's own."""
    folders = {}
    for model_type, encoder in tiny_encoders.items():
        folder = tmp_path_factory.mktemp(f"tiny-{model_type}")
        encoder.model.save_pretrained(folder)
        encoder.tokenizer.save_pretrained(folder)
        folders[model_type] = str(folder)
    return folders


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_every_view_on_every_architecture(tiny_folders, model_type):
    """Any supported encoder, not just the default: every view draws without an error, and the
    math view's recomputation matches the model (ALBERT's shared layer, DistilBERT's names,
    MPNet's relative position bias, DeBERTa's disentangled attention, RoBERTa's position
    offset), and states the formula the model uses."""
    at = new_app(model=tiny_folders[model_type], text="The bank by the river flooded again.")
    assert no_problem(at), [e.value for e in at.exception]
    for view in VIEWS:
        at.sidebar.radio(key="view").set_value(view).run()
        assert no_problem(at), (view, [e.value for e in at.exception], [e.value for e in at.error])
        if view == "math":
            assert at.success and "1e-4" in at.success[0].value
            formulas = " ".join(x.value for x in at.latex)
            relative = model_type in ("mpnet", "deberta-v2")
            explained = any("relative-position term" in c.value for c in at.caption)
            assert ("r_{ij}" in formulas) == relative == explained
            assert (r"\sqrt{3\,d_k}" in formulas) == (model_type == "deberta-v2")
        if view == "ablation":
            at.multiselect(key="ablate_heads").select("L2H3").run()
            assert no_problem(at) and charts(at) == 1


def test_switching_to_a_smaller_model_keeps_the_page_working(tiny_folders):
    """Layers, heads and switched-off heads chosen on the 6 x 12 default model do not exist in
    a 2 x 4 model: after the switch every view still draws (they are brought into range)."""
    at = new_app(text="The bank by the river flooded again.")
    set_layer(at, 6)
    at.slider(key="head").set_value(12).run()
    for view, widget, value in (
        ("layers", "left_layer", 5),
        ("export", "export_layer", 6),
        ("ablation", "ablate_heads", ["L6H12", "L1H2"]),
    ):
        at.sidebar.radio(key="view").set_value(view).run()
        element = at.multiselect(key=widget) if view == "ablation" else None
        if element is not None:
            element.set_value(value).run()
        else:
            (at.number_input if view == "layers" else at.slider)(key=widget).set_value(value).run()
        assert no_problem(at), view
    at.sidebar.text_input(key="model").input(tiny_folders["bert"]).run()
    assert no_problem(at), [e.value for e in at.exception]
    assert at.multiselect(key="ablate_heads").value == ["L1H2"]  # L6H12 is gone, L1H2 stays
    for view in VIEWS:
        at.sidebar.radio(key="view").set_value(view).run()
        assert no_problem(at), (view, [e.value for e in at.exception])
    at.sidebar.radio(key="view").set_value("attention").run()
    assert layer_shown(at) == 2 and at.slider(key="head").value == 4


@pytest.fixture(scope="module")
def twelve_layers(tokenizer, tmp_path_factory) -> str:
    """A tiny random BERT of 12 layers (bert-base's depth), saved to a folder."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=12, num_attention_heads=4, intermediate_size=64,
        vocab_size=tokenizer.vocab_size, max_position_embeddings=128,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-12")
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_norm_mode_is_norm_based_attention_at_every_layer_and_computed_once(
    twelve_layers, monkeypatch
):
    """Norm-based mode sends every layer's ‖α f(x)‖ of the open head (and of the average):
    exactly ``norm_based`` of the library's trace. Its norms are kept for every layer in one
    entry: a later run (another head) computes none again, on a model of 12 layers (an entry
    a layer, eight kept, made every run compute all twelve)."""
    from tests.drivers import canvases, floats
    from viz import load_encoder, trace
    from viz.analysis import attention as attn
    from viz.weights import layer_weights

    calls = []
    real = attn.value_norms
    monkeypatch.setattr(attn, "value_norms", lambda *a: calls.append(1) or real(*a))
    text = "The bank by the river flooded again."
    at = new_app(model=twelve_layers, text=text, attention_mode="norm", head="3")
    assert no_problem(at), [e.value for e in at.exception]
    assert len(calls) == 12
    encoder = load_encoder(twelve_layers)
    t = trace(encoder, text)
    T = t.num_tokens
    expected = [
        attn.norm_based(t.attentions[n], t.values[n], layer_weights(encoder, n).w_o)
        for n in range(12)
    ]
    calls.clear()  # norm_based's own
    heat = canvases(at)["attention_heatmap"]
    for n, sent in enumerate(heat["values"]):
        np.testing.assert_allclose(floats(sent, (T, T)), expected[n][2], rtol=1e-6, atol=1e-7)
    at.checkbox(key="average").check().run()
    heat = canvases(at)["attention_heatmap"]
    for n, sent in enumerate(heat["values"]):
        mean = expected[n].mean(axis=0)
        np.testing.assert_allclose(floats(sent, (T, T)), mean, rtol=1e-5, atol=1e-7)
    at.checkbox(key="average").uncheck().run()
    at.slider(key="head").set_value(1).run()
    assert no_problem(at) and not calls  # no later run computed a norm again
