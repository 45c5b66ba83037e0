"""Bounded in-memory caches: template content keyed by content hash, and listing
totals."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable


class ContentCache:
    """Least-recently-used cache of notebook bytes, bounded by total size.

    Keys are sha256 hex digests, so an entry can never be stale: new content has a
    new key. Thread-safe. Objects larger than the whole budget are not cached.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, sha256: str) -> bytes | None:
        with self._lock:
            data = self._items.get(sha256)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(sha256)
            self.hits += 1
            return data

    def put(self, sha256: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(sha256, None)
            if old is not None:
                self._size -= len(old)
            self._items[sha256] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def __len__(self) -> int:
        return len(self._items)


class TotalsCache:
    """How many templates match a listing's filter, remembered for ``ttl`` seconds.

    Counting every match costs a scan of them on every page (20 ms for a 100,000
    template catalog); the count changes only when templates are added or removed.
    This process's own changes call :meth:`invalidate`, so they show at once; changes
    made by another replica or by ``sync`` show within ``ttl``. A count that was being
    computed while an invalidation happened is not stored. Thread-safe; ``ttl`` 0
    disables the cache.
    """

    def __init__(self, ttl: float, max_entries: int = 1024) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes at every invalidation; pass it to :meth:`put`."""
        return self._generation

    def get(self, key: Hashable) -> int | None:
        """The remembered count, or None when absent or older than ``ttl``."""
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            expires, value = entry
            if time.monotonic() >= expires:
                del self._items[key]
                return None
            return value

    def put(self, key: Hashable, value: int, generation: int) -> None:
        """Remember ``value`` unless an invalidation came after ``generation`` was read."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._items[key] = (time.monotonic() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def invalidate(self) -> None:
        """Forget every count (templates were added or removed)."""
        with self._lock:
            self._generation += 1
            self._items.clear()
