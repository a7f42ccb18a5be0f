"""ELECTRA: BERT's layers. Its masked-LM head is the generator's (``ElectraForMaskedLM``)."""

from viz.arch.bert import PATHS
from viz.arch.family import Family

FAMILY = Family("electra", PATHS, mlm_head=("generator_predictions", "generator_lm_head"))
