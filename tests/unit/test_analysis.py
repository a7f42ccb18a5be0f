"""Pure analyses, each checked on a case small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from viz.analysis import attention as attn
from viz.analysis import heads, layers
from viz.analysis.projection import project, project_layers

RNG = np.random.default_rng(0)


def random_attention(*shape: int) -> np.ndarray:
    x = RNG.random(shape)
    return x / x.sum(-1, keepdims=True)


def test_merge_words_by_hand():
    # tokens: [CLS] play ##ing [SEP] -> words [CLS] playing [SEP]
    A = np.array(
        [[0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 0.0], [0.2, 0.2, 0.2, 0.4], [1.0, 0.0, 0.0, 0.0]]
    )
    merged = attn.merge_words(A, [[0], [1, 2], [3]])
    expected = np.array(
        [
            [0.1, 0.5, 0.4],
            [0.1, 0.7, 0.2],  # mean of rows 1, 2 after summing columns 1+2
            [1.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(merged, expected)
    np.testing.assert_allclose(merged.sum(-1), 1.0)


def test_prepare_hides_special_and_keeps_positions():
    A = random_attention(5, 5)
    special = np.array([True, False, False, False, True])
    word_ids = np.array([-1, 0, 0, 1, -1])
    out, labels, positions = attn.prepare(
        A,
        ["[CLS]", "a", "##b", "c", "[SEP]"],
        special,
        word_ids,
        hide_special=True,
        merge_subwords=True,
    )
    assert labels == ["ab", "c"] and positions.tolist() == [1, 3]
    assert out.shape == (2, 2)


def test_downsample_preserves_mean():
    A = random_attention(2, 100, 100)
    small = attn.downsample(A, 10)
    assert small.shape == (2, 10, 10)
    np.testing.assert_allclose(small.mean(), A.mean())
    assert attn.downsample(A, 200) is A


def test_rollout_by_hand():
    # one head, two tokens. Layer 1: everyone looks at token 0. Layer 2: identity.
    A1 = np.array([[1.0, 0.0], [1.0, 0.0]])
    A2 = np.eye(2)
    raw = np.stack([A1, A2])[:, None]  # [L=2, H=1, T, T]
    no_res = attn.rollout(raw, residual=False)
    np.testing.assert_allclose(no_res[0], A1)
    np.testing.assert_allclose(no_res[1], A2 @ A1)
    # with the residual: (A + I) / 2 per layer, rows renormalised
    r1 = np.array([[1.0, 0.0], [0.5, 0.5]])
    r2 = np.eye(2)
    with_res = attn.rollout(raw, residual=True)
    np.testing.assert_allclose(with_res[1], r2 @ r1)


def test_norm_based_by_hand():
    # one head, dk = 1, D = 1: f(x_j) = v_j * w, so the weight is alpha_ij * |v_j * w|
    alpha = np.array([[[0.5, 0.5], [0.25, 0.75]]])  # [H=1, T=2, T=2]
    values = np.array([[[2.0], [-4.0]]])  # [H=1, T=2, dk=1]
    w = np.array([[3.0]])  # [D=1, H*dk=1]
    out = attn.norm_based(alpha, values, w)
    np.testing.assert_allclose(out[0], [[0.5 * 6, 0.5 * 12], [0.25 * 6, 0.75 * 12]])


def test_cka_properties():
    x = RNG.normal(size=(20, 8))
    q, _ = np.linalg.qr(RNG.normal(size=(8, 8)))
    assert layers.linear_cka(x, x) == pytest.approx(1.0)
    assert layers.linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0)  # rotation and scale
    assert layers.linear_cka(x, RNG.normal(size=(20, 8))) < 0.9
    hidden = RNG.normal(size=(3, 10, 4))
    m = layers.cka_matrix(hidden)
    np.testing.assert_allclose(np.diag(m), 1.0)
    np.testing.assert_allclose(m, m.T)
    for i in range(3):  # the Gram-matrix shortcut gives the pairwise definition's values
        for j in range(3):
            want = 1.0 if i == j else layers.linear_cka(hidden[i], hidden[j])
            assert m[i, j] == pytest.approx(want, abs=1e-12)


def test_cosine_change_norms_contributions():
    h = RNG.normal(size=(3, 5, 4))
    h[2] = 2.0 * h[1]  # layer 2 only rescales layer 1
    cos = layers.cosine_matrix(h)
    assert cos[1, 2] == pytest.approx(1.0)
    change = layers.token_change(h)
    np.testing.assert_allclose(change[1], 0.0, atol=1e-12)
    np.testing.assert_allclose(layers.norms(h)[2], 2 * layers.norms(h)[1])
    attn_out = np.zeros((2, 5, 4))
    ffn_out = h[:2].copy()  # the feed-forward adds exactly the input's norm
    contrib = layers.contributions(h, attn_out, ffn_out)
    np.testing.assert_allclose(contrib, [[0.0, 1.0], [0.0, 1.0]])


def test_head_statistics_by_hand():
    T = 5
    prev = np.zeros((T, T))
    prev[0, 0] = 1.0
    for i in range(1, T):
        prev[i, i - 1] = 1.0  # every token looks at the previous one
    uniform = np.full((T, T), 1.0 / T)
    A = np.stack([prev, uniform])[None]  # [L=1, H=2, T, T]
    tokens = ("[CLS]", "hi", ",", "there", "[SEP]")
    special = np.array([True, False, False, False, True])
    stats = heads.head_statistics(A, tokens, special, np.array([0]), np.array([4]))
    assert stats["to_prev"][0] == pytest.approx((T - 1) / T)
    assert stats["entropy"][0] == pytest.approx(0.0, abs=1e-9)
    assert stats["entropy"][1] == pytest.approx(np.log2(T))
    assert stats["distance"][0] == pytest.approx((T - 1) / T)
    assert stats["to_self"][0] == pytest.approx(1 / T)
    assert stats["to_cls"][1] == pytest.approx(1 / T)
    assert stats["to_punct"][1] == pytest.approx(1 / T)
    assert stats["to_next"][1] == pytest.approx((T - 1) / T / T)


def test_js_distance_identical_and_disjoint():
    T = 4
    a = np.tile(np.eye(T)[0], (T, 1))  # all to token 0
    b = np.tile(np.eye(T)[1], (T, 1))  # all to token 1
    A = np.stack([a, a, b])[None]  # [1, 3, T, T]
    d = heads.js_distance_matrix(A)
    assert d[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert d[0, 2] == pytest.approx(1.0, abs=1e-6)
    order = heads.cluster_order(d)
    assert sorted(order.tolist()) == [0, 1, 2]


def test_projection_is_deterministic_and_clamped():
    x = RNG.normal(size=(12, 6))
    p1, p2 = project(x, "PCA"), project(x, "PCA")
    np.testing.assert_array_equal(p1.coords, p2.coords)
    assert p1.explained is not None and 0 < sum(p1.explained) <= 1
    t1, t2 = project(x, "t-SNE", seed=3), project(x, "t-SNE", seed=3)
    np.testing.assert_allclose(t1.coords, t2.coords)
    assert "perplexity 3.66667" in t1.params  # clamped to (n - 1) / 3
    joint = project_layers(RNG.normal(size=(3, 7, 6)), [0, 2])
    assert joint.coords.shape == (14, 2)
    with pytest.raises(ValueError):
        project(x, "nope")


def test_head_importance_by_hand():
    """Switching off head (1, 2) turns token 0's last-layer vector by 90 degrees and leaves
    token 1 alone: 1 - cos is 1 and 0, so its importance is the mean, 0.5. Every other head
    changes nothing."""
    original = np.array([[1.0, 0.0], [0.0, 1.0]])
    turned = np.array([[0.0, 1.0], [0.0, 1.0]])
    seen = []

    def run(layer):  # [H, T, D]: row h has head h of this layer off
        seen.append(layer)
        rows = [original] * 3
        if layer == 1:
            rows[2] = turned
        return np.stack(rows)

    calls = []
    values = layers.head_importance(original, run, 2, 3, lambda i, n: calls.append((i, n)))
    expected = np.zeros((2, 3))
    expected[1, 2] = 0.5
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert seen == [0, 1]
    assert calls == [(3, 6), (6, 6)]
