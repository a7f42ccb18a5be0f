"""Capture: parity with Hugging Face's own outputs, recomputation, hook hygiene, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tests.drivers import TINY_CONFIGS
from viz.analysis.attention_math import attention_from_qkv
from viz.capture import capture, trace, uses_segments

SENTENCE = "The bank by the river flooded, so the bank closed early."
PAIR = "Where did the water go?"


def reference_outputs(encoder, result):
    """Hugging Face's own hidden states and attentions for the same token ids."""
    inputs = {"input_ids": torch.tensor([result.token_ids.tolist()])}
    if uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor([result.segment_ids.tolist()])
    with torch.inference_mode():
        out = encoder.base(**inputs, output_hidden_states=True, output_attentions=True)
    return (
        np.stack([h[0].numpy() for h in out.hidden_states]),
        np.stack([a[0].numpy() for a in out.attentions]),
    )


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_parity_with_huggingface(tiny_encoders, model_type):
    encoder = tiny_encoders[model_type]
    result = trace(encoder, SENTENCE, PAIR)
    hidden, attentions = reference_outputs(encoder, result)
    L = encoder.facts.num_layers
    assert result.hidden_states.shape == hidden.shape == (L + 1, result.num_tokens, 32)
    assert result.attentions.shape == attentions.shape
    np.testing.assert_allclose(result.hidden_states, hidden, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result.attentions, attentions, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)


ARRAYS = {
    "hidden": "hidden_states",
    "probs": "attentions",
    "q": "queries",
    "k": "keys",
    "v": "values",
    "ctx": "attn_context",
    "attn_out": "attn_outputs",
    "act": "ffn_activations",
    "ffn_out": "ffn_outputs",
}


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_one_preallocated_block_holds_what_the_hooks_would_allocate(tiny_encoders, model_type):
    """``trace`` carves every array out of one block made before the forward; without a
    length, the hooks make each array at its first call. Both hold the same values."""
    encoder = tiny_encoders[model_type]
    pooled = trace(encoder, SENTENCE, PAIR)
    assert pooled.hidden_states.base is not None  # a view of the block
    inputs = {"input_ids": torch.tensor([pooled.token_ids.tolist()])}
    if uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor([pooled.segment_ids.tolist()])
    inputs.update(encoder.family.inputs)
    with torch.inference_mode(), capture(encoder) as store:
        encoder.base(**inputs)
    for kind, name in ARRAYS.items():
        assert store.arrays[kind].base is None, kind  # made by the hook
        np.testing.assert_array_equal(store.arrays[kind], getattr(pooled, name), name)


def test_memory_of_a_trace_still_in_use_is_never_reused(tiny_encoders):
    """Traces reuse the blocks of traces that are gone; a kept trace, or a slice of one, must
    keep its values however many traces follow."""
    encoder = tiny_encoders["bert"]
    kept = trace(encoder, SENTENCE)
    expected = {name: getattr(kept, name).copy() for name in ARRAYS.values()}
    part = trace(encoder, PAIR).attentions[1]  # the trace is gone, this view of it is not
    part_expected = part.copy()
    # other words, the same lengths: the kept blocks would fit exactly
    like_kept, like_part = SENTENCE.replace("bank", "shop"), PAIR.replace("water", "river")
    assert trace(encoder, like_kept).num_tokens == kept.num_tokens
    assert trace(encoder, like_part).num_tokens == part.shape[-1]
    for i in range(6):
        other = trace(encoder, f"Sentence number {i} is about something else.")
        del other
        trace(encoder, like_kept)
        trace(encoder, like_part)
    for name, values in expected.items():
        np.testing.assert_array_equal(getattr(kept, name), values, name)
    np.testing.assert_array_equal(part, part_expected)


def test_parity_bundled_model(bundled):
    result = trace(bundled, SENTENCE, PAIR)
    hidden, attentions = reference_outputs(bundled, result)
    assert result.hidden_states.shape == (7, result.num_tokens, 384)
    assert result.attentions.shape == (6, 12, result.num_tokens, result.num_tokens)
    np.testing.assert_allclose(result.hidden_states, hidden, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result.attentions, attentions, atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_attention_recomputed_from_qkv(tiny_encoders, model_type):
    encoder = tiny_encoders[model_type]
    result = trace(encoder, SENTENCE)
    for layer in range(encoder.facts.num_layers):
        probs, context = attention_from_qkv(
            result.queries[layer],
            result.keys[layer],
            result.values[layer],
            result.score_bias(layer),
            encoder.facts.score_factor,
        )
        np.testing.assert_allclose(probs, result.attentions[layer], atol=1e-4)
        np.testing.assert_allclose(context, result.attn_context[layer], atol=1e-4)
        dense = encoder.layers[0 if encoder.facts.shared_layers else layer]
        out_proj = dense.get_submodule(encoder.family.paths.attn_out)
        with torch.inference_mode():
            projected = out_proj(torch.from_numpy(context.astype(np.float32))).numpy()
        np.testing.assert_allclose(projected, result.attn_outputs[layer], atol=1e-4)


def test_bundled_recompute_and_residuals(bundled):
    result = trace(bundled, SENTENCE)
    for layer in range(6):
        probs, context = attention_from_qkv(
            result.queries[layer], result.keys[layer], result.values[layer]
        )
        np.testing.assert_allclose(context, result.attn_context[layer], atol=1e-4)
    # the feed-forward activation is GELU of the first FFN projection: never all zero, F wide
    assert result.ffn_activations.shape == (6, result.num_tokens, 1536)
    assert np.abs(result.ffn_outputs).max() > 0


def test_albert_layers_told_apart(tiny_encoders):
    encoder = tiny_encoders["albert"]
    assert encoder.facts.shared_layers and len(encoder.layers) == 1
    result = trace(encoder, SENTENCE)
    assert result.attentions.shape[0] == 3
    assert not np.allclose(result.hidden_states[1], result.hidden_states[2])


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_no_hook_left_after_forward_raises(tiny_encoders):
    encoder = tiny_encoders["bert"]
    before = hook_count(encoder.model)
    with pytest.raises(RuntimeError, match="boom"):
        with capture(encoder):
            assert hook_count(encoder.model) > before
            raise RuntimeError("boom")
    assert hook_count(encoder.model) == before
    assert not encoder.lock.locked()


def test_no_hook_left_after_hook_raises(tiny_encoders):
    encoder = tiny_encoders["bert"]
    before = hook_count(encoder.model)

    def bad_hook(module, args, output):
        raise ValueError("hook failed")

    # a foreign hook that raises mid-forward, while ours are registered
    handle = encoder.layers[1].register_forward_hook(bad_hook)
    try:
        with pytest.raises(ValueError, match="hook failed"):
            trace(encoder, SENTENCE)
    finally:
        handle.remove()
    assert hook_count(encoder.model) == before
    trace(encoder, SENTENCE)  # and it still works afterwards


def test_threads_give_serial_results(bundled):
    texts = [
        f"Sentence number {i} talks about {'rivers' if i % 2 else 'money'} and banks"
        + " and more" * (i % 7)
        for i in range(50)
    ]
    serial = {t: trace(bundled, t) for t in texts}
    results: dict[tuple[int, str], object] = {}
    errors: list[BaseException] = []

    def worker(worker_id: int) -> None:
        try:
            for t in texts[worker_id % 5 :] + texts[: worker_id % 5]:
                results[(worker_id, t)] = trace(bundled, t)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 8 * 50
    for (_, text), got in results.items():
        want = serial[text]
        assert got.tokens == want.tokens
        np.testing.assert_array_equal(got.hidden_states, want.hidden_states)
        np.testing.assert_array_equal(got.attentions, want.attentions)
        np.testing.assert_array_equal(got.ffn_activations, want.ffn_activations)


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_only_some_arrays_equal_the_full_trace(tiny_encoders, model_type):
    """``only``: every array asked for equals the full trace's, bit for bit, the rest are None,
    and hooks for what is left out are never registered."""
    encoder = tiny_encoders[model_type]
    full = trace(encoder, SENTENCE)
    seen = []
    layers = list({id(layer): layer for layer in encoder.layers}.values())  # ALBERT: one
    uses = len(encoder.layers) // len(layers)  # each use of a shared layer has its hooks
    before = max(sum(map(len, hooks_on(layer))) for layer in layers)  # transformers' own
    for layer in layers:  # count the forward hooks on the layers while they run
        layer.register_forward_pre_hook(lambda m, a: seen.append(sum(map(len, hooks_on(m)))))
    try:
        for only in (["hidden_states"], ["attentions", "values"], ["ffn_outputs", "attn_context"]):
            seen.clear()
            part = trace(encoder, SENTENCE, only=only)
            assert part.captured == tuple(n for n in ARRAYS.values() if n in only)
            for name in ARRAYS.values():
                if name in only:
                    np.testing.assert_array_equal(getattr(part, name), getattr(full, name))
                else:
                    assert getattr(part, name) is None, name
            assert max(seen) == before + len(only) * uses, only  # one hook per array, not seven
    finally:
        for layer in layers:
            layer._forward_pre_hooks.clear()
    with pytest.raises(ValueError, match="choose from hidden_states, attentions"):
        trace(encoder, SENTENCE, only=["hidden"])


def hooks_on(layer):
    """The forward-hook dicts of a layer and every module inside it."""
    return [m._forward_hooks for m in layer.modules()]


def test_trace_is_immutable_and_round_trips(tmp_path, bundled):
    from viz.trace import Trace

    result = trace(bundled, SENTENCE, PAIR)
    with pytest.raises(ValueError):
        result.hidden_states[0, 0, 0] = 1.0
    path = tmp_path / "t.npz"
    result.save_npz(path)
    loaded = Trace.load_npz(path)
    assert loaded.tokens == result.tokens and loaded.pair == PAIR
    np.testing.assert_array_equal(loaded.attentions, result.attentions)
    import pickle

    assert pickle.loads(pickle.dumps(result)).tokens == result.tokens
    part = trace(bundled, SENTENCE, only=["attentions"])
    part.save_npz(path)
    loaded = Trace.load_npz(path)
    assert loaded.captured == ("attentions",) and loaded.hidden_states is None
    np.testing.assert_array_equal(loaded.attentions, part.attentions)
