"""DeBERTa-v2 and -v3: disentangled attention.

Each attention adds a relative-position term to the content scores, made by projecting the
relative-position embeddings with the same Q and K modules, and divides the scores by
√(dk · (1 + number of relative terms)). So the Q/K/V projections run more than once per layer
(only their first call, on the hidden states, is what the trace holds), and each layer's
relative term is recorded for the trace (``attn_bias`` [L, H, T, T]).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from viz.arch.bert import PATHS
from viz.arch.family import AskForAttentions, Family, Hook, Quirk
from viz.errors import UserError

QKV = (("query", "q"), ("key", "k"), ("value", "v"))


class Disentangled(Quirk):
    takes = frozenset({"q", "k", "v"})

    def check(self, config):
        if getattr(config, "conv_kernel_size", 0):  # DeBERTa-v2 xlarge / xxlarge
            raise UserError("deberta_conv")

    def score_factor(self, attention):
        terms = getattr(attention, "pos_att_type", None) or ()
        return 1 + ("c2p" in terms) + ("p2c" in terms)

    def hooks(self, encoder, store, kinds):
        hooks: list[Hook] = []
        wanted = [(point, kind) for point, kind in QKV if kind in kinds]
        if wanted:
            armed: dict[str, bool] = {}  # Q/K/V still to capture in this attention call

            def arm(module, args):
                armed.update(q=True, k=True, v=True)

            def first_output_of(kind):
                def hook(module, args, output):
                    if armed.get(kind):
                        armed[kind] = False
                        store.put(kind, output)

                return hook

            for at in encoder.layer_points:
                hooks.append(Hook(at["attention"], arm, pre=True))
                hooks += [Hook(at[point], first_output_of(kind)) for point, kind in wanted]
        if {"q", "k"} <= set(kinds):  # the relative term is computed from this layer's Q and K
            H = encoder.facts.num_heads

            def relative_term(module, args, kwargs, output):
                """This layer's relative-position term of the scores, [H, T, T], by the
                module's own method from the Q and K the store captured just before (first
                batch row), on the module's device and in its dtype."""
                like = args[0]
                q, k = (
                    torch.from_numpy(store.arrays[n][store.filled[n] - 1]).to(like) for n in "qk"
                )
                rel = module.disentangled_attention_bias(
                    q,
                    k,
                    kwargs.get("relative_pos"),
                    module.pos_dropout(kwargs["rel_embeddings"]),
                    self.score_factor(module),
                )
                term = rel.reshape(H, *rel.shape[-2:]).float().cpu().numpy()
                store.extra.setdefault("attn_bias", []).append(term)

            for at in encoder.layer_points:
                if getattr(at["attention"], "relative_attention", False):
                    hooks.append(Hook(at["attention"], relative_term, with_kwargs=True))
        return hooks

    def arrays(self, store, num_tokens):
        terms = store.extra.get("attn_bias")
        return {"attn_bias": np.stack(terms)} if terms else {}


FAMILY = Family(
    "deberta-v2",
    replace(
        PATHS,
        query="attention.self.query_proj",
        key="attention.self.key_proj",
        value="attention.self.value_proj",
    ),
    mlm_head=("cls",),
    quirks=(AskForAttentions(), Disentangled()),
)
