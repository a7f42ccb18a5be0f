"""MPNet: one relative-position bias, computed once in the encoder, added to every layer's
attention scores; its attention returns the probabilities only when asked."""

from __future__ import annotations

import numpy as np

from viz.arch.family import AskForAttentions, Family, Hook, Paths, Quirk, resolve


class SharedRelativeBias(Quirk):
    """The bias comes from ``encoder.relative_attention_bias``, an embedding of distance
    buckets ([T, T] buckets -> [T, T, H]); captured from that module's output, once per
    forward, and added to the trace as ``attn_bias`` [H, T, T]."""

    path = "encoder.relative_attention_bias"

    def hooks(self, encoder, store, kinds):
        if not kinds:
            return []

        def hook(module, args, output):
            store.extra["attn_bias"] = output.float().cpu().numpy()

        return [Hook(resolve(encoder.base, self.path), hook)]

    def arrays(self, store, num_tokens):
        bias = store.extra.get("attn_bias")
        if bias is None:
            return {}
        bias = bias.reshape(num_tokens, num_tokens, -1).transpose(2, 0, 1)  # [H, T, T]
        return {"attn_bias": np.ascontiguousarray(bias)}


FAMILY = Family(
    "mpnet",
    Paths(
        layers="encoder.layer.*",
        attention="attention.attn",
        query="attention.attn.q",
        key="attention.attn.k",
        value="attention.attn.v",
        attn_out="attention.attn.o",
        attn_norm="attention.LayerNorm",
        ffn_in="intermediate.dense",
        ffn_out="output.dense",
        ffn_norm="output.LayerNorm",
    ),
    mlm_head=("lm_head",),
    position_offset=2,
    quirks=(AskForAttentions(), SharedRelativeBias()),
)
