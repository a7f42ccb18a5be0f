"""RemBERT: BERT's post-norm layers; its input embeddings are narrower than the layers (a
projection in the embeddings, before the first hidden state)."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("rembert", PATHS, mlm_head=("cls",))
