"""Change notifications across service replicas: PostgreSQL's ``LISTEN``/``NOTIFY``.

A write that changes a shared record sends the record's id on a channel in the same
transaction; PostgreSQL delivers it to every listening connection when (and only if) the
transaction commits, so a replica that reads after the notification sees the change.
Each replica listens on one connection of its own, watched by the event loop (no thread
waits on it), and wakes what waits on that record: a request of one replica waiting for
a run that another replica follows answers as soon as the other one writes.

SQLite: the database of one process, whose waiters are woken in process; both ends are
no-ops there.

Channels in use: :data:`EXECUTIONS` (payload: an execution's id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .session import Database

__all__ = ["EXECUTIONS", "Listener", "notify"]

log = logging.getLogger(__name__)

#: an execution record changed; payload: its id
EXECUTIONS = "jupyterhub_templates_executions"


def notify(session: Session, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when ``session``'s transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


class Listener:
    """Calls ``on_notify(payload)`` on the event loop for each notification on
    ``channel``; after a lost connection is replaced (notifications may have been missed
    meanwhile) calls ``on_reset()``. Reconnects with a growing delay, forever, until
    :meth:`stop`."""

    def __init__(
        self,
        db: Database,
        channel: str,
        on_notify: Callable[[str], None],
        on_reset: Callable[[], None],
    ) -> None:
        self.db = db
        self.channel = channel
        self.on_notify = on_notify
        self.on_reset = on_reset
        self._conn: Any = None
        #: the descriptor watched (kept: a broken connection no longer tells it)
        self._fd: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return not self.db.is_sqlite

    async def start(self) -> None:
        """Begin listening (in the background: the database may not be up yet)."""
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"listen-{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    def _connect(self) -> Any:
        """A connection of its own (taken out of the pool), listening. Blocking."""
        pooled = self.db.engine.raw_connection()
        pooled.detach()
        conn = pooled.dbapi_connection
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                # a channel is an identifier: quoted, never a parameter
                cursor.execute(f'LISTEN "{self.channel}"')
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.5
        connected_before = False
        while True:
            try:
                self._conn = await loop.run_in_executor(None, self._connect)
            except Exception as e:
                log.warning("cannot listen for changes yet (%s); retrying", type(e).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            self._lost.clear()
            self._fd = self._conn.fileno()
            loop.add_reader(self._fd, self._readable)
            if connected_before:
                log.info("listening for changes again")
                self.on_reset()
            connected_before = True
            try:
                await self._lost.wait()
            finally:
                self._close()

    def _readable(self) -> None:
        conn = self._conn
        try:
            conn.poll()
        except Exception as e:
            log.warning("lost the connection that listens for changes (%s)", type(e).__name__)
            self._lost.set()
            return
        while conn.notifies:
            note = conn.notifies.pop(0)
            try:
                self.on_notify(note.payload)
            except Exception:
                log.exception("handling a change notification failed")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        fd, self._fd = self._fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.close()
