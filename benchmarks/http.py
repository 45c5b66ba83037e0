"""A minimal keep-alive HTTP/1.1 GET client on asyncio streams, and latency statistics.

The load generator shares the machine's cores with the service, so it should cost as
little CPU per request as possible: no library, one persistent connection per client,
bytes in and out. Enough HTTP for Tornado and configurable-http-proxy (Content-Length
or chunked bodies, ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection to ``host:port``; reconnects when the server closes."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._headers = f"Host: {host}:{port}\r\n{extra}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        self._reader = self._writer = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` (already quoted); the status and the body."""
        if self._writer is None:
            await self._open()
        assert self._reader is not None and self._writer is not None
        request = b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + self._headers + b"\r\n"
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            await self.close()
            raise HttpError(f"connection closed: {e!r}") from e
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip().lower()
        if "content-length" in fields:
            body = await self._reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await self._reader.readuntil(b"\r\n")
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            body = b"".join(parts)
        elif status in (204, 304):
            body = b""
        else:
            body = await self._reader.read()
            await self.close()
            return status, body
        if fields.get("connection") == "close":
            await self.close()
        return status, body


@dataclass
class Stats:
    """Latencies in milliseconds."""

    samples: list[float]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (with few samples, p99 is the maximum)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
