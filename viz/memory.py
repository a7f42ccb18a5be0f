"""Keep a long-running server's resident memory close to what it actually holds.

glibc raises its mmap threshold after large blocks are freed, so later large arrays (traces
are tens of MB) come from the heap, fragment it, and are never returned to the system. Pinning
the threshold makes every large array its own mapping, handed back the moment it is freed.
glibc also opens a new arena whenever threads contend for one (torch's worker threads and the
server's threads do, more so on a busy machine); capping arenas keeps that growth bounded."""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def return_freed_memory(threshold: int = 128 * 1024) -> bool:
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
