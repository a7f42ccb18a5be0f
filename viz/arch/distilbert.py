"""DistilBERT: its own module names, and its own config names for the sizes."""

from viz.arch.family import ConfigNames, Family, Paths

FAMILY = Family(
    "distilbert",
    Paths(
        layers="transformer.layer.*",
        attention="attention",
        query="attention.q_lin",
        key="attention.k_lin",
        value="attention.v_lin",
        attn_out="attention.out_lin",
        attn_norm="sa_layer_norm",
        ffn_in="ffn.lin1",
        ffn_out="ffn.lin2",
        ffn_norm="output_layer_norm",
    ),
    mlm_head=("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
    config=ConfigNames(
        num_layers="n_layers",
        num_heads="n_heads",
        hidden_size="dim",
        ffn_size="hidden_dim",
        activation="activation",
    ),
)
