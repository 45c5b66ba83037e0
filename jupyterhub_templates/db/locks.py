"""Locks that serialize work across service processes (replicas), held by a transaction.

PostgreSQL: transaction-level advisory locks (``pg_advisory_xact_lock``), released when
the transaction ends, whatever ends it, so a crashed process never leaves one behind.
SQLite: write transactions are serialized already (``BEGIN IMMEDIATE``, one process),
so taking a lock is a no-op there and trying one always succeeds.

A lock is named by a kind and parts (``lock_key("template", name)``); kinds in use:

- ``template``: the writes of one template name (upload, delete, object cleanup);
- ``notebook``: a path claimed in one user's server while a notebook is written there;
- ``folders``: folders being made in one user's server (by a create holding a claim);
- migrations: :data:`MIGRATIONS`, while the schema is upgraded.

Work that outlives a transaction (which replica follows whose runs) holds a lease of
:mod:`.leases` instead.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

__all__ = ["MIGRATIONS", "hold", "lock_key", "try_hold"]

#: the schema upgrade's key (a fixed number, as every released version has used)
MIGRATIONS = 7305114


def lock_key(kind: str, *parts: str) -> int:
    """The advisory lock key (signed 64 bits) of ``kind`` and ``parts``; stable across
    processes and versions."""
    digest = hashlib.sha256("\0".join((kind, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _on_sqlite(conn: Session | Connection) -> bool:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.dialect.name == "sqlite"


def hold(conn: Session | Connection, key: int) -> None:
    """Wait for the lock ``key`` and hold it until ``conn``'s transaction ends."""
    if not _on_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def try_hold(conn: Session | Connection, key: int) -> bool:
    """Take the lock ``key`` until ``conn``'s transaction ends, if no other transaction
    holds it; whether it was taken."""
    if _on_sqlite(conn):
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar())
