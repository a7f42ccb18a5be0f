"""CamemBERT: RoBERTa's layers with a French SentencePiece vocabulary."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("camembert", PATHS, mlm_head=("lm_head",), position_offset=2)
