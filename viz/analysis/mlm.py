"""The MLM lens: the masked-LM head applied to every layer's hidden state at one position."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz.errors import UserError
from viz.models import Encoder
from viz.tokens import readable_token
from viz.trace import Trace


@dataclass(frozen=True)
class LensResult:
    position: int
    top_ids: np.ndarray  # [L+1, k]
    top_tokens: tuple[tuple[str, ...], ...]  # [L+1][k]
    top_probs: np.ndarray  # [L+1, k]
    final_id: int  # the last layer's top prediction
    final_token: str
    final_rank: np.ndarray  # [L+1], 1 = top; the rank of final_id at each layer
    final_prob: np.ndarray  # [L+1]


def token_names(tokenizer: object, ids: list[int]) -> tuple[str, ...]:
    """Each id as the token labels read (``readable_token``); ids the output layer has but the
    tokenizer lacks (DeBERTa-v3's head has about 100 more rows than its vocabulary) read
    '<id 128050>'."""
    names = tokenizer.convert_ids_to_tokens(ids)
    return tuple(
        readable_token(tokenizer, name) if name is not None else f"<id {i}>"
        for i, name in zip(ids, names)
    )


def lens(encoder: Encoder, trace: Trace, position: int, k: int = 10) -> LensResult:
    """Decode ``trace.hidden_states[:, position]`` with the model's own MLM head."""
    if not encoder.facts.has_mlm_head:
        raise UserError("no_mlm_head", name=encoder.name)
    hidden = torch.from_numpy(np.ascontiguousarray(trace.hidden_states[:, position]))
    with torch.inference_mode():
        logits = encoder.mlm_logits(hidden.to(encoder.device)).float().cpu()  # [L+1, V]
    probs = torch.softmax(logits, dim=-1)
    top_p, top_i = probs.topk(k, dim=-1)
    final_id = int(top_i[-1, 0])
    final_logit = logits[:, final_id : final_id + 1]
    rank = (logits > final_logit).sum(dim=-1) + 1
    return LensResult(
        position=position,
        top_ids=top_i.numpy(),
        top_tokens=tuple(token_names(encoder.tokenizer, row.tolist()) for row in top_i),
        top_probs=top_p.numpy(),
        final_id=final_id,
        final_token=token_names(encoder.tokenizer, [final_id])[0],
        final_rank=rank.numpy(),
        final_prob=probs[:, final_id].numpy(),
    )


def mask_position(trace: Trace, mask_token_id: int) -> int:
    hits = np.flatnonzero(trace.token_ids == mask_token_id)
    if not len(hits):
        raise UserError("no_masked_word")
    return int(hits[0])
