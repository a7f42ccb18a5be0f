"""Every page for the newer families (pre-norm, rotary, gated, fused, grouped, windowed:
``NEWER_TINY_CONFIGS``), each a tiny random model saved to a folder and loaded by path like a
user's own; the math view recomputes each within 1e-4 and states the order the model uses."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from tests.drivers import NEWER_TINY_CONFIGS, charts, new_app, no_problem
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
            assert at.success and "1e-4" in at.success[0].value, [x.value for x in at.error]
            assert not at.info and charts(at) > 5
        if view == "ablation":
            at.multiselect(key="ablate_heads").select("L2H3").run()
            assert no_problem(at) and charts(at) == 1


@pytest.mark.parametrize("model_type", sorted(NEWER_TINY_CONFIGS))
def test_every_attention_mode_on_every_newer_family(folders, model_type):
    """The norm-based mode reads the layer's norms: an RMSNorm without bias, an identity in a
    norm's place (ModernBERT's first layer) and layers past the first."""
    at = new_app(model=folders[model_type], text="The bank by the river flooded again.")
    for mode in ("raw", "rollout", "norm"):
        for layer in (1, 2):
            at.radio(key="attention_mode").set_value(mode)
            at.slider(key="layer").set_value(layer).run()
            assert no_problem(at), (mode, layer, [e.value for e in at.exception])
            assert charts(at) >= 2
