"""XLM-RoBERTa: RoBERTa with a multilingual SentencePiece vocabulary."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("xlm-roberta", PATHS, mlm_head=("lm_head",), position_offset=2)
