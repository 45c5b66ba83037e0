"""JSON as the service writes it: strict, so every answer parses everywhere.

Python's ``json`` writes ``NaN`` and ``Infinity`` for non-finite floats, which no JSON
parser of a browser accepts (``JSON.parse`` throws): one such value in one template's
default would break the gallery of every user. Values that may carry them from outside
(a template's source text, MLflow metrics) pass :func:`finite` on their way in, and
:func:`dumps` refuses any that slipped through rather than write invalid JSON.

Work on large JSON (parsing a 1 MB body, encoding a page of big records) holds Python's
interpreter lock for long stretches. :data:`BULK` makes it one lane: whoever works on a
large payload holds it, so the event loop (every other request, /health included)
competes with at most one such thread, and large requests take turns.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
from collections.abc import Iterable
from typing import Any

#: held while working on a large payload (see above); work on small ones never takes it
BULK = threading.RLock()
#: from this size on (bytes of JSON) a payload is large
LARGE_BYTES = 64 * 1024


def isoformat(ts: datetime.datetime) -> str:
    """A timestamp as answers show it: UTC, ISO 8601, with a ``Z``."""
    return ts.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """``value`` as JSON text (UTF-8 characters kept); ValueError for NaN or Infinity."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def encode(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, ready to send (blocking for large values)."""
    return dumps(value).encode()


def finite(value: Any) -> Any:
    """``value`` with every non-finite float, however deeply nested, replaced by None.
    Returns ``value`` itself when it holds none (the common case costs no copy)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        items = [finite(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = {k: finite(v) for k, v in value.items()}
        return value if all(pairs[k] is v for k, v in value.items()) else pairs
    return value


def is_finite(value: Any) -> bool:
    """Whether ``value`` holds no NaN or Infinity anywhere."""
    return finite(value) is value


def page(
    key: str,
    items: Iterable[Any],
    *,
    total: int,
    limit: int,
    offset: int,
    max_bytes: int,
) -> str:
    """A listing's answer as JSON text, bounded in size.

    ``{key: [...], "total", "limit", "offset", "count", "next_offset"}``: the items are
    encoded one at a time (``items`` may be a lazy query) and the page ends before its
    text would pass ``max_bytes``, but holds at least one item. ``next_offset`` is
    where the next page starts, null after the last; ``count`` how many items came.
    Blocking: run it where the items are read, in a worker thread. Once the page is
    large (:data:`LARGE_BYTES`), the rest of it is built holding :data:`BULK`.
    """
    parts: list[str] = []
    size = 0
    bulk = False
    try:
        for item in items:
            text = dumps(item)
            if parts and size + len(text) + 2 > max_bytes:
                break
            parts.append(text)
            size += len(text) + 2
            if len(parts) >= limit:
                break
            if not bulk and size > LARGE_BYTES:
                bulk = BULK.acquire()
    finally:
        if bulk:
            BULK.release()
    count = len(parts)
    following = offset + count
    next_offset = following if following < total else None
    return (
        f'{{"{key}": [' + ", ".join(parts) + f'], "total": {int(total)}, "limit": {int(limit)}, '
        f'"offset": {int(offset)}, "count": {count}, '
        f'"next_offset": {"null" if next_offset is None else next_offset}}}'
    )
