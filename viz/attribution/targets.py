"""What an attribution explains: one number computed from the model's output.

``similarity``: the cosine of the two sentences' mean-pooled last-layer embeddings, each
sentence run on its own (the sentence-transformers bi-encoder use case). It needs a pair: a
single sentence has nothing to be similar to, and comparing it with its own baseline would
explain the baseline as much as the sentence.

``mlm:POSITION``: position POSITION is replaced by the mask token and the target is the
masked-LM head's logit, at that position, of the token it predicts there (its top choice for
the masked input). Models with a masked-LM head only.

``token:LAYER:POSITION``: token POSITION's vector at layer LAYER (0 = the embedding output)
projected onto its own direction at the input, a fixed unit vector: at the input the target is
that vector's norm, and moving away from the input counts only what moves along it.

A pair is encoded together (one input, as the trace does) for ``mlm`` and ``token``.
"""

from __future__ import annotations

from dataclasses import dataclass

from viz.errors import UserError

TARGET_KINDS = ("similarity", "mlm", "token")


@dataclass(frozen=True)
class Target:
    kind: str  # one of TARGET_KINDS
    position: int | None = None  # mlm, token
    layer: int | None = None  # token: 0 = embedding output, L = the last layer

    def __str__(self) -> str:
        if self.kind == "similarity":
            return "similarity"
        if self.kind == "mlm":
            return f"mlm:{self.position}"
        return f"token:{self.layer}:{self.position}"


def parse_target(spec: str) -> Target:
    """'similarity', 'mlm:5' or 'token:3:5' -> a ``Target`` (ranges are checked later, against
    the model and the input)."""
    parts = (spec or "").strip().split(":")
    try:
        if parts == ["similarity"]:
            return Target("similarity")
        if parts[0] == "mlm" and len(parts) == 2:
            return Target("mlm", position=int(parts[1]))
        if parts[0] == "token" and len(parts) == 3:
            return Target("token", layer=int(parts[1]), position=int(parts[2]))
    except ValueError:
        pass
    raise UserError("attr_target_unknown", target=spec)
