"""Keep a long-running server's resident memory close to what it actually holds.

glibc raises its mmap threshold after large blocks are freed, so later large arrays (traces
are tens of MB) come from the heap, fragment it, and are never returned to the system. Pinning
the threshold makes every array above it its own mapping, handed back the moment it is freed.
At 4 MB, the forward pass's own temporaries stay below it up to about 290 tokens (the largest,
the attention scores, takes 48 T^2 bytes) and are reused from the heap. Pinned at 128 kB, every
temporary was a new mapping, faulted in page by page, and a 128-token forward took 1.9x as long
(46 ms against 24; bench/RESULTS.md, section 1).
glibc also opens a new arena whenever threads contend for one (torch's worker threads and the
server's threads do, more so on a busy machine); capping arenas keeps that growth bounded."""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def return_freed_memory(threshold: int = 4 * 2**20) -> bool:
    """Best effort, glibc only; returns whether it applied."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = (
            libc.mallopt(M_MMAP_THRESHOLD, threshold)
            and libc.mallopt(M_TRIM_THRESHOLD, threshold)
            and libc.mallopt(M_ARENA_MAX, 2)
        )
    except (OSError, AttributeError):
        return False
    return bool(ok)
