"""The database: engine, sessions, migrations and the mapping of its failures.

All methods block. The service calls them from its worker threads, never on the
event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ..errors import Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"

#: errors meaning "the database is not reachable or not answering", as opposed to a bug
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,
)

log = logging.getLogger(__name__)


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One database, shared by every request handler of the process.

    ``session()`` gives a read session; ``write_session()`` one that takes the write lock
    at BEGIN on SQLite (``BEGIN IMMEDIATE``), so that read-then-write transactions
    serialize instead of failing with "database is locked" on upgrade.
    PostgreSQL uses row locks (``SELECT ... FOR UPDATE``) instead.
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

    def __repr__(self) -> str:
        return f"<Database {safe_url(self.url)}>"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads; rolled back on exit unless committed."""
        with self._guard(), self._sessions() as session:
            yield session

    @contextlib.contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for read-then-write transactions. Commit explicitly."""
        with self._guard(), self._write_sessions() as session:
            yield session

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except UNAVAILABLE_ERRORS as e:
            log.warning("database unavailable: %s", type(e).__name__)
            raise Unavailable("The database is unavailable; try again later.") from e

    def check(self) -> None:
        """Raise :class:`Unavailable` unless the database answers ``SELECT 1``."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied. Safe to run from several
        processes at once on PostgreSQL (serialized by an advisory lock)."""
        with self._guard(), self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(7305114)"))
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


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
