"""XLM-RoBERTa-XL and -XXL: XLM-RoBERTa's modules made pre-norm (a LayerNorm before
attention and before the feed-forward block, one after the last layer)."""

from dataclasses import replace

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family(
    "xlm-roberta-xl",
    replace(PATHS, attn_norm="attention.self_attn_layer_norm", ffn_norm="LayerNorm"),
    mlm_head=("lm_head",),
    position_offset=2,
    interface=True,
    differs=("pre_norm",),
    final_norm="encoder.LayerNorm",
)
