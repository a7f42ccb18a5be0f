"""The family registry: every family has a tiny test config and every tiny config a family;
each family's module paths and masked-LM head are right for its model; quirks' hooks go too."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import AutoModelForMaskedLM

from tests.drivers import ALL_TINY_CONFIGS, TINY_CONFIGS, TINY_CONFIGS_WITHOUT_MATH
from viz.arch import DECODER_ONLY, Hook, Quirk, families, family_for, family_of
from viz.capture import capture, trace
from viz.errors import UserError
from viz.models import Encoder

SENTENCE = "The bank by the river flooded."


def test_every_family_has_a_tiny_test_config():
    missing = sorted(set(families()) - set(ALL_TINY_CONFIGS))
    assert not missing, f"add a tiny config for {missing} to TINY_CONFIGS in tests/drivers.py"


def test_every_tiny_config_is_a_registered_family():
    unknown = sorted(set(ALL_TINY_CONFIGS) - set(families()))
    assert not unknown, f"no module in viz/arch defines FAMILY for {unknown}"
    for model_type, make in ALL_TINY_CONFIGS.items():
        assert make().model_type == model_type


def test_the_math_view_is_tested_on_exactly_the_families_it_recomputes():
    """The math view's tests run on TINY_CONFIGS; the others say it is not available."""
    assert not set(TINY_CONFIGS) & set(TINY_CONFIGS_WITHOUT_MATH)
    assert {t for t, f in families().items() if not f.layer_math} == set(TINY_CONFIGS_WITHOUT_MATH)


def test_unsupported_and_decoder_only_types_say_why():
    supported = ", ".join(sorted(ALL_TINY_CONFIGS))
    with pytest.raises(UserError, match="decoder-only") as err:
        family_for("gpt2")
    assert err.value.code == "decoder_only" and err.value.params["supported"] == supported
    with pytest.raises(UserError, match="not supported yet. Supported: albert, bert"):
        family_for("t5")
    assert not DECODER_ONLY & set(families())


@pytest.mark.parametrize("model_type", sorted(ALL_TINY_CONFIGS))
def test_every_path_resolves_and_the_mlm_head_matches_the_model(tokenizer, model_type):
    """Every module path of the family exists in every layer (the final norm in the base
    model), and the masked-LM head applied to the last hidden state gives the masked-LM model's
    own logits."""
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(
        ALL_TINY_CONFIGS[model_type](), attn_implementation="eager"
    )
    encoder = Encoder.from_model(model, tokenizer)
    for layer in encoder.layers:
        for path in dataclasses.asdict(encoder.family.paths).values():
            if path is not None and path != encoder.family.paths.layers:
                layer.get_submodule(path)
    L = encoder.facts.num_layers
    assert len(encoder.layers) == (1 if model_type == "albert" else L)
    if encoder.family.final_norm is not None:
        assert isinstance(encoder.base.get_submodule(encoder.family.final_norm), torch.nn.Module)
    assert encoder.facts.has_mlm_head
    ids = torch.tensor([tokenizer(SENTENCE)["input_ids"]])
    with torch.inference_mode():
        out = model(input_ids=ids, output_hidden_states=True)
        logits = encoder.mlm_logits(out.hidden_states[-1])
    torch.testing.assert_close(logits, out.logits, atol=1e-5, rtol=0)


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_no_hook_left_behind_by_any_family(tiny_encoders, model_type):
    encoder = tiny_encoders[model_type]
    trace(encoder, SENTENCE)  # transformers installs its own output hooks at a first forward
    before = hook_count(encoder.model)
    trace(encoder, SENTENCE, ablate=frozenset({(0, 1)}))
    assert hook_count(encoder.model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with capture(encoder, ablate=frozenset({(1, 0)})):
            assert hook_count(encoder.model) > before
            raise RuntimeError("boom")
    assert hook_count(encoder.model) == before and not encoder.lock.locked()


class Broken(Quirk):
    """A quirk whose hooks cannot be made: the ones already registered must still go."""

    def hooks(self, encoder, store, kinds):
        return [Hook(encoder.layers[0], lambda *a: None)] + [encoder.base.get_submodule("nope")]


def test_a_quirk_that_fails_leaves_no_hook(tiny_encoders):
    encoder = tiny_encoders["mpnet"]  # its own quirks register first
    family = dataclasses.replace(encoder.family, quirks=(*encoder.family.quirks, Broken()))
    broken = dataclasses.replace(encoder, family=family)
    before = hook_count(encoder.model)
    with pytest.raises(AttributeError):
        trace(broken, SENTENCE)
    assert hook_count(encoder.model) == before


def test_every_difference_a_family_names_is_explained_in_every_language():
    from viz.arch.family import DIFFERENCES
    from viz.ui.i18n import en, zh

    used = {code for family in families().values() for code in family.differs}
    assert used <= set(DIFFERENCES)
    for catalogue in (en.CATALOGUE, zh.CATALOGUE):
        assert {f"math_diff_{code}" for code in DIFFERENCES} <= set(catalogue["math"])
    assert not families()["bert"].differs and families()["bert"].layer_math
    assert families()["modernbert"].layer_math


def test_a_difference_the_math_view_does_not_follow_turns_it_off(monkeypatch):
    import viz.arch.family

    monkeypatch.setattr(viz.arch.family, "RECOMPUTED", frozenset({"pre_norm", "rotary"}))
    assert families()["megatron-bert"].layer_math and families()["roformer"].layer_math
    assert not families()["modernbert"].layer_math  # gated, window


def test_a_family_with_an_unknown_difference_is_refused():
    from viz.arch.bert import PATHS

    with pytest.raises(RuntimeError, match="unknown differences"):
        dataclasses.replace(families()["bert"], paths=PATHS, differs=("sideways",))


def test_block_sparse_big_bird_is_refused_with_how_to_switch():
    config = ALL_TINY_CONFIGS["big_bird"]()
    config.attention_type = "block_sparse"
    with pytest.raises(UserError, match='"attention_type": "original_full"') as err:
        family_of(config)
    assert err.value.code == "big_bird_sparse"


def test_layers_found_in_the_tree_when_a_family_names_no_path(tiny_encoders):
    """A family without a ``layers`` path gets the ModuleList whose modules hold its attention
    (BERT's ``encoder.layer`` here); one whose attention path is nowhere is named."""
    encoder = tiny_encoders["bert"]
    family = encoder.family
    found = dataclasses.replace(family, paths=dataclasses.replace(family.paths, layers=None))
    assert found.layers(encoder.base) == list(encoder.base.encoder.layer)
    lost = dataclasses.replace(found, paths=dataclasses.replace(found.paths, attention="nope"))
    with pytest.raises(UserError, match="not found"):
        lost.layers(encoder.base)
