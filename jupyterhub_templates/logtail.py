"""A run's log as a window of bytes addressed by absolute offsets: the part a server
extension keeps of a live log, and the tail the service keeps when the run ends, both
read on from an offset in the same way (``offset``, ``next_offset``, ``log``,
``truncated``), so a reader cannot tell which one answered."""

from __future__ import annotations

import codecs
from typing import Any


def read_from(data: bytes | bytearray, start: int, offset: int) -> dict[str, Any]:
    """Read the window ``data`` (whose first byte is absolute byte ``start``) from
    ``offset`` to its end, decoded as UTF-8.

    An offset before the window reads from its first byte with ``truncated`` true, one
    past it reads nothing. ``next_offset`` stops before an incomplete trailing UTF-8
    sequence, so that reading on from it never splits a character.
    """
    end = start + len(data)
    begin = min(max(offset, start), end)
    chunk = bytes(data[begin - start :])
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(chunk, final=False)
    pending = len(decoder.getstate()[0])
    return {
        "offset": begin,
        "next_offset": begin + len(chunk) - pending,
        "log": text,
        "truncated": offset < start,
    }


def tail_of(text: str, end: int, limit: int) -> tuple[str, int]:
    """The last ``limit`` bytes of a log ``text`` whose end is absolute byte ``end``,
    cut at a character boundary: ``(tail, absolute offset of its first byte)``."""
    data = text.encode("utf-8")
    if len(data) > limit:
        data = data[-limit:]
        while data and data[0] & 0xC0 == 0x80:  # a continuation byte: not a start
            data = data[1:]
    end = max(end, len(data))
    return data.decode("utf-8", errors="replace"), end - len(data)
