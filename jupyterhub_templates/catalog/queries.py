"""The catalog's SQL: listing statements and plans, the read of one template, and the
shapes in which templates and their versions appear in answers.

Statements are built once per shape of query (cached): building them costs more than
running them. On PostgreSQL a page's JSON is written by the database itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    bindparam,
    case,
    cast,
    extract,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from ..db.models import Template, TemplateVersion
from ..errors import NotFound
from ..jsontext import isoformat
from .cache import TotalsCache

SORT_COLUMNS = {
    "name": Template.name,
    "category": Template.category,
    "size": Template.size,
    "last_modified": Template.updated_at,
    "created": Template.created_at,
}


#: the columns a listing reads: rows, not ORM objects (no identity map, no lazy loads)
LIST_COLUMNS = [c for c in Template.__table__.c if c.key != "id"]


#: a template's fields in answers, in order: what :func:`describe_template` (and, on
#: PostgreSQL, :func:`json_page_statement`) writes and the OpenAPI ``Template`` lists
TEMPLATE_FIELDS = (
    "name",
    "category",
    "filename",
    "description",
    "size",
    "sha256",
    "kernel_name",
    "parameters",
    "version",
    "uploader",
    "created_at",
    "last_modified",
)
#: a version's fields in answers (:func:`describe_version`, OpenAPI ``TemplateVersion``)
VERSION_FIELDS = (
    "version",
    "size",
    "sha256",
    "kernel_name",
    "description",
    "uploader",
    "created_at",
)


def describe_template(t: Any) -> dict[str, Any]:
    """A template as answers show it (:data:`TEMPLATE_FIELDS`), from a :class:`Template`
    or a row of its columns."""
    return {
        "name": t.name,
        "category": t.category,
        "filename": t.filename,
        "description": t.description,
        "size": t.size,
        "sha256": t.sha256,
        "kernel_name": t.kernel_name,
        "parameters": t.parameters,
        "version": t.current_version,
        "uploader": t.uploader,
        "created_at": isoformat(t.created_at),
        "last_modified": isoformat(t.updated_at),
    }


@functools.lru_cache(maxsize=128)
def list_statements(
    category: bool, search: bool, sort: str, order: str, *, keyset: bool, with_total: bool
) -> tuple[Select[Any], Select[Any]]:
    """The page and total statements of :meth:`Catalog.list` for one shape of query,
    with bind parameters ``category``, ``needle`` (LIKE-escaped with ``/``), ``limit``
    and ``offset``. Built once per shape: building them costs more than running them.

    One statement, one round trip: the page, and (``with_total``) the total as an
    uncorrelated subquery that PostgreSQL evaluates once. ``keyset``: deep pages in
    name order without OFFSET's fetch of every skipped row: a subquery finds the page's
    first name by skipping index entries only (an index-only scan of the name or
    (category, name) index) and the page starts there; the same rows, as names are
    unique.
    """
    conditions: list[Any] = []
    if category:
        conditions.append(Template.category == bindparam("category"))
    if search:
        needle = bindparam("needle")
        conditions.append(
            or_(
                func.lower(Template.name).contains(needle, escape="/"),
                func.lower(Template.description).contains(needle, escape="/"),
            )
        )
    column = SORT_COLUMNS[sort]
    ordering = [column.asc() if order == "asc" else column.desc()]
    if sort != "name":
        ordering.append(Template.name.asc())
    total_of = select(func.count()).select_from(Template).where(*conditions)
    columns: list[Any] = list(LIST_COLUMNS)
    if with_total:
        columns.append(total_of.scalar_subquery().label("total"))
    page = select(*columns).where(*conditions).order_by(*ordering).limit(bindparam("limit"))
    if keyset:
        first = (
            select(Template.name)
            .where(*conditions)
            .order_by(*ordering)
            .offset(bindparam("offset"))
            .limit(1)
            .scalar_subquery()
        )
        page = page.where(Template.name >= first if order == "asc" else Template.name <= first)
    else:
        page = page.offset(bindparam("offset"))
    return page, total_of


@dataclass
class ListPlan:
    """One listing request, checked: its bind parameters, statement shape and the
    total count if recently known."""

    totals: TotalsCache
    total_key: tuple[str | None, str | None]
    generation: int
    known_total: int | None
    params: dict[str, Any]
    shape: tuple[bool, bool, str, str, bool]

    def statements(self) -> tuple[Select[Any], Select[Any]]:
        category, search, sort, order, keyset = self.shape
        return list_statements(
            category, search, sort, order, keyset=keyset, with_total=self.known_total is None
        )

    def total(
        self, session: Session, total_of: Select[Any], carried: Callable[[], int] | None
    ) -> int:
        """The listing's total: recently known, else ``carried()`` by the page's rows
        (None when the page is empty; called only when the statement had the total),
        else counted. An empty page at offset 0 means nothing matches; past the end, no
        row carried the total, so it is counted."""
        if self.known_total is not None:
            return self.known_total
        if carried is not None:
            return carried()
        return (session.scalar(total_of, self.params) or 0) if self.params["offset"] else 0

    def remember(self, total: int) -> None:
        if self.known_total is None:
            self.totals.put(self.total_key, total, self.generation)


def _utc_text(column: Any) -> Any:
    """SQL for :func:`isoformat` on PostgreSQL: ``2026-11-26T17:02:00.123456Z``, the
    fraction left out when it is zero, as Python's ``isoformat`` does."""
    utc = func.timezone("UTC", column)
    fraction = case(
        (func.mod(cast(extract("microseconds", column), BigInteger), 1_000_000) == 0, ""),
        else_=func.to_char(utc, ".US"),
    )
    return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS').concat(fraction).concat("Z")


@functools.lru_cache(maxsize=128)
def json_page_statement(
    page: Select[Any], sort: str, order: str, *, with_total: bool
) -> Select[Any]:
    """PostgreSQL: ``page`` as one row (its templates as JSON text in
    :func:`describe_template`'s format, the row count, the total or NULL)."""
    p = page.subquery("p")
    column = p.c[SORT_COLUMNS[sort].key]
    ordering = [column.asc() if order == "asc" else column.desc()]
    if sort != "name":
        ordering.append(p.c.name.asc())
    template = func.json_build_object(
        "name", p.c.name,
        "category", p.c.category,
        "filename", p.c.filename,
        "description", p.c.description,
        "size", p.c.size,
        "sha256", p.c.sha256,
        "kernel_name", p.c.kernel_name,
        "parameters", p.c.parameters,
        "version", p.c.current_version,
        "uploader", p.c.uploader,
        "created_at", _utc_text(p.c.created_at),
        "last_modified", _utc_text(p.c.updated_at),
    )  # fmt: skip
    templates = func.coalesce(
        cast(func.json_agg(aggregate_order_by(template, *ordering)), Text), "[]"
    )
    total = func.max(p.c.total) if with_total else null()
    return select(templates, func.count(), total).select_from(p)


_VERSION_COLUMNS = list(TemplateVersion.__table__.c)
_FIND_FOR_READ = (
    select(*LIST_COLUMNS, *[c.label(f"v_{c.key}") for c in _VERSION_COLUMNS])
    .select_from(Template)
    .outerjoin(TemplateVersion, TemplateVersion.template_id == Template.id)
    .where(Template.name == bindparam("name"))
    .order_by(TemplateVersion.version)
)


def find_for_read(session: Session, name: str) -> tuple[Any, list[TemplateVersion]]:
    """A template (a row of its columns) and its versions, oldest first, as detached
    objects, by one statement (one round trip, one snapshot) and without the ORM's
    loading, which cost as much as the query. Raises NotFound."""
    rows = session.execute(_FIND_FOR_READ, {"name": name}).all()
    if not rows:
        raise NotFound(f"No template named {name}.")
    versions = [
        TemplateVersion(**{c.key: getattr(row, f"v_{c.key}") for c in _VERSION_COLUMNS})
        for row in rows
        if row.v_id is not None
    ]
    return rows[0], versions


def describe_version(v: TemplateVersion) -> dict[str, Any]:
    """A version as answers show it (:data:`VERSION_FIELDS`)."""
    return {
        "version": v.version,
        "size": v.size,
        "sha256": v.sha256,
        "kernel_name": v.kernel_name,
        "description": v.description,
        "uploader": v.uploader,
        "created_at": isoformat(v.created_at),
    }
