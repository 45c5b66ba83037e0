"""db/locks.py on the real PostgreSQL, and on SQLite where locks are no-ops."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from jupyterhub_templates.db import locks


def test_keys_are_the_ones_every_version_used() -> None:
    """Replicas of two versions during a rolling upgrade must lock the same keys."""
    for kind, parts in [("template", ("ml/a.ipynb",)), ("notebook", ("alice", "x/y.ipynb"))]:
        digest = hashlib.sha256("\0".join((kind, *parts)).encode()).digest()
        assert locks.lock_key(kind, *parts) == int.from_bytes(digest[:8], "big", signed=True)
    assert locks.lock_key("template", "a") != locks.lock_key("notebook", "a")
    assert locks.lock_key("notebook", "a", "b/c") != locks.lock_key("notebook", "a/b", "c")
    assert -(2**63) <= locks.lock_key("template", "é") < 2**63


@pytest.mark.postgres
def test_a_held_lock_excludes_others_until_the_transaction_ends(pg_url: str) -> None:
    engine = create_engine(pg_url)
    key = locks.lock_key("template", "ml/held.ipynb")
    try:
        with Session(engine) as first, Session(engine) as second:
            locks.hold(first, key)
            assert not locks.try_hold(second, key)
            assert locks.try_hold(second, locks.lock_key("template", "ml/other.ipynb"))
            second.rollback()
            first.commit()  # the end of the transaction releases it
            assert locks.try_hold(second, key)
            with engine.connect() as conn:
                assert not locks.try_hold(conn, key)
    finally:
        engine.dispose()


def test_sqlite_needs_no_lock(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'l.sqlite'}")
    key = locks.lock_key("template", "x")
    with Session(engine) as first, Session(engine) as second:
        locks.hold(first, key)
        assert locks.try_hold(second, key)
    engine.dispose()
