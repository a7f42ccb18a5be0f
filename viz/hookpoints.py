"""Per-architecture registry of hook points.

One row per architecture maps our canonical names to module paths inside the *base* encoder
(``model.base_model``). Adding an architecture means adding a row here, nothing else.

Canonical names captured for every layer ``i`` (shapes for one sentence, B = 1):

=====================  ===========================  ===========================================
name                   shape                        what it is
=====================  ===========================  ===========================================
``layer.{i}.in``       ``[T, D]``                   the layer's input (layer 0: the embeddings)
``layer.{i}.attn.q``   ``[H, T, dk]``               queries per head (before scaling)
``layer.{i}.attn.k``   ``[H, T, dk]``               keys per head
``layer.{i}.attn.v``   ``[H, T, dk]``               values per head
``layer.{i}.attn.probs`` ``[H, T, T]``              softmax attention probabilities
``layer.{i}.attn.ctx`` ``[T, D]``                   heads concatenated, before the output proj.
``layer.{i}.attn.out`` ``[T, D]``                   what attention adds to the residual stream
``layer.{i}.ffn.act``  ``[T, F]``                   feed-forward activation after nonlinearity
``layer.{i}.ffn.out``  ``[T, D]``                   what the feed-forward adds to the residual
``layer.{i}.out``      ``[T, D]``                   the layer's output hidden state
=====================  ===========================  ===========================================

Layers are told apart by call order, not by module identity, so ALBERT (one set of weights
run L times) is captured like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class HookPoints:
    """Module paths for one architecture. ``layers`` is relative to the base model and may use
    ``*`` for "every child"; every other path is relative to one layer module."""

    layers: str
    attn_probs: str  # module whose output[1] is the attention probabilities [B, H, T, T]
    query: str
    key: str
    value: str
    attn_out: str  # Linear: input = concatenated heads, output = attention's residual update
    attn_norm: str  # LayerNorm after the attention residual add
    ffn_in: str  # Linear D -> F
    ffn_out: str  # Linear F -> D: input = activation, output = feed-forward residual update
    ffn_norm: str  # LayerNorm after the feed-forward residual add
    activation_attr: str = "hidden_act"  # config attribute naming the FFN nonlinearity
    position_offset: int = 0  # positions the model reserves (RoBERTa: padding_idx + 1)
    probs_need_flag: bool = False  # old-style modules return probs only if output_attentions
    attn_bias: str | None = None  # module (on the base model) giving a relative-position bias
    # DeBERTa's disentangled attention: the Q and K projections run again on the relative-position
    # embeddings (only their first call in each attention, on the hidden states, is captured), and
    # each layer adds its own relative term to the scores (computed by the module's own method)
    disentangled: bool = False
    # modules on the *masked-LM model*, applied in order, mapping hidden states to vocab logits
    mlm_head: tuple[str, ...] = ()


_BERT_LIKE = dict(
    layers="encoder.layer.*",
    attn_probs="attention.self",
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    attn_out="attention.output.dense",
    attn_norm="attention.output.LayerNorm",
    ffn_in="intermediate.dense",
    ffn_out="output.dense",
    ffn_norm="output.LayerNorm",
)

REGISTRY: dict[str, HookPoints] = {
    "bert": HookPoints(**_BERT_LIKE, mlm_head=("cls",)),
    "roberta": HookPoints(**_BERT_LIKE, position_offset=2, mlm_head=("lm_head",)),
    "xlm-roberta": HookPoints(**_BERT_LIKE, position_offset=2, mlm_head=("lm_head",)),
    "electra": HookPoints(**_BERT_LIKE, mlm_head=("generator_predictions", "generator_lm_head")),
    "distilbert": HookPoints(
        layers="transformer.layer.*",
        attn_probs="attention",
        query="attention.q_lin",
        key="attention.k_lin",
        value="attention.v_lin",
        attn_out="attention.out_lin",
        attn_norm="sa_layer_norm",
        ffn_in="ffn.lin1",
        ffn_out="ffn.lin2",
        ffn_norm="output_layer_norm",
        activation_attr="activation",
        mlm_head=("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
    ),
    "albert": HookPoints(
        layers="encoder.albert_layer_groups.*.albert_layers.*",
        attn_probs="attention",
        query="attention.query",
        key="attention.key",
        value="attention.value",
        attn_out="attention.dense",
        attn_norm="attention.LayerNorm",
        ffn_in="ffn",
        ffn_out="ffn_output",
        ffn_norm="full_layer_layer_norm",
        mlm_head=("predictions",),
    ),
    "mpnet": HookPoints(
        layers="encoder.layer.*",
        attn_probs="attention.attn",
        query="attention.attn.q",
        key="attention.attn.k",
        value="attention.attn.v",
        attn_out="attention.attn.o",
        attn_norm="attention.LayerNorm",
        ffn_in="intermediate.dense",
        ffn_out="output.dense",
        ffn_norm="output.LayerNorm",
        position_offset=2,
        probs_need_flag=True,
        attn_bias="encoder.relative_attention_bias",
        mlm_head=("lm_head",),
    ),
    "deberta-v2": HookPoints(  # DeBERTa-v2 and -v3
        **{
            **_BERT_LIKE,
            "query": "attention.self.query_proj",
            "key": "attention.self.key_proj",
            "value": "attention.self.value_proj",
        },
        probs_need_flag=True,
        disentangled=True,
        mlm_head=("cls",),
    ),
}

DECODER_ONLY = {
    "gpt2",
    "gpt_neo",
    "gptj",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "phi",
    "opt",
    "bloom",
    "falcon",
    "gemma",
    "gemma2",
    "gemma3",
    "mixtral",
    "olmo",
    "smollm3",
}


def supported_types() -> str:
    return ", ".join(sorted(REGISTRY))


def hook_points_for(model_type: str) -> HookPoints:
    """The registry row for ``model_type``; a clear error naming the supported ones otherwise."""
    if model_type in REGISTRY:
        return REGISTRY[model_type]
    if model_type in DECODER_ONLY:
        raise ValueError(
            f"'{model_type}' is a decoder-only (left-to-right) model, not a bidirectional encoder. "
            f"This explorer supports encoders: {supported_types()}."
        )
    raise ValueError(
        f"Model type '{model_type}' is not supported yet. Supported: {supported_types()}. "
        "Try an encoder such as bert-base-uncased or roberta-base."
    )


def score_factor(attention: nn.Module) -> int:
    """DeBERTa divides Q·Kᵀ by √(dk · factor): 1 plus one per relative term (c2p, p2c)."""
    terms = getattr(attention, "pos_att_type", None) or ()
    return 1 + ("c2p" in terms) + ("p2c" in terms)


def resolve(root: nn.Module, path: str) -> nn.Module:
    """``root.get_submodule(path)`` with an error that names the missing path."""
    try:
        return root.get_submodule(path)
    except AttributeError as err:
        raise ValueError(f"Hook point '{path}' not found in {type(root).__name__}.") from err


def layer_modules(base: nn.Module, points: HookPoints) -> list[nn.Module]:
    """The distinct layer modules, in execution order (``*`` expands to every child)."""
    found: list[nn.Module] = [base]
    for part in points.layers.split("."):
        if part == "*":
            found = [child for module in found for child in module.children()]
        else:
            found = [resolve(module, part) for module in found]
    return found
