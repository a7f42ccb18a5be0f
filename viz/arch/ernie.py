"""ERNIE (``ErnieModel``): BERT's layers; the optional task-type embedding is part of the
embedding output, which the trace holds as its first hidden state."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("ernie", PATHS, mlm_head=("cls",))
