"""Reuse the memory of traces that are gone.

Every trace is written into fresh arrays, and fresh memory costs the kernel a page fault and a
page of zeros for every 4 KB written first: for a 128-token trace (17 MB) that was about a fifth
of the whole trace's time (bench/RESULTS.md, section 1). A ``BlockPool`` hands out one float32
block per trace and keeps a reference to it; the trace's arrays are views of the block. Once no
view is left anywhere (the trace and everything sliced from it are gone), only the pool still
refers to the block, so the next trace of about the same size is written into it instead.

The pool never holds more than ``max_bytes`` of blocks, in use or free; larger requests, or
requests beyond that budget, get an ordinary array the pool does not track. So the memory the pool
keeps alive after every trace is gone is at most ``max_bytes``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

# A block is free when nothing else refers to it: only the pool's list, the loop variable that
# looks at it and getrefcount's own argument (every view of it refers to it through ``.base``).
_FREE_REFS = 3


class BlockPool:
    def __init__(self, max_bytes: int, slack: float = 1.25) -> None:
        self.max_bytes = max_bytes
        self.slack = slack  # a free block is reused for requests down to 1/slack of its size
        self._blocks: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        """A float32 array of at least ``size`` elements (contents undefined): a free block of
        about that size if there is one, else a new one (tracked while the budget allows)."""
        with self._lock:
            free = [b for b in self._blocks if sys.getrefcount(b) == _FREE_REFS]
            fits = [b for b in free if size <= b.size <= size * self.slack]
            if fits:
                return min(fits, key=lambda b: b.size)[:size]
            block = np.empty(size, dtype=np.float32)
            while self._over_budget(block.nbytes) and free:
                victim = free.pop(0)  # oldest free first: make room
                # by identity: list.remove would compare arrays with ==, element by element
                self._blocks = [b for b in self._blocks if b is not victim]
            if not self._over_budget(block.nbytes):
                self._blocks.append(block)
            return block

    def _over_budget(self, nbytes: int) -> bool:
        return self.tracked_bytes + nbytes > self.max_bytes

    @property
    def tracked_bytes(self) -> int:
        return sum(b.nbytes for b in self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)
