"""The store the capture hooks fill: one float32 array per kind, written one layer at a time."""

from __future__ import annotations

import math

import numpy as np
import torch

from viz.blocks import BlockPool
from viz.trace import KINDS

# Traces up to this size (about 200 tokens on the default model) are written into memory that
# traces already gone have used; see viz/blocks.py. The pool keeps at most this much alive.
BLOCKS = BlockPool(max_bytes=64 * 2**20)
PER_HEAD = ("q", "k", "v")  # stored [H, T, dk] per layer, captured [T, H*dk]


def _first(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


class Store:
    """What the hooks captured: one float32 numpy array ``[n, ...]`` per kind (the kinds are
    the rows of ``viz.trace.ARRAYS``), filled one layer
    at a time in call order (so ALBERT's one shared layer fills every slot).

    Each hook copies its tensor (batch item 0) into the next free slot at once, while it is still
    in cache, and keeps no reference to it: torch frees each activation as soon as the forward is
    done with it, and every value is copied exactly once. Q, K and V are stored per head,
    ``[L, H, T, dk]`` (the copy does the transpose); the hidden states have ``L + 1`` slots (the
    embeddings first). Each slot is reached through a torch view made when its array is made, so
    a hook does one shape check and one copy.

    ``extra`` holds what a family's quirks capture besides the kinds (see ``viz.arch``).
    """

    def __init__(self, num_layers: int, num_heads: int, kinds: tuple[str, ...] = KINDS) -> None:
        self.num_layers, self.num_heads, self.kinds = num_layers, num_heads, kinds
        self.arrays: dict[str, np.ndarray] = {}
        self.views: dict[str, tuple[torch.Tensor, ...]] = {}  # per kind: one [1, ...] per slot
        self.filled = dict.fromkeys(KINDS, 0)
        self.extra: dict[str, object] = {}

    def preallocate(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Make every kind's array before the forward, from its expected shape, all carved out
        of one block from ``BLOCKS``: memory a trace that is gone has used when there is one
        (no page faults), else one new allocation (which numpy asks to be huge pages from
        4 MB). A kind whose first tensor has another shape gets a new array (see ``put``)."""
        sizes = {kind: math.prod(shape) for kind, shape in shapes.items()}
        block = BLOCKS.take(sum(sizes.values()))
        start = 0
        for kind, shape in shapes.items():
            self._use(kind, block[start : start + sizes[kind]].reshape(shape))
            start += sizes[kind]

    def _use(self, kind: str, array: np.ndarray) -> tuple[torch.Tensor, ...]:
        """Make ``array`` the store of ``kind``; return its slots as torch views shaped like the
        hook's tensor (batch of one; Q/K/V as ``[1, T, H, dk]`` over the ``[H, T, dk]`` slot)."""
        dest = torch.from_numpy(array)
        if kind in PER_HEAD:
            dest = dest.transpose(1, 2)
        self.arrays[kind] = array
        self.views[kind] = dest.unsqueeze(1).unbind(0)
        return self.views[kind]

    def slots(self, kind: str) -> int:
        return self.num_layers + 1 if kind == "hidden" else self.num_layers

    def put(self, kind: str, tensor: torch.Tensor) -> None:
        if kind in PER_HEAD:  # [B, T, H*dk] -> [B, T, H, dk]
            tensor = tensor.unflatten(-1, (self.num_heads, -1))
        self._copy(kind, tensor)

    def put_heads(self, kind: str, tensor: torch.Tensor) -> None:
        """Q, K or V as the attention interface has them: [B, H, T, dk]."""
        self._copy(kind, tensor.transpose(1, 2))

    def _copy(self, kind: str, tensor: torch.Tensor) -> None:
        i = self.filled[kind]
        if i >= self.slots(kind):
            raise RuntimeError(f"Hooks fired too often for {kind!r} (model has {self.num_layers}).")
        if tensor.shape[0] != 1:
            tensor = tensor[:1]
        views = self.views.get(kind)
        if views is None or views[i].shape != tensor.shape:
            if i:
                raise RuntimeError(f"The shape of {kind!r} changed from one layer to the next.")
            shape = tensor.shape[1:]
            if kind in PER_HEAD:
                shape = (shape[1], shape[0], shape[2])
            views = self._use(kind, np.empty((self.slots(kind), *shape), dtype=np.float32))
        views[i].copy_(tensor)
        self.filled[kind] = i + 1

    def check_complete(self) -> None:
        """Raise unless every kind asked for was captured for every layer."""
        missing = [k for k in self.kinds if self.filled[k] != self.slots(k)]
        if missing:
            raise RuntimeError(
                f"Hooks fired the wrong number of times for {missing} "
                f"(expected {self.num_layers} layers)."
            )
