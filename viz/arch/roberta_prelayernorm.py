"""RoBERTa-PreLayerNorm: RoBERTa's modules made pre-norm (a LayerNorm before attention and
one inside the intermediate block, before its projection; one after the last layer)."""

from dataclasses import replace

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family(
    "roberta-prelayernorm",
    replace(PATHS, attn_norm="attention.LayerNorm", ffn_norm="intermediate.LayerNorm"),
    mlm_head=("lm_head",),
    position_offset=2,
    interface=True,
    differs=("pre_norm",),
    final_norm="LayerNorm",
)
