"""The ``notebooks`` and ``notebook_params`` tables: what was created (or submitted),
where, from which template, with which parameters. Blocking; run in worker threads."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..catalog.catalog import isoformat
from ..db import Database
from ..db.models import Notebook, NotebookParam, utcnow
from ..errors import NotFound


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

    def list(
        self, username: str | None, *, template: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
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
            ).all()
            return {
                "notebooks": [describe_notebook(nb) for nb in rows],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

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

    def latest_at(self, username: str, path: str) -> tuple[int, str | None] | None:
        """``(id, template_name)`` of the newest record of ``path`` in the user's server."""
        with self.db.session() as session:
            row = session.execute(
                select(Notebook.id, Notebook.template_name)
                .where(Notebook.username == username, Notebook.path == path)
                .order_by(Notebook.id.desc())
                .limit(1)
            ).first()
            return (row[0], row[1]) if row else None
