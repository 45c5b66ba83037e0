"""The audit trail: who did what to which template, notebook or run, and who was refused.

Every state-changing request (template uploads, replacements and deletes, notebook
creates, executes, cancels, changes to the notebook records; acting for another user
included) becomes, once answered, one row of ``audit_events`` and one JSON line on the
``jupyterhub_templates.audit`` logger; ``jupyterhub-templates sync`` records itself too.
Refusals are recorded with their reason. A row holds names, paths and ids, never a
secret or a parameter value. Rows older than :attr:`AuditTrail.retention_days` are
purged periodically (by every replica; purging is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select
from traitlets import Float
from traitlets.config import LoggingConfigurable

from . import jsontext
from .db import Database
from .db.models import AuditEvent, utcnow
from .errors import InvalidInput

audit_log = logging.getLogger("jupyterhub_templates.audit")

InThread = Callable[..., Awaitable[Any]]

#: the fields of an event in answers and log lines, in order
EVENT_FIELDS = (
    "id",
    "time",
    "username",
    "on_behalf_of",
    "scope",
    "action",
    "target",
    "outcome",
    "status_code",
    "reason",
    "request_id",
    "client",
)


def describe_event(e: AuditEvent) -> dict[str, Any]:
    """An event as answers show it (:data:`EVENT_FIELDS`)."""
    return {
        "id": e.id,
        "time": jsontext.isoformat(e.time),
        "username": e.username,
        "on_behalf_of": e.on_behalf_of,
        "scope": e.scope,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome,
        "status_code": e.status_code,
        "reason": e.reason,
        "request_id": e.request_id,
        "client": e.client,
    }


def _clip(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AuditTrail(LoggingConfigurable):
    """Records events (off the event loop, after the answer), lists them, purges them."""

    retention_days = Float(
        90.0,
        help="""Days an audit event is kept; older ones are purged every purge_interval
        seconds. 0: kept forever.""",
    ).tag(config=True)

    purge_interval = Float(3600.0, help="Seconds between two purges of expired audit events.").tag(
        config=True
    )

    def __init__(self, db: Database, in_thread: InThread, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.in_thread = in_thread
        self._pending: set[asyncio.Future[Any]] = set()
        self._purger: asyncio.Task[None] | None = None

    # -- recording ---------------------------------------------------------------

    def _logged(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event, completed and clipped, once its JSON log line is written."""
        event["time"] = event.get("time") or utcnow()
        event["reason"] = _clip(event.get("reason"), 2000)
        event["target"] = _clip(event.get("target"), 1100)
        line = {k: event.get(k) for k in EVENT_FIELDS if k != "id"}
        line["time"] = jsontext.isoformat(event["time"])
        audit_log.info("%s", json.dumps(line, ensure_ascii=False))
        return event

    def record_now(self, **event: Any) -> None:
        """Record an event here and now (blocking: for commands, not the event loop)."""
        self.record(self._logged(event))

    def submit(self, **event: Any) -> None:
        """Record an event: its log line at once, its row in a worker thread (on the
        running loop; :meth:`stop` waits for the rows still being written)."""
        event = self._logged(event)
        future = asyncio.ensure_future(self.in_thread(self.record, event))
        self._pending.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            self.log.warning("audit event not stored: %s", future.exception())

    def record(self, event: dict[str, Any]) -> None:
        """Store one event (blocking)."""
        with self.db.write_session() as session:
            session.add(AuditEvent(**{k: v for k, v in event.items() if k in EVENT_FIELDS}))
            session.commit()

    # -- reading -----------------------------------------------------------------

    def list(
        self,
        *,
        username: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of events, newest first, filtered (blocking)."""
        query = select(AuditEvent)
        if username:
            query = query.where(AuditEvent.username == username)
        if action:
            query = query.where(AuditEvent.action == action)
        if target:
            query = query.where(AuditEvent.target == target)
        if since:
            query = query.where(AuditEvent.time >= _when(since, "since"))
        if until:
            query = query.where(AuditEvent.time < _when(until, "until"))
        query = query.order_by(AuditEvent.time.desc(), AuditEvent.id.desc())
        with self.db.session() as session:
            rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
        more = len(rows) > limit
        events = [describe_event(e) for e in rows[:limit]]
        return {
            "events": events,
            "count": len(events),
            "limit": limit,
            "offset": offset,
            "next_offset": offset + len(events) if more else None,
        }

    # -- retention ---------------------------------------------------------------

    def purge(self, now: datetime.datetime | None = None) -> int:
        """Delete events older than the retention (blocking); how many went."""
        if self.retention_days <= 0:
            return 0
        cutoff = (now or utcnow()) - datetime.timedelta(days=self.retention_days)
        with self.db.write_session() as session:
            result = session.execute(delete(AuditEvent).where(AuditEvent.time < cutoff))
            session.commit()
            return int(result.rowcount or 0)

    async def start(self) -> None:
        self._purger = asyncio.create_task(self._purge_forever(), name="audit-purge")

    async def _purge_forever(self) -> None:
        while True:
            try:
                purged = await self.in_thread(self.purge)
                if purged:
                    self.log.info(
                        "purged %d audit events older than %g days", purged, self.retention_days
                    )
            except Exception as e:  # the database may be away; try again next time
                self.log.warning("purging audit events failed: %s", e)
            await asyncio.sleep(max(1.0, self.purge_interval))

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop purging; wait (bounded) for the rows still being written."""
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purger
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)


def _when(value: str, what: str) -> datetime.datetime:
    try:
        ts = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z.") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=datetime.timezone.utc)
