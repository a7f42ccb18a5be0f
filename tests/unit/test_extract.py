"""Embedding extraction: pooling, layer selection, batching order, the last-four recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from viz.capture import trace
from viz.extract import (
    concat_last_four,
    parse_layers,
    pool,
    sentence_embeddings,
    token_embeddings,
)

TEXTS = [
    "A short one.",
    "This sentence is quite a lot longer than the first one is.",
    "Mid size text.",
]


def test_parse_layers():
    assert parse_layers("all", 6) == [0, 1, 2, 3, 4, 5, 6]
    assert parse_layers("-1", 6) == [6]
    assert parse_layers("0,3,6", 6) == [0, 3, 6]
    assert parse_layers("last4", 6) == [3, 4, 5, 6]
    assert parse_layers("emb,L3,l6", 6) == [0, 3, 6]  # as viz.names spells them
    for bad in ("7", "x", "", "-8", "L7", "H3"):
        with pytest.raises(ValueError):
            parse_layers(bad, 6)


def test_pooling_masks_padding():
    hidden = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(1, 2, 3, 2)  # [K,B,T,D]
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    mean = pool(hidden, mask, "mean")
    np.testing.assert_allclose(mean[0, 0].numpy(), hidden[0, 0, :2].mean(0).numpy())
    np.testing.assert_allclose(mean[1, 0].numpy(), hidden[0, 1].mean(0).numpy())
    mx = pool(hidden, mask, "max")
    np.testing.assert_allclose(mx[0, 0].numpy(), hidden[0, 0, 1].numpy())  # padded row ignored
    np.testing.assert_allclose(pool(hidden, mask, "cls")[:, 0].numpy(), hidden[0, :, 0].numpy())


def test_batched_equals_one_by_one(bundled):
    batched = sentence_embeddings(bundled, TEXTS, pooling="mean", batch_size=2)
    assert batched.shape == (3, 7, 384) and batched.dtype == np.float32
    for i, text in enumerate(TEXTS):
        single = trace(bundled, text).hidden_states.mean(axis=1)  # [L+1, D], no padding
        np.testing.assert_allclose(batched[i], single, atol=1e-4)


def test_token_embeddings_match_trace(bundled):
    per_text = token_embeddings(bundled, TEXTS, layers=[0, 6], batch_size=3)
    for text, got in zip(TEXTS, per_text):
        want = trace(bundled, text).hidden_states[[0, 6]]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_concat_last_four(bundled):
    emb = sentence_embeddings(bundled, TEXTS, layers=parse_layers("all", 6))
    cat = concat_last_four(emb)
    assert cat.shape == (3, 4 * 384)
    np.testing.assert_array_equal(cat[:, :384], emb[:, 3])
