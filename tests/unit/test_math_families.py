"""The math view's recomputation on the newer families (``NEWER_TINY_CONFIGS``): every layer
from its captured input and the model's own weights, in the order the model runs it, within
1e-4 of what the model produced, and each step the page shows equal to the array the model
captured where there is one (Q and K after the rotation, the probabilities, the feed-forward
activation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from tests.drivers import NEWER_TINY_CONFIGS
from viz.analysis.head_math import Rotary, recompute_layer, window_mask
from viz.capture import trace
from viz.models import Encoder
from viz.weights import layer_weights

SENTENCE = "The bank by the river flooded, so the bank closed early again today."
FAMILIES = sorted(NEWER_TINY_CONFIGS)


def tiny_model(model_type: str) -> torch.nn.Module:
    """Random weights, and random norms too: a gain of ones and a bias of zeros (the
    initialisation) would hide a norm applied at the wrong place or of the wrong kind."""
    torch.manual_seed(0)
    model = AutoModel.from_config(NEWER_TINY_CONFIGS[model_type](), attn_implementation="eager")
    with torch.no_grad():
        for module in model.modules():
            if "norm" in type(module).__name__.lower():
                for param in module.parameters(recurse=False):
                    param.add_(0.3 * torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="module")
def encoders(tokenizer) -> dict[str, Encoder]:
    return {t: Encoder.from_model(tiny_model(t), tokenizer, name=f"tiny-{t}") for t in FAMILIES}


def all_steps(encoder: Encoder):
    t = trace(encoder, SENTENCE)
    f = t.facts
    for layer in range(f.num_layers):
        w = layer_weights(encoder, layer)
        steps = recompute_layer(
            t.hidden_states[layer], w, f.num_heads, t.score_bias(layer), f.score_factor
        )
        yield t, layer, w, steps


@pytest.mark.parametrize("model_type", FAMILIES)
def test_every_layer_recomputed_within_1e_4(encoders, model_type):
    for t, layer, _, steps in all_steps(encoders[model_type]):
        assert np.abs(steps.out - t.hidden_states[layer + 1]).max() <= 1e-4, layer
        np.testing.assert_allclose(steps.q, t.queries[layer], atol=1e-4)
        np.testing.assert_allclose(steps.k, t.keys[layer], atol=1e-4)
        np.testing.assert_allclose(steps.v, t.values[layer], atol=1e-4)
        np.testing.assert_allclose(steps.probs, t.attentions[layer], atol=1e-5)
        np.testing.assert_allclose(steps.attn_out, t.attn_outputs[layer], atol=1e-4)
        np.testing.assert_allclose(steps.ffn_act, t.ffn_activations[layer], atol=1e-4)
        np.testing.assert_allclose(steps.ffn_out, t.ffn_outputs[layer], atol=1e-4)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_the_order_is_the_models(encoders, model_type):
    """Pre-norm: the residual adds the blocks' outputs unnormalised, the norms sit before the
    blocks, and only the last layer's output goes through the final norm."""
    encoder = encoders[model_type]
    pre = "pre_norm" in encoder.family.differs
    last = encoder.facts.num_layers - 1
    final_norm = encoder.family.final_norm is not None
    for _, layer, w, steps in all_steps(encoder):
        assert w.pre_norm == pre
        assert (steps.n1 is not None) == (steps.n2 is not None) == (steps.stream is not None) == pre
        if pre:
            np.testing.assert_allclose(steps.h1, steps.x + steps.attn_out)
            np.testing.assert_allclose(steps.stream, steps.h1 + steps.ffn_out)
            np.testing.assert_allclose(steps.n2, w.norm2(steps.h1))
            assert (w.final is not None) == (layer == last and final_norm)
            if layer < last:
                np.testing.assert_array_equal(steps.out, steps.stream)
            else:  # the final norm moves it: the stream and the reported output differ
                assert np.abs(steps.out - steps.stream).max() > 1e-2
        else:
            np.testing.assert_allclose(steps.h1, w.norm1(steps.x + steps.attn_out))


@pytest.mark.parametrize("model_type", FAMILIES)
def test_rotary_positions_turn_q_and_k_and_keep_their_length(encoders, model_type):
    encoder = encoders[model_type]
    rotary = "rotary" in encoder.family.differs
    for _, _, w, steps in all_steps(encoder):
        assert (w.rotary is not None) == (steps.q_raw is not None) == rotary
        if not rotary:
            continue
        first, second = w.rotary.pairs(steps.q.shape[-1])
        for raw, turned in ((steps.q_raw, steps.q), (steps.k_raw, steps.k)):
            length = raw[..., first] ** 2 + raw[..., second] ** 2
            np.testing.assert_allclose(turned[..., first] ** 2 + turned[..., second] ** 2, length)
            np.testing.assert_allclose(turned[:, 0], raw[:, 0])  # position 0: no turn
            assert np.abs(turned[:, 1:] - raw[:, 1:]).max() > 1e-3
        np.testing.assert_allclose(steps.angles[3], 3 * w.rotary.inv_freq)


def test_the_two_rotary_layouts_pair_different_dimensions():
    inv_freq = np.array([1.0, 0.1])
    half, interleaved = Rotary(inv_freq, "half"), Rotary(inv_freq, "interleaved")
    assert [list(p) for p in half.pairs(4)] == [[0, 1], [2, 3]]
    assert [list(p) for p in interleaved.pairs(4)] == [[0, 2], [1, 3]]
    x = np.zeros((1, 2, 4))
    x[0, 1, 0] = 1.0  # position 1, dimension 0: turns towards dimension 2 or 1 by 1 radian
    assert np.isclose(half.apply(x)[0, 1, 2], np.sin(1.0))
    assert np.isclose(interleaved.apply(x)[0, 1, 1], np.sin(1.0))


def test_modernbert_local_layers_see_a_window_and_global_layers_every_key(encoders):
    """The tiny ModernBERT: layers 1 and 3 global, layer 2 local with a window of 2 each side
    (``local_attention`` 4); outside the window the model's own probabilities are 0."""
    windows = []
    for t, layer, w, steps in all_steps(encoders["modernbert"]):
        windows.append(w.window)
        if w.window is None:
            assert steps.visible is None and (t.attentions[layer] > 0).all()
        else:
            np.testing.assert_array_equal(steps.visible, window_mask(t.num_tokens, 2))
            assert (t.attentions[layer][:, ~steps.visible] == 0).all()
            assert (steps.probs[:, ~steps.visible] == 0).all()
    assert windows == [None, 2, None]


def test_modernbert_fused_projections_are_split_as_the_model_splits_them(encoders):
    encoder = encoders["modernbert"]
    w = layer_weights(encoder, 1)
    D, F = encoder.facts.hidden_size, encoder.facts.ffn_size
    wqkv = encoder.layers[1].attn.Wqkv.weight.detach().numpy()
    wi = encoder.layers[1].mlp.Wi.weight.detach().numpy()
    assert w.fused_qkv and w.fused_ffn
    np.testing.assert_array_equal(np.concatenate([w.w_q, w.w_k, w.w_v]), wqkv)
    np.testing.assert_array_equal(np.concatenate([w.w_1, w.w_u]), wi)
    assert w.w_q.shape == (D, D) and w.w_1.shape == w.w_u.shape == (F, D)
    assert layer_weights(encoder, 0).norm1.kind == "identity"  # no norm before layer 1's attention


@pytest.mark.parametrize("model_type", FAMILIES)
def test_gated_blocks_multiply_the_activation(encoders, model_type):
    encoder = encoders[model_type]
    gated = "gated" in encoder.family.differs
    for _, _, w, steps in all_steps(encoder):
        assert (w.w_u is not None) == (steps.ffn_up is not None) == gated
        if gated:
            np.testing.assert_allclose(steps.ffn_act, steps.ffn_gate * steps.ffn_up)


def test_eurobert_grouped_keys_are_shared_by_two_query_heads(encoders):
    encoder = encoders["eurobert"]
    H = encoder.facts.num_heads
    for _, _, w, steps in all_steps(encoder):
        assert w.kv_heads == 2 and w.w_k.shape[0] == 2 * encoder.facts.head_dim
        assert w.norm1.kind == w.norm2.kind == "rms"
        for head in range(0, H, 2):
            np.testing.assert_array_equal(steps.k[head], steps.k[head + 1])
            np.testing.assert_array_equal(steps.v[head], steps.v[head + 1])
        assert np.abs(steps.k[0] - steps.k[2]).max() > 1e-3


@pytest.mark.parametrize("model_type", FAMILIES)
def test_the_residual_stream_of_a_pre_norm_model_is_the_sum_of_what_the_blocks_add(
    encoders, model_type
):
    """Pre-norm: each layer's output is its input plus both blocks' outputs, up to the last,
    which the model reports after its final norm; the stream there is the sum, and the
    feed-forward block's share is relative to x + a, the stream it is added to."""
    from viz.analysis import layers

    pre = "pre_norm" in encoders[model_type].family.differs
    t = trace(encoders[model_type], SENTENCE)
    hidden, a, f = t.hidden_states, t.attn_outputs, t.ffn_outputs
    stream = layers.residual_stream(hidden, a, f, pre)
    share = layers.contributions(hidden, a, f, pre)
    if not pre:
        assert stream is hidden
        np.testing.assert_allclose(share, layers.contributions(hidden, a, f))
        return
    np.testing.assert_allclose(stream[1:], stream[:-1] + a + f, atol=1e-4)
    np.testing.assert_array_equal(stream[:-1], hidden[:-1])
    assert np.abs(stream[-1] - hidden[-1]).max() > 1e-2  # the final norm is kept apart
    x = hidden[:-1].astype(np.float64)
    expected = np.linalg.norm(f, axis=-1) / np.linalg.norm(x + a, axis=-1)
    np.testing.assert_allclose(share[:, 1], expected.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        share[:, 0],
        (np.linalg.norm(a, axis=-1) / np.linalg.norm(x, axis=-1)).mean(axis=1),
        rtol=1e-5,
    )
