"""Attribution and context mixing, checked against their definitions: Integrated Gradients'
completeness, gradient x input and Value Zeroing against direct reimplementations, ALTI and
GlobEnc recomputed from their papers' formulas, rows that sum to 1 where the paper says so, and
the CLI for every method on the bundled model and a tiny model of every family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from tests.drivers import ALL_TINY_CONFIGS, TINY_CONFIGS
from viz import cli
from viz.attribution import METHODS
from viz.attribution.agreement import row_spearman
from viz.attribution.gradients import attribute_gradient
from viz.attribution.mixing import MIXING_METHODS, mixing
from viz.attribution.targets import Target, parse_target
from viz.capture import trace
from viz.errors import UserError
from viz.extract import sentence_embeddings
from viz.models import Encoder

TEXT = "The bank by the river flooded."
PAIR = "Water covered the shore."


@pytest.fixture(scope="module")
def tiny_bert(tiny_encoders) -> Encoder:
    return tiny_encoders["bert"]


# ---------------------------------------------------------------- targets
def test_targets_parse_and_refuse():
    assert parse_target("similarity") == Target("similarity")
    assert parse_target("mlm:3") == Target("mlm", position=3)
    assert parse_target("token:2:5") == Target("token", layer=2, position=5)
    for bad in ("", "mlm", "token:1", "token:a:2", "cosine"):
        with pytest.raises(UserError) as err:
            parse_target(bad)
        assert err.value.code == "attr_target_unknown"


def test_similarity_needs_a_pair_and_positions_are_checked(tiny_bert, bundled):
    with pytest.raises(UserError) as err:
        attribute_gradient(bundled, TEXT, None, "grad_input", parse_target("similarity"))
    assert err.value.code == "attr_similarity_pair"
    with pytest.raises(UserError) as err:
        attribute_gradient(tiny_bert, TEXT, None, "grad_input", parse_target("token:9:1"))
    assert err.value.code == "attr_layer"
    with pytest.raises(UserError) as err:
        attribute_gradient(tiny_bert, TEXT, None, "grad_input", parse_target("token:1:99"))
    assert err.value.code == "attr_position"
    with pytest.raises(UserError) as err:
        attribute_gradient(bundled, TEXT, None, "grad_input", parse_target("mlm:2"))
    assert err.value.code == "no_mlm_head"


def test_the_similarity_target_is_the_sentence_embeddings_cosine(bundled):
    r = attribute_gradient(bundled, TEXT, PAIR, "grad_input", parse_target("similarity"))
    a, b = sentence_embeddings(bundled, [TEXT, PAIR], layers=[bundled.facts.num_layers])[:, 0]
    assert r.value == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-5)
    # the sentence's tokens, then the pair's, each with its own special tokens
    assert r.tokens[0] == "[CLS]" and r.tokens.count("[CLS]") == 2
    assert r.scores.shape == (len(r.tokens),)


# ---------------------------------------------------------------- gradient methods
def test_integrated_gradients_is_complete_at_64_steps(bundled, tiny_bert):
    """Σ attributions = f(input) - f(baseline), within 1%, for the similarity of a pair on the
    bundled model and for a token's vector on a tiny BERT."""
    cases = [
        (bundled, TEXT, PAIR, parse_target("similarity")),
        (tiny_bert, TEXT, None, parse_target("token:2:3")),
    ]
    for encoder, text, pair, target in cases:
        r = attribute_gradient(encoder, text, pair, "integrated_gradients", target, steps=64)
        change = r.value - r.baseline_value
        assert abs(change) > 1e-3
        assert abs(r.scores.sum() - change) <= 0.01 * abs(change)
        # the baseline keeps the special tokens: their embeddings do not move, no attribution
        assert np.all(r.scores[r.special] == 0)


def _direct_grad_input(encoder: Encoder, text: str, layer: int, position: int) -> np.ndarray:
    """Gradient x input by hand: embeddings as a leaf tensor, torch.autograd.grad."""
    ids = torch.tensor([encoder.tokenizer(text)["input_ids"]])
    module = encoder.base.get_input_embeddings()
    emb = module(ids).detach().requires_grad_(True)
    handle = module.register_forward_hook(lambda m, i, o: emb)
    try:
        out = encoder.base(input_ids=ids, output_hidden_states=True)
    finally:
        handle.remove()
    vec = out.hidden_states[layer][0, position]
    f = vec @ (vec / vec.norm()).detach()
    (grad,) = torch.autograd.grad(f, emb)
    return (grad * emb)[0].sum(-1).detach().double().numpy()


def test_grad_input_equals_autograd(tiny_bert):
    r = attribute_gradient(tiny_bert, TEXT, None, "grad_input", parse_target("token:1:2"))
    np.testing.assert_allclose(r.scores, _direct_grad_input(tiny_bert, TEXT, 1, 2), atol=1e-6)


def test_attn_grad_rows_are_rollouts_of_gradient_weighted_attention(tiny_bert):
    r = attribute_gradient(tiny_bert, TEXT, None, "attn_grad", parse_target("token:2:3"))
    # R = I + ... with non-negative terms: every score is >= 0 and the token's own >= 1
    assert np.all(r.scores >= 0) and r.scores[3] >= 1
    none = attribute_gradient(tiny_bert, TEXT, None, "attn_grad", parse_target("token:0:3"))
    np.testing.assert_array_equal(none.scores, np.eye(len(none.tokens))[3])


def test_mlm_target_masks_the_position(tiny_mlm_folder):
    from viz.models import load_encoder

    encoder = load_encoder(tiny_mlm_folder)
    r = attribute_gradient(encoder, TEXT, None, "integrated_gradients", parse_target("mlm:2"))
    assert r.tokens[2] != "[MASK]"  # the tokens are the text's; the model read a mask there
    assert r.scores[2] == 0  # kept in the baseline too
    assert abs(r.scores.sum() - (r.value - r.baseline_value)) <= 0.01 * abs(
        r.value - r.baseline_value
    )


# ---------------------------------------------------------------- context mixing
def _layer_parts(encoder: Encoder, text: str, layer: int):
    """From the model's own modules (not the trace): LN1's input, LN2's input, the values, the
    attention probabilities and the layer input, for a BERT layer."""
    seen = {}
    mod = encoder.base.encoder.layer[layer]
    hooks = [
        mod.attention.output.LayerNorm.register_forward_hook(
            lambda m, i, o: seen.update(s=i[0][0].double())
        ),
        mod.output.LayerNorm.register_forward_hook(lambda m, i, o: seen.update(r=i[0][0].double())),
        mod.attention.self.value.register_forward_hook(
            lambda m, i, o: seen.update(v=o[0].double())
        ),
    ]
    ids = torch.tensor([encoder.tokenizer(text)["input_ids"]])
    try:
        with torch.no_grad():
            out = encoder.base(input_ids=ids, output_hidden_states=True, output_attentions=True)
    finally:
        for h in hooks:
            h.remove()
    x = out.hidden_states[layer][0].double()
    probs = out.attentions[layer][0].double()
    return mod, x, probs, seen


@torch.no_grad()
def _transformed_vectors(encoder: Encoder, text: str, layer: int):
    """T_i(x_j), token by token: LN1(Σ_j …) split as in Kobayashi et al. 2021 / ALTI eq. 5."""
    mod, x, probs, seen = _layer_parts(encoder, text, layer)
    H = encoder.facts.num_heads
    T, D = x.shape
    dk = D // H
    W_o = mod.attention.output.dense.weight.double()
    b_o = mod.attention.output.dense.bias.double()
    ln1 = mod.attention.output.LayerNorm
    g1 = ln1.weight.double()
    s = seen["s"]
    sigma = torch.sqrt(s.var(-1, unbiased=False) + ln1.eps)
    tv = torch.zeros(T, T, D, dtype=torch.float64)
    for i in range(T):
        for j in range(T):
            part = sum(
                probs[h, i, j]
                * (W_o[:, h * dk : (h + 1) * dk] @ seen["v"][j, h * dk : (h + 1) * dk])
                for h in range(H)
            )
            if i == j:
                part = part + x[j]
            tv[i, j] = g1 * (part - part.mean()) / sigma[i]
    # the decomposition is exact: the parts, the bias's share and β give LN1's output
    whole = tv.sum(1) + g1 * (b_o - b_o.mean()) / sigma[:, None]
    torch.testing.assert_close(
        whole + ln1.bias.double(), ln1(s.float()).double(), atol=1e-4, rtol=0
    )
    return mod, tv, whole, seen


def test_alti_matches_its_formula(tiny_bert):
    t = trace(tiny_bert, TEXT)
    got = mixing(tiny_bert, t, "alti")
    for layer in range(tiny_bert.facts.num_layers):
        _, tv, whole, _ = _transformed_vectors(tiny_bert, TEXT, layer)
        # Ferrando et al. 2022, eq. 8-9: c_ij = max(0, ‖y_i‖₁ - ‖y_i - T_i(x_j)‖₁), normalised
        size = whole.abs().sum(-1)
        c = (size[:, None] - (whole[:, None] - tv).abs().sum(-1)).clamp(min=0)
        c = c / c.sum(-1, keepdim=True)
        np.testing.assert_allclose(got.scores[layer], c.numpy(), atol=1e-5)
    expected = got.scores[1] @ got.scores[0]
    np.testing.assert_allclose(got.rollout[1], expected, atol=1e-10)


def test_globenc_matches_its_formula(tiny_bert):
    t = trace(tiny_bert, TEXT)
    got = mixing(tiny_bert, t, "globenc")
    for layer in range(tiny_bert.facts.num_layers):
        mod, tv, _, seen = _transformed_vectors(tiny_bert, TEXT, layer)
        ln2 = mod.output.LayerNorm
        sigma2 = torch.sqrt(seen["r"].var(-1, unbiased=False) + ln2.eps)
        # Modarressi et al. 2022: T_i(x_j) through LN2 too (the FFN left out), ‖·‖, normalised
        n = (
            ln2.weight.detach().double() * (tv - tv.mean(-1, keepdim=True)) / sigma2[:, None, None]
        ).norm(dim=-1)
        n = n / n.sum(-1, keepdim=True)
        np.testing.assert_allclose(got.scores[layer], n.numpy(), atol=1e-5)


def test_norm_residual_matches_its_formula(tiny_bert):
    t = trace(tiny_bert, TEXT)
    got = mixing(tiny_bert, t, "norm_residual")
    _, tv, _, _ = _transformed_vectors(tiny_bert, TEXT, 1)
    np.testing.assert_allclose(got.scores[1], tv.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-6)
    assert got.rollout is None  # Kobayashi et al. read the layer, not a rollout


def _direct_value_zeroing(encoder: Encoder, text: str, layer: int) -> np.ndarray:
    """Zero token j's value vectors in every head of ``layer`` (row j of a batch of T copies),
    run the whole model, 1 - cosine with the unchanged layer output, rows normalised."""
    ids = torch.tensor([encoder.tokenizer(text)["input_ids"]])
    T = ids.shape[1]
    shared = encoder.facts.shared_layers  # ALBERT: one module, called once per layer
    value = encoder.layer_points[0 if shared else layer]["value"]
    calls = []

    def zero(module, inputs, output):
        calls.append(1)
        if len(calls) != (layer + 1 if shared else 1):
            return output
        output = output.clone()
        output[torch.arange(T), torch.arange(T)] = 0.0
        return output

    with torch.no_grad():
        plain = encoder.base(input_ids=ids, output_hidden_states=True).hidden_states[layer + 1][0]
        handle = value.register_forward_hook(zero)
        try:
            out = encoder.base(input_ids=ids.expand(T, -1), output_hidden_states=True)
        finally:
            handle.remove()
    changed = out.hidden_states[layer + 1]  # [T (j), T (i), D]
    cos = torch.nn.functional.cosine_similarity(
        changed.double(), plain[None].double(), dim=-1
    )  # [j, i]
    c = (1 - cos).T.clamp(min=0)
    return (c / c.sum(-1, keepdim=True)).numpy()


@pytest.mark.parametrize("family", ["bert", "distilbert", "albert"])
def test_value_zeroing_equals_a_direct_reimplementation(tiny_encoders, family):
    encoder = tiny_encoders[family]
    t = trace(encoder, TEXT)
    got = mixing(encoder, t, "value_zeroing")
    for layer in range(encoder.facts.num_layers):
        np.testing.assert_allclose(
            got.scores[layer], _direct_value_zeroing(encoder, TEXT, layer), atol=2e-3
        )


@pytest.mark.parametrize("family", sorted(TINY_CONFIGS))
def test_mixing_rows_are_non_negative_and_sum_to_one(tiny_encoders, family):
    encoder = tiny_encoders[family]
    t = trace(encoder, TEXT, PAIR)
    for method in MIXING_METHODS:
        r = mixing(encoder, t, method)
        assert r.scores.shape == (encoder.facts.num_layers, t.num_tokens, t.num_tokens)
        assert np.all(r.scores >= 0), method
        if method != "norm_residual":  # Kobayashi et al. report raw norms
            np.testing.assert_allclose(r.scores.sum(-1), 1.0, atol=1e-9)
            np.testing.assert_allclose(r.rollout.sum(-1), 1.0, atol=1e-9)


def test_pre_norm_families_are_refused_with_a_reason(tokenizer):
    torch.manual_seed(0)
    config = ALL_TINY_CONFIGS["roberta-prelayernorm"]()
    model = AutoModel.from_config(config, attn_implementation="eager").eval()
    encoder = Encoder.from_model(model, tokenizer, name="tiny-prenorm")
    t = trace(encoder, TEXT)
    with pytest.raises(UserError) as err:
        mixing(encoder, t, "alti")
    assert err.value.code == "attr_not_defined" and "pre_norm" in str(err.value)


def test_row_spearman():
    a = np.array([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]])
    np.testing.assert_allclose(row_spearman(a, a), [1.0])
    b = a[..., ::-1]
    np.testing.assert_allclose(row_spearman(a, b), [-1.0])
    assert np.isnan(row_spearman(np.ones((1, 2, 3)), a)[0])


# ---------------------------------------------------------------- the CLI
def _run_cli(tmp_path, model: str, method: str, *extra: str) -> tuple[int, dict]:
    out = tmp_path / f"{method}.npz"
    code = cli.main(
        [
            "attribute",
            "--text",
            TEXT,
            "--model",
            model,
            "--method",
            method,
            "--out",
            str(out),
            *extra,
        ]
    )
    if code:
        return code, {}
    with np.load(out, allow_pickle=False) as data:
        return code, {k: data[k] for k in data.files}


@pytest.mark.parametrize("method", list(METHODS))
def test_cli_every_method_on_the_bundled_model(tmp_path, method):
    code, data = _run_cli(tmp_path, "all-MiniLM-L6-v2", method, "--pair", PAIR)
    assert code == 0
    T = len(data["tokens"])
    if METHODS[method].kind == "gradient":
        assert data["scores"].shape == (T,)
        assert data["target"].shape == () and data["baseline_target"].shape == ()
        if method == "integrated_gradients":
            change = float(data["target"] - data["baseline_target"])
            assert abs(data["scores"].sum() - change) <= 0.01 * abs(change)
    else:
        assert data["scores"].shape == (6, T, T)


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory, tokenizer) -> dict[str, str]:
    folders = {}
    for family, make in ALL_TINY_CONFIGS.items():
        folder = tmp_path_factory.mktemp(f"tiny-{family}")
        torch.manual_seed(0)
        AutoModel.from_config(make()).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[family] = str(folder)
    return folders


@pytest.mark.parametrize("family", sorted(ALL_TINY_CONFIGS))
def test_cli_every_method_on_every_tiny_family(tmp_path, tiny_folders, family, capsys):
    for method, m in METHODS.items():
        if m.kind == "gradient":
            code, data = _run_cli(
                tmp_path, tiny_folders[family], method, "--target", "token:1:2", "--steps", "16"
            )
            assert code == 0, (method, capsys.readouterr().err)
            assert data["scores"].shape == (len(data["tokens"]),)
            assert np.isfinite(data["scores"]).all()
        else:
            code, data = _run_cli(tmp_path, tiny_folders[family], method, "--pair", PAIR)
            if family in TINY_CONFIGS:
                assert code == 0, (method, capsys.readouterr().err)
                assert data["scores"].ndim == 3
            else:
                assert code == 2
                assert "not defined for" in capsys.readouterr().err


def test_cli_help_names_every_paper(capsys):
    with pytest.raises(SystemExit):
        cli.main(["attribute", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for who in (
        "Sundararajan",
        "Shrikumar",
        "Chefer",
        "Kobayashi",
        "Modarressi",
        "Ferrando",
        "Mohebbi",
    ):
        assert who in text
