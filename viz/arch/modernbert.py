"""ModernBERT (also mmBERT and Ettin): pre-norm layers, rotary positions, one fused QKV
projection, a gated GeGLU feed-forward block, and local layers that see a sliding window.

Q, K (after the rotation) and V and the probabilities come through transformers' attention
interface; the window is in the mask the model adds to the scores, so a local layer's
probabilities are zero outside it. ``ffn_activations`` is the input of ``mlp.Wo``: GELU of one
half of ``Wi``'s output times the other half (F wide). The first layer has no attention norm
(``attn_norm`` is an identity there); the last hidden state is after ``final_norm``.
"""

from viz.arch.family import ConfigNames, Family, Paths

FAMILY = Family(
    "modernbert",
    Paths(
        attention="attn",
        query="attn.Wqkv",  # fused: Q, K and V come from the attention interface
        key="attn.Wqkv",
        value="attn.Wqkv",
        attn_out="attn.Wo",
        attn_norm="attn_norm",  # before attention (pre-norm)
        ffn_in="mlp.Wi",  # D -> 2F: the activation's input and the gate
        ffn_gate="mlp.Wi",  # fused: the first half goes through the activation
        ffn_out="mlp.Wo",
        ffn_norm="mlp_norm",  # before the feed-forward block
    ),
    mlm_head=("head", "decoder"),
    config=ConfigNames(activation="hidden_activation"),
    interface=True,
    differs=("pre_norm", "rotary", "gated", "window"),
    rotary="half",
    final_norm="final_norm",
)
