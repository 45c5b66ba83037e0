"""Leases: shared work that one service replica at a time does, handed over when its
holder dies.

A lease is a row ``(kind, name) → holder, expires_at`` in the ``leases`` table. Its
holder keeps it by renewing it before it expires and gives it back when done; a holder
that dies (SIGKILL, a lost host) stops renewing, and once the lease has expired another
replica may take it. Unlike a lock of :mod:`.locks`, a lease outlives transactions: it
is held for as long as the work goes on, on no connection in particular.

Expiry is judged by the database's clock (PostgreSQL's ``now()``), so replicas on hosts
whose clocks disagree still agree on it. Taking is one atomic upsert, so two replicas
trying at once never both hold a lease.

Kinds in use:

- ``watch``: following one user's runs (:class:`~..execution.monitor.ExecutionMonitor`).

All methods block; the service calls them in its worker threads.
"""

from __future__ import annotations

import datetime
import os
import secrets
import socket

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .models import Lease
from .session import Database

__all__ = ["Leases", "replica_id"]


def replica_id() -> str:
    """A name for this process, unique across replicas and restarts (host, pid, random),
    readable in the ``leases`` table."""
    return f"{socket.gethostname()[:200]}/{os.getpid()}/{secrets.token_hex(3)}"


class Leases:
    """The leases of one holder (``holder``, this process by default)."""

    def __init__(self, db: Database, holder: str | None = None) -> None:
        self.db = db
        self.holder = holder or replica_id()

    def take(self, kind: str, name: str, ttl: float) -> bool:
        """Hold ``(kind, name)`` for ``ttl`` seconds, if it is free, expired or already
        ours (then this renews it); whether we hold it now."""
        with self.db.write_session() as session:
            now = self.db.now(session)
            insert = (sqlite.insert if self.db.is_sqlite else postgresql.insert)(Lease)
            statement = (
                insert.values(
                    kind=kind,
                    name=name,
                    holder=self.holder,
                    taken_at=now,
                    expires_at=now + datetime.timedelta(seconds=ttl),
                )
                .on_conflict_do_update(
                    index_elements=[Lease.kind, Lease.name],
                    set_={
                        "holder": insert.excluded.holder,
                        "expires_at": insert.excluded.expires_at,
                        # a renewal keeps the time it was first taken
                        "taken_at": case(
                            (Lease.holder == self.holder, Lease.taken_at),
                            else_=insert.excluded.taken_at,
                        ),
                    },
                    where=(Lease.holder == self.holder) | (Lease.expires_at < now),
                )
                .returning(Lease.holder)
            )
            held = session.execute(statement).scalar_one_or_none()
            session.commit()
            return held == self.holder

    def renew(self, kind: str, ttl: float) -> set[str]:
        """Extend every lease of ``kind`` we hold by ``ttl`` seconds from now; the names
        we still hold (one taken over by another replica is no longer ours)."""
        with self.db.write_session() as session:
            now = self.db.now(session)
            names = session.scalars(
                update(Lease)
                .where(Lease.kind == kind, Lease.holder == self.holder)
                .values(expires_at=now + datetime.timedelta(seconds=ttl))
                .returning(Lease.name)
            ).all()
            session.commit()
            return set(names)

    def release(self, kind: str, name: str) -> None:
        """Give ``(kind, name)`` back, if we hold it."""
        with self.db.write_session() as session:
            session.execute(
                delete(Lease).where(
                    Lease.kind == kind, Lease.name == name, Lease.holder == self.holder
                )
            )
            session.commit()

    def release_all(self) -> None:
        """Give back every lease we hold (a replica stopping)."""
        with self.db.write_session() as session:
            session.execute(delete(Lease).where(Lease.holder == self.holder))
            session.commit()

    def live(self, kind: str) -> dict[str, str]:
        """The unexpired leases of ``kind``: name → holder, whoever holds them."""
        with self.db.session() as session:
            now = self.db.now(session)
            rows = session.execute(
                select(Lease.name, Lease.holder).where(Lease.kind == kind, Lease.expires_at >= now)
            ).all()
            return {name: holder for name, holder in rows}
