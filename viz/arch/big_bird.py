"""BigBird in full attention mode: BERT's post-norm layers. Its block-sparse mode has no
attention matrix of every pair (nor the layer the math view recomputes), so a config in that
mode is refused with a message saying how to switch it."""

from viz.arch.bert import PATHS
from viz.arch.family import AskForAttentions, Family, Quirk
from viz.errors import UserError


class FullAttentionOnly(Quirk):
    def check(self, config):
        if getattr(config, "attention_type", "original_full") != "original_full":
            raise UserError("big_bird_sparse")


FAMILY = Family(
    "big_bird", PATHS, mlm_head=("cls",), quirks=(AskForAttentions(), FullAttentionOnly())
)
