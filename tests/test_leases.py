"""db/leases.py and db/notify.py on SQLite and on the real PostgreSQL.

A lease is held by one holder at a time, renewed by it, free to take once expired, and
given back; two replicas taking one lease at once never both get it. Notifications
reach another process's listener when (and only when) the writing transaction commits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from jupyterhub_templates.db import Database
from jupyterhub_templates.db.leases import Leases, replica_id
from jupyterhub_templates.db.notify import Listener, notify

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leases.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def test_one_holder_at_a_time_until_it_expires(db: Database) -> None:
    a, b = Leases(db, "a"), Leases(db, "b")
    assert a.take("watch", "alice", 30)
    assert not b.take("watch", "alice", 30)
    assert b.take("watch", "bob", 30)
    assert a.live("watch") == {"alice": "a", "bob": "b"}
    # the holder renews it (taking again is renewing); the other still cannot take it
    assert a.take("watch", "alice", 30)
    assert a.renew("watch", 0.2) == {"alice"}
    assert not b.take("watch", "alice", 30)
    deadline = time.monotonic() + 10
    while not b.take("watch", "alice", 30):  # free once expired
        assert time.monotonic() < deadline, "an expired lease was not free to take"
        time.sleep(0.05)
    assert a.live("watch")["alice"] == "b"
    # the old holder's renewal no longer covers it, nor does its release free it
    assert a.renew("watch", 30) == set()
    a.release("watch", "alice")
    assert a.live("watch")["alice"] == "b"
    b.release("watch", "alice")
    assert "alice" not in a.live("watch")
    assert a.take("watch", "alice", 30)
    a.release_all()
    assert a.live("watch") == {"bob": "b"}


def test_kinds_are_separate(db: Database) -> None:
    a, b = Leases(db, "a"), Leases(db, "b")
    assert a.take("watch", "alice", 30)
    assert b.take("schedule", "alice", 30)
    assert a.renew("schedule", 30) == set()
    assert a.live("schedule") == {"alice": "b"}


def test_replica_ids_differ() -> None:
    assert replica_id() != replica_id()
    assert len(replica_id()) <= 255


@pytest.mark.postgres
def test_racing_takers_get_it_once(pg_url: str) -> None:
    """Eight replicas take the same free lease at the same moment, forty times over:
    exactly one wins each round."""
    db = Database(pg_url)
    db.upgrade()
    holders = [Leases(db, f"r{i}") for i in range(8)]
    try:
        for round_ in range(40):
            barrier = threading.Barrier(len(holders))
            won: list[str] = []
            threads = [
                threading.Thread(target=_take, args=(h, f"user{round_}", barrier, won))
                for h in holders
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(won) == 1, (round_, won)
    finally:
        db.dispose()


def _take(leases: Leases, name: str, barrier: threading.Barrier, won: list[str]) -> None:
    barrier.wait()
    if leases.take("watch", name, 30):
        won.append(leases.holder)


@pytest.mark.postgres
def test_expiry_follows_the_database_clock(pg_url: str) -> None:
    """A replica whose own clock is wrong still sees leases expire on time: expiry is
    judged by PostgreSQL's now()."""
    db = Database(pg_url)
    db.upgrade()
    try:
        a = Leases(db, "a")
        assert a.take("watch", "alice", 60)
        with db.session() as session:
            remaining = session.scalar(
                text(
                    "SELECT extract(epoch FROM expires_at - now()) FROM leases "
                    "WHERE kind = 'watch' AND name = 'alice'"
                )
            )
        assert 55 < float(remaining) <= 60
    finally:
        db.dispose()


@pytest.mark.postgres
def test_notifications_arrive_at_commit(pg_url: str) -> None:
    """What one database connection notifies, another's listener hears once the
    transaction commits (not before, and nothing of a rolled-back one); after its
    connection is cut, the listener reconnects and says changes may have been missed."""
    writer, reader = Database(pg_url), Database(pg_url)

    async def scenario() -> None:
        heard: list[str] = []
        resets: list[int] = []
        got = asyncio.Event()

        def on_notify(payload: str) -> None:
            heard.append(payload)
            got.set()

        listener = Listener(reader, "test_channel", on_notify, lambda: resets.append(1))
        await listener.start()
        try:
            await _until(lambda: listener._conn is not None)

            def write(payload: str, commit: bool) -> None:
                with writer.write_session() as session:
                    notify(session, "test_channel", payload)
                    time.sleep(0.3)
                    if commit:
                        session.commit()

            task = asyncio.get_running_loop().run_in_executor(None, write, "1", True)
            await asyncio.sleep(0.15)
            assert heard == []  # not before the commit
            await task
            await asyncio.wait_for(got.wait(), 10)
            await asyncio.get_running_loop().run_in_executor(None, write, "2", False)
            await asyncio.get_running_loop().run_in_executor(None, write, "3", True)
            await _until(lambda: "3" in heard)
            assert heard == ["1", "3"]

            # cut the listening connection from the server's side
            def cut() -> None:
                with writer.write_session() as session:
                    session.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                        )
                    )
                    session.commit()

            await asyncio.get_running_loop().run_in_executor(None, cut)
            await _until(lambda: resets == [1])
            await asyncio.get_running_loop().run_in_executor(None, write, "4", True)
            await _until(lambda: "4" in heard)
        finally:
            await listener.stop()

    try:
        asyncio.run(scenario())
    finally:
        writer.dispose()
        reader.dispose()


async def _until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
