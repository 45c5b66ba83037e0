"""The database: engine, sessions, migrations and the mapping of its failures.

All methods block. The service calls them from its worker threads, never on the
event loop.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, exc, func, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .. import metrics
from ..errors import Unavailable
from . import locks

MIGRATIONS = Path(__file__).parent / "migrations"

#: errors meaning "the database is not reachable or not answering", as opposed to a bug
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@contextlib.contextmanager
def database_errors(kind: str = "write") -> Iterator[None]:
    """The one mapping of database failures to the service's errors: an unreachable or
    unanswering database (:data:`UNAVAILABLE_ERRORS`) becomes :class:`Unavailable`
    (503); anything else is a bug and goes on as it is. The transaction (``kind``: read
    or write) is timed and its failures counted (:mod:`..metrics`)."""
    try:
        with metrics.database_call(kind, UNAVAILABLE_ERRORS):
            yield
    except UNAVAILABLE_ERRORS as e:
        log.warning("database unavailable: %s", type(e).__name__)
        raise Unavailable("The database is unavailable; try again later.") from e


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One database, shared by every request handler of the process.

    ``session()`` gives a read session; ``write_session()`` one that takes the write lock
    at BEGIN on SQLite (``BEGIN IMMEDIATE``), so that read-then-write transactions
    serialize instead of failing with "database is locked" on upgrade.
    PostgreSQL uses row locks (``SELECT ... FOR UPDATE``) instead.

    ``query(fn)`` is the fast path for single-statement reads (the catalog's listing and
    lookups): on PostgreSQL it runs on its own pool of autocommit connections without
    pre-ping, so one read costs one round trip (no ping, no ``BEGIN``, no ``ROLLBACK``),
    and recovers from a restarted database by retrying once on a fresh connection.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "echo": echo, "future": True}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            write_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            write_bind = self.engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(write_bind, expire_on_commit=False)
        self.read_engine: Engine = self.engine
        if not self.is_sqlite:
            # Autocommit: no BEGIN/ROLLBACK round trips; nothing to reset on check-in.
            # No pre-ping: read() retries once instead when a connection turns out dead.
            self.read_engine = create_engine(
                self.url,
                future=True,
                echo=echo,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Database {safe_url(self.url)}>"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads; rolled back on exit unless committed."""
        with database_errors("read"), self._sessions() as session:
            yield session

    def query(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` on a read-only session, each statement its own snapshot on
        PostgreSQL (autocommit), so ``fn`` should read with one statement when it needs
        a consistent view. ``fn`` may run twice: when the first attempt finds its pooled
        connection dead (the database restarted; every older pooled connection is then
        discarded too), it runs again on a new connection. Raises :class:`Unavailable`
        when the database cannot be reached."""
        with database_errors("read"):
            try:
                with self._read_sessions() as session:
                    return fn(session)
            except exc.DBAPIError as e:
                if not e.connection_invalidated:
                    raise
                log.info("database connection lost (%s); retrying once", type(e).__name__)
            with self._read_sessions() as session:
                return fn(session)

    @contextlib.contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for read-then-write transactions. Commit explicitly."""
        with database_errors(), self._write_sessions() as session:
            yield session

    def now(self, session: Session) -> datetime.datetime:
        """The current time by the database's clock on PostgreSQL (replicas on hosts
        whose clocks disagree still agree on it), by this process's on SQLite (one
        process), as an aware UTC datetime."""
        if self.is_sqlite:
            return datetime.datetime.now(datetime.timezone.utc)
        value = session.scalar(text("SELECT now()"))
        assert isinstance(value, datetime.datetime)
        return value.astimezone(datetime.timezone.utc)

    def clock(self) -> Any:
        """:meth:`now` for use inside a statement: PostgreSQL's ``now()``, evaluated by
        the database itself (no round trip of its own), or this process's time on
        SQLite. For reads that only compare; a value to write comes from :meth:`now`."""
        if self.is_sqlite:
            return datetime.datetime.now(datetime.timezone.utc)
        return func.now()

    def check(self) -> None:
        """Raise :class:`Unavailable` unless the database answers ``SELECT 1``."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied. Safe to run from several
        processes at once on PostgreSQL (serialized by an advisory lock)."""
        with database_errors(), self.engine.begin() as conn:
            locks.hold(conn, locks.MIGRATIONS)
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def alembic_config() -> Config:
    """Alembic configuration pointing at the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is lazy).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
