"""ALBERT: one set of layer weights run L times (``num_hidden_layers`` > the layer modules).

Nothing here beyond the paths: the capture loop tells layers apart by call order for every
family, so the hooks on the one shared layer fill slot 1, 2, ... L as it runs again, and
``ModelFacts.shared_layers`` says the weights are shared.
"""

from viz.arch.family import Family, Paths

FAMILY = Family(
    "albert",
    Paths(
        layers="encoder.albert_layer_groups.*.albert_layers.*",
        attention="attention",
        query="attention.query",
        key="attention.key",
        value="attention.value",
        attn_out="attention.dense",
        attn_norm="attention.LayerNorm",
        ffn_in="ffn",
        ffn_out="ffn_output",
        ffn_norm="full_layer_layer_norm",
    ),
    mlm_head=("predictions",),
)
