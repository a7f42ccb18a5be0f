"""RoBERTa: BERT's layers; positions start after the padding index (padding_idx + 1 = 2)."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("roberta", PATHS, mlm_head=("lm_head",), position_offset=2)
