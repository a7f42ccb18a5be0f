"""Megatron-BERT: BERT's modules made pre-norm (``attention.ln`` before attention, ``ln``
before the feed-forward block, ``encoder.ln`` after the last layer). Its attention does not go
through the attention interface: captured with BERT's hooks."""

from dataclasses import replace

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family(
    "megatron-bert",
    replace(PATHS, attn_norm="attention.ln", ffn_norm="ln"),
    mlm_head=("cls",),
    differs=("pre_norm",),
    final_norm="encoder.ln",
)
