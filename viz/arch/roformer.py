"""RoFormer: BERT's post-norm layers with rotary positions applied inside the self-attention
(to Q and K, and to V too when ``rotary_value``). Its attention does not go through the
attention interface, so the projections' outputs are captured with hooks and rotated here by
the module's own ``apply_rotary_position_embeddings``, with the angles the encoder passed it:
the trace holds Q and K as the scores use them."""

from __future__ import annotations

from viz.arch.bert import PATHS
from viz.arch.family import Family, Hook, Quirk

QKV = (("query", "q"), ("key", "k"), ("value", "v"))


class Rotary(Quirk):
    takes = frozenset({"q", "k", "v"})

    def hooks(self, encoder, store, kinds):
        wanted = [(point, kind) for point, kind in QKV if kind in kinds]
        if not wanted:
            return []
        H = encoder.facts.num_heads
        raw: dict[str, object] = {}  # this layer's projections, [1, H, T, dk], until rotated

        def keep(kind):
            def hook(module, args, output):
                raw[kind] = output[:1].unflatten(-1, (H, -1)).transpose(1, 2)

            return hook

        def rotate(module, args, kwargs, output):
            angles = kwargs.get("sinusoidal_pos")
            q, k, v = raw.get("q"), raw.get("k"), raw.get("v")
            if angles is not None:
                rotated = module.apply_rotary_position_embeddings(
                    angles[:1], q, k, v if module.rotary_value else None
                )
                q, k = rotated[:2]
                v = rotated[2] if module.rotary_value else v
            for kind, tensor in zip("qkv", (q, k, v)):
                if kind in kinds:
                    store.put_heads(kind, tensor)
            raw.clear()

        hooks: list[Hook] = []
        for at in encoder.layer_points:
            hooks += [Hook(at[point], keep(kind)) for point, kind in QKV]
            hooks.append(Hook(at["attention"], rotate, with_kwargs=True))
        return hooks


FAMILY = Family(
    "roformer",
    PATHS,
    mlm_head=("cls",),
    differs=("rotary",),
    rotary="interleaved",
    quirks=(Rotary(),),
)
