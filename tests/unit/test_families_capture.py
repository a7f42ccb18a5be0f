"""Capture of the newer families (``NEWER_TINY_CONFIGS``):
parity with Hugging Face's own outputs, attention recomputed from the captured Q/K/V, the
attention interface's recorder (per capture, per thread, nothing left behind), ``only``."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel

from tests.drivers import NEWER_TINY_CONFIGS
from viz.capture import capture, trace, uses_segments
from viz.capture.attention import _RECORDER, IMPLEMENTATION
from viz.models import Encoder
from viz.trace import Trace

SENTENCE = "The bank by the river flooded, so the bank closed early."
PAIR = "Where did the water go?"
FAMILIES = sorted(NEWER_TINY_CONFIGS)
HOOKED = ("megatron-bert", "roformer")  # their attention does not use the interface
ARRAYS = (
    "hidden_states",
    "attentions",
    "queries",
    "keys",
    "values",
    "attn_context",
    "attn_outputs",
    "ffn_activations",
    "ffn_outputs",
)


def tiny_model(model_type: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config = NEWER_TINY_CONFIGS[model_type]()
    return AutoModel.from_config(config, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def encoders(tokenizer) -> dict[str, Encoder]:
    return {t: Encoder.from_model(tiny_model(t), tokenizer, name=f"tiny-{t}") for t in FAMILIES}


def inputs_of(encoder: Encoder, t: Trace) -> dict[str, torch.Tensor]:
    inputs = {"input_ids": torch.tensor([t.token_ids.tolist()])}
    if uses_segments(encoder):
        inputs["token_type_ids"] = torch.tensor([t.segment_ids.tolist()])
    return inputs


def reference(encoder: Encoder, t: Trace) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        out = encoder.base(
            **inputs_of(encoder, t), output_hidden_states=True, output_attentions=True
        )
    return (
        np.stack([h[0].numpy() for h in out.hidden_states]),
        np.stack([a[0].numpy() for a in out.attentions]),
    )


@pytest.mark.parametrize("model_type", FAMILIES)
def test_parity_with_huggingface(encoders, model_type):
    encoder = encoders[model_type]
    t = trace(encoder, SENTENCE, PAIR)
    hidden, attentions = reference(encoder, t)
    assert t.captured == ARRAYS  # every array of the table, for every family here
    assert t.hidden_states.shape == hidden.shape == (encoder.facts.num_layers + 1, t.num_tokens, 32)
    np.testing.assert_allclose(t.hidden_states, hidden, atol=1e-5, rtol=0)
    np.testing.assert_allclose(t.attentions, attentions, atol=1e-5, rtol=0)
    np.testing.assert_allclose(t.attentions.sum(-1), 1.0, atol=1e-5)
    assert encoder.model.config._attn_implementation == "eager"  # as it was before the capture


def window_mask(model: torch.nn.Module, layer: int, T: int) -> np.ndarray:
    """0 where layer ``layer`` of a ModernBERT may attend, -inf elsewhere."""
    config = model.config
    if config.layer_types[layer] != "sliding_attention":
        return np.zeros((T, T), dtype=np.float32)
    distance = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    return np.where(distance <= config.local_attention // 2, 0.0, -np.inf).astype(np.float32)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_attention_recomputed_from_the_captured_qkv(encoders, model_type):
    """softmax(q·kᵀ/√dk) of the captured Q and K is the captured attention (Q and K after the
    rotation for rotary families; ModernBERT's local layers see only their window), and the
    probabilities times V are the concatenated heads; the output projection of those is what
    attention adds."""
    encoder = encoders[model_type]
    t = trace(encoder, SENTENCE)
    T, dk = t.num_tokens, encoder.facts.head_dim
    windowed = 0
    for layer in range(encoder.facts.num_layers):
        q, k, v = t.queries[layer], t.keys[layer], t.values[layer]  # [H, T, dk]
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(dk)
        if model_type == "modernbert":
            mask = window_mask(encoder.model, layer, T)
            windowed += np.isinf(mask).any()
            scores = scores + mask
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        np.testing.assert_allclose(probs, t.attentions[layer], atol=1e-5)
        context = (probs @ v).transpose(1, 0, 2).reshape(T, -1)
        np.testing.assert_allclose(context, t.attn_context[layer], atol=1e-5)
        out_proj = encoder.layer_points[layer]["attn_out"]
        with torch.inference_mode():
            projected = out_proj(torch.from_numpy(context.astype(np.float32))).numpy()
        np.testing.assert_allclose(projected, t.attn_outputs[layer], atol=1e-5)
    if model_type == "modernbert":
        assert windowed == 1  # the middle layer is local; its probabilities are 0 outside
        assert (t.attentions[1][:, 0, 3:] == 0).all()


@pytest.mark.parametrize("model_type", [m for m in FAMILIES if m not in HOOKED])
def test_the_interface_records_the_scaling_the_model_uses(encoders, model_type):
    encoder = encoders[model_type]
    assert encoder.family.interface
    t = trace(encoder, SENTENCE, only=["hidden_states"])
    inputs = inputs_of(encoder, t)
    with torch.inference_mode(), capture(encoder, kinds=("probs",)) as store:
        encoder.base(**inputs)
    assert store.extra["scaling"] == [encoder.facts.head_dim**-0.5] * encoder.facts.num_layers


def test_grouped_keys_and_values_repeat_per_query_head(encoders):
    """EuroBERT's tiny config has 2 key/value heads for 4 query heads: heads 0-1 share one."""
    t = trace(encoders["eurobert"], SENTENCE)
    np.testing.assert_array_equal(t.keys[:, 0], t.keys[:, 1])
    np.testing.assert_array_equal(t.values[:, 2], t.values[:, 3])
    assert not np.allclose(t.keys[:, 1], t.keys[:, 2])


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("model_type", FAMILIES)
def test_nothing_left_behind(encoders, model_type):
    """No hook, no recorder, the model's own attention implementation: after a trace, and
    after a capture whose forward raises."""
    encoder = encoders[model_type]
    before = hook_count(encoder.model)
    trace(encoder, SENTENCE, ablate=frozenset({(0, 1)}))
    assert hook_count(encoder.model) == before and _RECORDER.get() is None
    with pytest.raises(RuntimeError, match="boom"):
        with capture(encoder, ablate=frozenset({(1, 0)})):
            assert _RECORDER.get() is not None or not encoder.family.interface
            if encoder.family.interface:
                assert encoder.model.config._attn_implementation == IMPLEMENTATION
            raise RuntimeError("boom")
    assert hook_count(encoder.model) == before and not encoder.lock.locked()
    assert _RECORDER.get() is None and encoder.model.config._attn_implementation == "eager"


@pytest.mark.parametrize("model_type", ["modernbert", "gte", "eurobert", "megatron-bert"])
def test_another_threads_forward_is_neither_recorded_nor_ablated(encoders, model_type):
    """While one capture records with a head switched off, a plain forward of the same shared
    model in another thread (another session's, not capturing) passes through the same hooks
    and attention function: it must not land in this capture's store (it would fill the slots
    before this forward runs) nor lose the head."""
    encoder = encoders[model_type]
    ablate = frozenset({(0, 1)})
    serial = trace(encoder, SENTENCE, ablate=ablate)
    inputs = inputs_of(encoder, serial)
    with torch.inference_mode():
        plain = encoder.base(**inputs)[0][0].numpy()
    other = {}

    def plain_forward():
        with torch.inference_mode():
            other["out"] = encoder.base(**inputs)[0][0].numpy()

    with torch.inference_mode(), capture(encoder, ablate, serial.num_tokens) as store:
        thread = threading.Thread(target=plain_forward)
        thread.start()
        thread.join()
        assert not any(store.filled.values())
        encoder.base(**inputs)
    store.check_complete()
    np.testing.assert_array_equal(store.arrays["probs"], serial.attentions)
    np.testing.assert_array_equal(store.arrays["hidden"], serial.hidden_states)
    np.testing.assert_array_equal(other["out"], plain)
    assert not np.allclose(plain, serial.hidden_states[-1], atol=1e-4)  # the head mattered


def test_threads_capturing_at_once_give_serial_results(encoders):
    encoder = encoders["modernbert"]
    texts = [
        f"Sentence {i} is about {'rivers' if i % 2 else 'money'}" + " too" * i for i in range(8)
    ]
    serial = {text: trace(encoder, text) for text in texts}
    results, errors = {}, []

    def worker(n: int) -> None:
        try:
            for text in texts[n:] + texts[:n]:
                results[(n, text)] = trace(encoder, text)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 4 * len(texts)
    for (_, text), got in results.items():
        for name in ("hidden_states", "attentions", "queries", "ffn_activations"):
            np.testing.assert_array_equal(getattr(got, name), getattr(serial[text], name))


@pytest.mark.parametrize("model_type", FAMILIES)
def test_only_some_arrays_and_without_preallocation(encoders, model_type):
    """``only``: every array asked for equals the full trace's, the rest are None; a capture
    without a length (each array made at its first call) holds the same values."""
    encoder = encoders[model_type]
    full = trace(encoder, SENTENCE, PAIR)
    for only in (["hidden_states"], ["attentions", "values"], ["ffn_outputs", "keys"]):
        part = trace(encoder, SENTENCE, PAIR, only=only)
        assert part.captured == tuple(n for n in ARRAYS if n in only)
        for name in only:
            np.testing.assert_array_equal(getattr(part, name), getattr(full, name))
    kinds = ("hidden", "probs", "q", "k", "v", "ctx", "attn_out", "act", "ffn_out")
    with torch.inference_mode(), capture(encoder) as store:
        encoder.base(**inputs_of(encoder, full), **encoder.family.inputs)
    for kind, name in zip(kinds, ARRAYS):
        np.testing.assert_array_equal(store.arrays[kind], getattr(full, name), name)


def test_the_command_line_traces_a_tiny_modernbert(encoders, tmp_path):
    """``python -m viz trace`` on a ModernBERT folder: the arrays equal the library's own."""
    encoder = encoders["modernbert"]
    folder = tmp_path / "tiny-modernbert"
    encoder.model.save_pretrained(folder)
    encoder.tokenizer.save_pretrained(folder)
    out = tmp_path / "t.npz"
    done = subprocess.run(
        [sys.executable, "-m", "viz", "trace", "--model", str(folder), "--text", SENTENCE]
        + ["--out", str(out)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )
    assert done.returncode == 0, done.stderr
    t = Trace.load_npz(out)
    assert t.facts.model_type == "modernbert" and t.captured == ARRAYS
    hidden, attentions = reference(encoder, t)
    np.testing.assert_allclose(t.hidden_states, hidden, atol=1e-5, rtol=0)
    np.testing.assert_allclose(t.attentions, attentions, atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_the_command_line_traces_every_newer_family(encoders, model_type, tmp_path, monkeypatch):
    """``python -m viz trace`` (its main, in this process) on each family's saved folder: the
    arrays equal the library's own."""
    from viz.cli import main

    encoder = encoders[model_type]
    folder = tmp_path / f"tiny-{model_type}"
    encoder.model.save_pretrained(folder)
    encoder.tokenizer.save_pretrained(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "t.npz"
    assert main(["trace", "--model", str(folder), "--text", SENTENCE, "--out", str(out)]) == 0
    t = Trace.load_npz(out)
    assert t.facts.model_type == model_type and t.captured == ARRAYS
    hidden, attentions = reference(encoder, t)
    np.testing.assert_allclose(t.hidden_states, hidden, atol=1e-5, rtol=0)
    np.testing.assert_allclose(t.attentions, attentions, atol=1e-5, rtol=0)
