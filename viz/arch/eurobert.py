"""EuroBERT: Llama's layers without the causal mask: pre-norm with RMSNorm, rotary
positions, grouped keys and values (the trace repeats each to the query heads that share it)
and a SwiGLU feed-forward block; the last hidden state is after the final ``norm``."""

from viz.arch.family import Family, Paths

FAMILY = Family(
    "eurobert",
    Paths(
        attention="self_attn",
        query="self_attn.q_proj",
        key="self_attn.k_proj",
        value="self_attn.v_proj",
        attn_out="self_attn.o_proj",
        attn_norm="input_layernorm",  # before attention
        ffn_in="mlp.up_proj",
        ffn_gate="mlp.gate_proj",  # act(gate_proj(x)) * up_proj(x)
        ffn_out="mlp.down_proj",
        ffn_norm="post_attention_layernorm",  # before the feed-forward block
    ),
    mlm_head=("lm_head",),
    interface=True,
    differs=("pre_norm", "rotary", "gated", "grouped"),
    rotary="half",
    final_norm="norm",
)
