"""A bounded in-memory cache of template content, keyed by content hash."""

from __future__ import annotations

import threading
from collections import OrderedDict


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
