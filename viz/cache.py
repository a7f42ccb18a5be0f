"""A thread-safe LRU cache bounded by bytes, for traces shared by every app session.

Traces are immutable, so sharing one object between sessions is safe and costs no copy. The
newest entry is always kept, even when it alone is over the bound (bert-base's 512-token trace
is about 360 MB): the app asks for the same trace on every slider move, and a trace that is
never kept would run the model again each time. Older entries make room for it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int], max_items: int = 256) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._size_of = size_of
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> tuple[V, bool]:
        """The cached value, or ``compute()`` stored; returns (value, was_cached)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0], True
        value = compute()  # outside the lock: other sessions keep reading the cache
        size = self._size_of(value)
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while len(self._items) > 1 and (
                    self._bytes > self.max_bytes or len(self._items) > self.max_items
                ):
                    _, (_, dropped) = self._items.popitem(last=False)  # oldest first
                    self._bytes -= dropped
        return value, False

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
