"""GTE (gte-*-v1.5, mGTE): post-norm layers with rotary positions and a gated feed-forward
block (``act(gate_proj(x)) * up_proj(x)``, then ``down_proj``).

Q, K (after the rotation), V and the probabilities come through the attention interface;
``ffn_activations`` is the input of ``down_proj``, the gated product."""

from viz.arch.family import Family, Paths

# GTE, NomicBERT and Jina v3 share this layout (Jina v3's feed-forward is not gated)
PATHS = Paths(
    attention="self_attn",
    query="self_attn.q_proj",
    key="self_attn.k_proj",
    value="self_attn.v_proj",
    attn_out="self_attn.o_proj",
    attn_norm="post_attention_layernorm",
    ffn_in="mlp.up_proj",
    ffn_gate="mlp.gate_proj",  # act(gate_proj(x)) * up_proj(x)
    ffn_out="mlp.down_proj",
    ffn_norm="post_mlp_layernorm",
)

FAMILY = Family(
    "gte",
    PATHS,
    mlm_head=("lm_head",),
    interface=True,
    differs=("rotary", "gated"),
    rotary="half",
)
