"""Every page for the newer families (pre-norm, rotary, gated, fused, grouped, windowed:
``NEWER_TINY_CONFIGS``), each a tiny random model saved to a folder and loaded by path like a
user's own; the math view recomputes each within 1e-4 and states the order the model uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from tests.drivers import NEWER_TINY_CONFIGS, charts, new_app, no_problem, set_layer
from viz.arch import families
from viz.ui.pages import PAGE_NAMES


@pytest.fixture(scope="module")
def folders(tokenizer, tmp_path_factory) -> dict[str, str]:
    found = {}
    for model_type, make in NEWER_TINY_CONFIGS.items():
        torch.manual_seed(0)
        model = AutoModel.from_config(make(), attn_implementation="eager")
        folder = tmp_path_factory.mktemp(f"tiny-{model_type}")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        found[model_type] = str(folder)
    return found


@pytest.mark.parametrize("model_type", sorted(NEWER_TINY_CONFIGS))
def test_every_view_on_every_newer_family(folders, model_type):
    at = new_app(model=folders[model_type], text="The bank by the river flooded again.")
    assert no_problem(at), [e.value for e in at.exception]
    for view in PAGE_NAMES:
        at.sidebar.radio(key="view").set_value(view).run()
        assert no_problem(at), (view, [e.value for e in at.exception], [e.value for e in at.error])
        if view == "math":
            math_page_states_the_order_the_model_uses(at, model_type)
        if view == "layers":  # pre-norm: the stream's norms, the final norm apart
            captions = " ".join(x.value for x in at.caption)
            pre_norm = "pre_norm" in families()[model_type].differs
            assert ("before that final norm" in captions) == pre_norm
            assert ("the feed-forward block's to x + a" in captions) == pre_norm
        if view == "ablation":
            at.multiselect(key="ablate_heads").select("L2H3").run()
            assert no_problem(at) and charts(at) == 1


def math_page_states_the_order_the_model_uses(at, model_type: str) -> None:
    """Layer 2's recomputation matches, and each formula is the one this family's layer uses."""
    differs = families()[model_type].differs
    for layer in (2, 1):
        set_layer(at, layer)
        assert no_problem(at) and at.success and "1e-4" in at.success[0].value, layer
    formulas = " ".join(x.value for x in at.latex)
    captions = " ".join(x.value for x in at.caption)
    assert ("h_i = x_i + a_i" in formulas) == ("pre_norm" in differs)
    assert (r"\mathrm{LayerNorm}(x_i + a_i)" in formulas) != ("pre_norm" in differs)
    assert (r"\sin i\theta_p" in formulas) == ("rotary" in differs)
    assert (r"\odot \big(" in formulas) == ("gated" in differs)
    assert ("W_{QKV}" in formulas) == (model_type == "modernbert")
    assert ("key/value heads serve" in captions) == ("grouped" in differs)
    if "window" in differs:  # the tiny ModernBERT: layer 2 of 3 is local
        assert "Layer 1 is a global layer" in at.info[0].value
        set_layer(at, 2)
        assert "Layer 2 is a local layer" in at.info[0].value
        assert r"|i - j| \le 2" in " ".join(x.value for x in at.latex)
        table = next(d.value for d in at.dataframe if "alpha" in d.value)  # after the rotation's
        scores = table["score"]  # of the query token 1: keys 0 to 3 seen
        assert np.isfinite(scores[:4]).all() and np.isneginf(scores[4:]).all()
    else:
        assert not at.info


@pytest.mark.parametrize("model_type", sorted(NEWER_TINY_CONFIGS))
def test_every_attention_mode_on_every_newer_family(folders, model_type):
    """The norm-based mode reads the layer's norms: an RMSNorm without bias, an identity in a
    norm's place (ModernBERT's first layer) and layers past the first."""
    at = new_app(model=folders[model_type], text="The bank by the river flooded again.")
    for mode in ("raw", "rollout", "norm"):
        for layer in (1, 2):
            at.radio(key="attention_mode").set_value(mode)
            set_layer(at, layer)
            assert no_problem(at), (mode, layer, [e.value for e in at.exception])
            assert charts(at) >= 2
