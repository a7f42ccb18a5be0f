"""Jina embeddings v3: XLM-RoBERTa with rotary positions (post-norm, one plain feed-forward
projection, ``fc1`` then ``fc2``); captured through the attention interface."""

from dataclasses import replace

from viz.arch.family import Family
from viz.arch.gte import PATHS

FAMILY = Family(
    "jina_embeddings_v3",
    replace(PATHS, ffn_in="mlp.fc1", ffn_out="mlp.fc2", ffn_gate=None),
    mlm_head=("lm_head",),
    interface=True,
    differs=("rotary",),
    rotary="half",
)
