"""The ``notebooks`` and ``notebook_params`` tables: what was created (or submitted),
where, from which template, with which parameters. Blocking; run in worker threads."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import jsontext
from ..db import Database, locks
from ..db.models import Notebook, NotebookParam, utcnow
from ..db.session import database_errors
from ..errors import NotFound
from ..jsontext import isoformat

log = logging.getLogger(__name__)


def describe_notebook(nb: Notebook) -> dict[str, Any]:
    return {
        "id": nb.id,
        "username": nb.username,
        "path": nb.path,
        "source": nb.source,
        "template_name": nb.template_name,
        "template_version": nb.template_version,
        "description": nb.description,
        "parameters": {p.name: json.loads(p.value) for p in nb.params},
        "created_at": isoformat(nb.created_at),
        "updated_at": isoformat(nb.updated_at),
    }


def _params(parameters: dict[str, Any]) -> list[NotebookParam]:
    return [
        NotebookParam(position=i, name=name, value=json.dumps(value, ensure_ascii=False))
        for i, (name, value) in enumerate(parameters.items())
    ]


class PathClaim:
    """The exclusive right to write ``path`` in a user's server, and the notebook's
    record waiting to be committed. From :meth:`NotebookRecords.claim`; blocking
    methods, run in worker threads, one at a time. End it with :meth:`commit` or
    :meth:`abort`.

    PostgreSQL: one open transaction holding the advisory lock
    ``locks.lock_key("notebook", username, path)`` (:mod:`..db.locks`) and then the uncommitted
    record (:meth:`add`), so that every service process sharing the database waits for
    it, and the record appears when the lock goes (commit) or never (abort, or the
    process dying: the server rolls back and releases). SQLite (one process): the
    record is committed by :meth:`add` and removed again on abort; the caller's
    in-process lock serializes.
    """

    def __init__(
        self, records: NotebookRecords, session: Session | None, username: str = ""
    ) -> None:
        self._records = records
        self._username = username
        self._session = session
        self._pg = session is not None
        self.record: dict[str, Any] = {}

    @property
    def needs_commit(self) -> bool:
        """Whether :meth:`commit` has work to do (PostgreSQL)."""
        return self._session is not None

    def add(self, **fields: Any) -> dict[str, Any]:
        """Add the record (the keyword arguments of :meth:`NotebookRecords.add`) of the
        claimed path; it becomes visible to others on :meth:`commit` (PostgreSQL)."""
        if not self._pg:
            self.record = self._records.add(**fields)
            return self.record
        if self._session is None:
            raise RuntimeError("the claim has ended")
        nb = Notebook(**_fields(fields))
        with database_errors():
            self._session.add(nb)
            self._session.flush()
        self.record = describe_notebook(nb)
        return self.record

    def hold_folders(self) -> None:
        """Wait until no other service process is making folders in the user's server,
        then keep the others from doing so until the claim ends (PostgreSQL: the lock
        ``locks.lock_key("folders", username)``), so that two replicas creating into one
        new folder make it once: a second creation of a folder is a logged error in the
        user's server. SQLite (one process): nothing to do."""
        if self._session is not None:
            with database_errors():
                locks.hold(self._session, locks.lock_key("folders", self._username))

    def commit(self) -> None:
        """Make the record visible and release the path."""
        if self._session is None:
            return
        session, self._session = self._session, None
        try:
            with database_errors():
                session.commit()
        finally:
            session.close()

    def abort(self) -> None:
        """Drop the record and release the path. Never raises."""
        session, self._session = self._session, None
        try:
            if session is not None:
                session.close()  # rolls back: no record, lock released
            elif not self._pg and self.record:
                self._records.remove(self.record["id"])
        except Exception as e:  # best effort: a lost connection rolls back too
            log.warning("could not abort the claim of a notebook path: %s", type(e).__name__)


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    fields["params"] = _params(fields.pop("parameters"))
    return fields


class NotebookRecords:
    """Reads and writes of notebook records. Owner checks are the caller's job:
    ``username=None`` means every user's."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        *,
        username: str,
        path: str,
        parameters: dict[str, Any],
        source: str = "template",
        template_name: str | None = None,
        template_version: int | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        with self.db.write_session() as session:
            nb = Notebook(
                username=username,
                path=path,
                source=source,
                template_name=template_name,
                template_version=template_version,
                description=description,
                params=_params(parameters),
            )
            session.add(nb)
            session.commit()
            return describe_notebook(nb)

    def claim(self, username: str, path: str) -> PathClaim | None:
        """Claim ``path`` in the user's server; None when another transaction holds it
        (try again later). See :class:`PathClaim`."""
        if self.db.is_sqlite:
            return PathClaim(self, None)
        session = Session(self.db.engine, expire_on_commit=False)
        claim = PathClaim(self, session, username)
        try:
            with database_errors():
                if not locks.try_hold(session, locks.lock_key("notebook", username, path)):
                    claim.abort()
                    return None
        except BaseException:
            claim.abort()
            raise
        return claim

    def remove(self, notebook_id: int) -> None:
        with self.db.write_session() as session:
            nb = session.get(Notebook, notebook_id)
            if nb is not None:
                session.delete(nb)
                session.commit()

    def get(self, notebook_id: int, username: str | None = None) -> dict[str, Any]:
        """The record; NotFound when absent or (with ``username``) someone else's."""
        with self.db.session() as session:
            nb = session.get(Notebook, notebook_id, options=[selectinload(Notebook.params)])
            if nb is None or (username is not None and nb.username != username):
                raise NotFound(f"No notebook {notebook_id}.")
            return describe_notebook(nb)

    def list_json(
        self,
        username: str | None,
        *,
        template: str | None,
        limit: int,
        offset: int,
        max_bytes: int,
    ) -> str:
        """A page of notebook records, newest first, as JSON text of at most about
        ``max_bytes`` (:func:`jupyterhub_templates.jsontext.page`)."""
        query = select(Notebook)
        if username is not None:
            query = query.where(Notebook.username == username)
        if template:
            query = query.where(Notebook.template_name == template)
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.options(selectinload(Notebook.params))
                .order_by(Notebook.id.desc())
                .limit(limit)
                .offset(offset)
                .execution_options(yield_per=50)
            )
            return jsontext.page(
                "notebooks",
                (describe_notebook(nb) for nb in rows),
                total=total,
                limit=limit,
                offset=offset,
                max_bytes=max_bytes,
            )

    def update(
        self,
        notebook_id: int,
        username: str | None,
        *,
        path: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self.db.write_session() as session:
            nb = session.get(Notebook, notebook_id, options=[selectinload(Notebook.params)])
            if nb is None or (username is not None and nb.username != username):
                raise NotFound(f"No notebook {notebook_id}.")
            if path is not None:
                nb.path = path
            if description is not None:
                nb.description = description
            if parameters is not None:
                nb.params = _params(parameters)
            nb.updated_at = utcnow()
            session.commit()
            return describe_notebook(nb)

    def delete(self, notebook_id: int, username: str | None) -> None:
        with self.db.write_session() as session:
            nb = session.get(Notebook, notebook_id)
            if nb is None or (username is not None and nb.username != username):
                raise NotFound(f"No notebook {notebook_id}.")
            session.delete(nb)
            session.commit()

    def latest_at(self, username: str, path: str) -> dict[str, Any] | None:
        """The newest record of ``path`` in the user's server (:func:`describe_notebook`),
        or None."""
        with self.db.session() as session:
            nb = session.scalars(
                select(Notebook)
                .where(Notebook.username == username, Notebook.path == path)
                .order_by(Notebook.id.desc())
                .limit(1)
                .options(selectinload(Notebook.params))
            ).first()
            return describe_notebook(nb) if nb is not None else None
