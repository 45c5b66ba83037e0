"""``GET /health``: the database and the store, checked at most every few seconds."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import TemplatesError
from ...stores.base import StoreError
from .base import BaseHandler


class HealthChecker:
    """Runs the dependency checks and caches the verdict briefly, so that a load
    balancer polling /health does not hammer the database or the store.

    The checks run in two threads of their own, not in the service's worker pool: when
    that pool is busy with large requests, /health must still say whether the database
    and the store answer, not how long the pool's queue is."""

    def __init__(self, service: Any, cache_seconds: float) -> None:
        self.service = service
        self.cache_seconds = cache_seconds
        self._result: dict[str, Any] | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="templates-health")

    async def _run(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def check(self) -> dict[str, Any]:
        run = self._run
        async with self._lock:
            if (
                self._result is not None
                and time.monotonic() - self._checked_at < self.cache_seconds
            ):
                return self._result
            checks = dict(
                zip(
                    ("database", "store"),
                    await asyncio.gather(
                        self._one(run, self.service.db.check),
                        self._one(run, self.service.store.check),
                    ),
                    strict=True,
                )
            )
            checks["store"]["kind"] = self.service.store.kind
            ok = all(c["ok"] for c in checks.values())
            self._result = {"status": "ok" if ok else "error", "ok": ok, "checks": checks}
            self._checked_at = time.monotonic()
            return self._result

    @staticmethod
    async def _one(run: Any, check: Any) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            await run(check)
        except (TemplatesError, StoreError) as e:
            message = getattr(e, "message", None) or str(e) or type(e).__name__
            return {"ok": False, "message": message}
        except Exception as e:  # a check must report, never crash the endpoint
            return {"ok": False, "message": type(e).__name__}
        return {"ok": True, "latency_ms": round(1000 * (time.perf_counter() - start), 2)}


class HealthHandler(BaseHandler):
    """No authentication; 200 when the database and the store answer, 503 otherwise."""

    auth_required = False

    async def authenticate(self) -> None:
        self._hub_auth_user_cache = None

    async def get(self) -> None:
        result = await self.settings["health"].check()
        self.write_json(result, status=200 if result["ok"] else 503)

    head = get
