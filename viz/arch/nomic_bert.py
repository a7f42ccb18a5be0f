"""NomicBERT (nomic-embed-text): GTE's layout, post-norm with rotary positions and a SwiGLU
feed-forward block; captured through the attention interface."""

from viz.arch.family import Family
from viz.arch.gte import PATHS

FAMILY = Family(
    "nomic_bert",
    PATHS,
    mlm_head=("cls",),
    interface=True,
    differs=("rotary", "gated"),
    rotary="half",
)
