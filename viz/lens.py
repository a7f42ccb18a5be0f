"""The MLM lens on a model: the encoder's own masked-LM head applied to the hidden state at one
position after every layer (torch), read by ``viz.analysis.mlm`` (numpy)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from viz.analysis import mlm
from viz.errors import UserError
from viz.models import Encoder
from viz.trace import Trace


def head_logits(encoder: Encoder, hidden: np.ndarray) -> np.ndarray:
    """hidden [..., D] -> the masked-LM head's logits [..., V] (float32)."""
    if not encoder.facts.has_mlm_head:
        raise UserError("no_mlm_head", name=encoder.name)
    states = torch.from_numpy(np.ascontiguousarray(hidden, dtype=np.float32))
    with torch.inference_mode():
        logits = encoder.mlm_logits(states.to(encoder.device))  # [..., V]
    return logits.float().cpu().numpy()


def lens(
    encoder: Encoder, trace: Trace, position: int, k: int = 10, true_id: int | None = None
) -> mlm.LensResult:
    """Decode ``trace.hidden_states[:, position]`` with the model's MLM head; ``true_id``: the
    token that was masked there, whose rank is followed through the layers."""
    logits = head_logits(encoder, trace.hidden_states[:, position])  # [L+1, V]
    names = functools.partial(mlm.token_names, encoder.tokenizer)
    return mlm.read_lens(logits, position, names, k=k, true_id=true_id)
