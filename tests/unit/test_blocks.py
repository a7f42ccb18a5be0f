"""The pool that lets a trace reuse the memory of traces that are gone."""

from __future__ import annotations

import threading

import numpy as np
import torch

from viz.blocks import BlockPool

MB = 2**20


def address(array: np.ndarray) -> int:
    """Where the array's memory starts (a test must not hold the block itself: that would keep
    it in use)."""
    return array.__array_interface__["data"][0]


def test_a_block_is_reused_once_nothing_refers_to_it():
    pool = BlockPool(max_bytes=16 * MB)
    first = pool.take(1000)
    block = address(first)
    assert first.dtype == np.float32 and first.size == 1000
    view = first[10:20].reshape(2, 5)
    del first
    assert address(pool.take(1000)) != block  # a view is still alive: in use
    tensor = torch.from_numpy(view)  # a torch tensor over it keeps it in use too
    del view
    assert address(pool.take(1000)) != block
    del tensor
    again = pool.take(1000)
    assert address(again) == block


def test_only_a_block_of_about_the_right_size_is_reused():
    pool = BlockPool(max_bytes=16 * MB, slack=1.25)
    block = address(pool.take(1000))
    assert address(pool.take(700)) != block  # 1000 > 1.25 * 700: would waste memory
    assert address(pool.take(1001)) != block  # too small
    assert address(pool.take(900)) == block


def test_the_pool_keeps_no_more_than_its_budget():
    pool = BlockPool(max_bytes=1 * MB)
    kept = [pool.take(100_000) for _ in range(5)]  # 400 kB each, all in use
    assert pool.tracked_bytes <= 1 * MB
    assert len(pool) == 2
    big = pool.take(1_000_000)  # 4 MB: more than the whole budget, never tracked
    assert big.size == 1_000_000 and pool.tracked_bytes <= 1 * MB
    del kept, big
    # all free now: a request of another size makes room by dropping free blocks, oldest first
    pool.take(200_000)
    assert pool.tracked_bytes == 800_000 and len(pool) == 1


def test_a_free_block_behind_one_in_use_is_dropped_to_make_room():
    pool = BlockPool(max_bytes=1 * MB)
    in_use = pool.take(100_000)  # 400 kB, first in the pool's list
    pool.take(100_000)  # 400 kB, second, free at once
    pool.take(150_000)  # 600 kB: the free one goes, the one in use stays
    assert len(pool) == 2 and pool.tracked_bytes == 1_000_000
    assert in_use.size == 100_000


def test_threads_never_share_a_block():
    pool = BlockPool(max_bytes=64 * MB)
    errors = []

    def work(value: float) -> None:
        for _ in range(200):
            a = pool.take(10_000)
            a[:] = value
            if not (a == value).all():
                errors.append(value)

    threads = [threading.Thread(target=work, args=(float(i),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
