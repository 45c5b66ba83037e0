"""The template catalog: uploads and versions, listing, reading and deleting templates
(its SQL is :mod:`.queries`'; making it match the store, :mod:`.sync`'s).

The catalog keeps template metadata in SQL and bytes in a :class:`TemplateStore`:

- the current version of ``ml/a.ipynb`` is the store object ``ml/a.ipynb`` (the original
  service's key, docs/api-compatibility.md, so tools that read the bucket directly see
  the templates as before);
- every version, the current one included, is also kept immutable under
  ``.versions/ml/a.ipynb/<version>.ipynb``, and reads go there, so that a read racing
  an overwrite still gets whole, consistent bytes.

Every method blocks (database and store I/O); call them from worker threads.
Failures leave nothing half-written: rows are committed only after the objects are
written, and objects written for a transaction that fails are removed again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .. import jsontext
from ..db import Database, locks
from ..db.models import Template, TemplateVersion, utcnow
from ..errors import Conflict, InvalidInput, NotFound, TooLarge, Unavailable
from ..jsontext import isoformat
from ..stores.base import (
    MISSING_CONTENT,
    StoreUnavailable,
    TemplateStore,
    store_errors,
)
from .cache import ContentCache, TotalsCache
from .names import check_category, check_filename, split_name, version_key
from .parsing import parse_notebook
from .queries import (
    SORT_COLUMNS,
    ListPlan,
    describe_template,
    describe_version,
    find_for_read,
    json_page_statement,
)
from .sync import SyncReport, sync_catalog

MAX_DESCRIPTION = 10_000


class Catalog(LoggingConfigurable):
    """Templates: metadata in the database, bytes in the store."""

    max_upload_bytes = Int(
        10 * 1024 * 1024,
        help="Largest template accepted, in bytes. Larger uploads get 413.",
    ).tag(config=True)

    cache_bytes = Int(
        64 * 1024 * 1024,
        help="Memory for the content cache (template bytes keyed by sha256), in bytes.",
    ).tag(config=True)

    max_page_size = Int(1000, help="Largest page that list-templates returns.").tag(config=True)

    total_cache_seconds = Float(
        2.0,
        help="""How long list-templates reuses the total count of a filter, in seconds.

        Counting every match of a filter on every page is the largest cost of a page in
        a large catalog. This service's own uploads and deletes reset the counts at
        once; those of other replicas or of 'jupyterhub-templates sync' show in the
        total within this time (the templates listed are always current). 0: count on
        every request.
        """,
    ).tag(config=True)

    def __init__(self, db: Database, store: TemplateStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.store = store
        self.cache = ContentCache(self.cache_bytes)
        self.totals = TotalsCache(self.total_cache_seconds)

    # -- upload -------------------------------------------------------------

    def upload(
        self,
        *,
        filename: str,
        category: str,
        data: bytes,
        description: str = "",
        overwrite: bool = False,
        uploader: str = "",
    ) -> dict[str, Any]:
        """Validate and store a template; return its description.

        Raises InvalidInput, TooLarge, Conflict (name taken and not ``overwrite``, or a
        concurrent upload won), Unavailable (store or database down).
        """
        check_category(category)
        check_filename(filename)
        if len(data) > self.max_upload_bytes:
            raise TooLarge(
                f"The template is {len(data)} bytes; the limit is {self.max_upload_bytes}."
            )
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"The description must be text of at most {MAX_DESCRIPTION} chars.")
        info = parse_notebook(data)
        name = f"{category}/{filename}"
        return self._write_version(
            name,
            data,
            kernel_name=info.kernel_name,
            parameters=info.parameters,
            description=description,
            uploader=uploader,
            overwrite=overwrite,
        )

    def add_missing(self, templates: dict[str, bytes], *, uploader: str) -> list[str]:
        """Upload each ``{"category/file.ipynb": bytes}`` not yet in the catalog (never
        replacing one); return the names added. Used to load the example templates."""
        added = []
        for name, data in templates.items():
            category, filename = split_name(name)
            with self.db.session() as session:
                exists = session.scalar(select(Template.id).where(Template.name == name))
            if exists is not None:
                continue
            try:
                self.upload(
                    filename=filename,
                    category=category,
                    data=data,
                    description=_first_heading(data),
                    uploader=uploader,
                )
            except Conflict:
                continue  # another replica added it meanwhile
            added.append(name)
        return added

    def _write_version(
        self,
        name: str,
        data: bytes,
        *,
        kernel_name: str,
        parameters: list[dict[str, Any]],
        description: str | None,
        uploader: str,
        overwrite: bool,
    ) -> dict[str, Any]:
        category, filename = name.split("/", 1)
        sha = hashlib.sha256(data).hexdigest()
        now = utcnow()
        with self.db.write_session() as session:
            self._lock_name(session, name)
            template = session.scalars(
                select(Template).where(Template.name == name).with_for_update()
            ).first()
            previous: TemplateVersion | None = None
            if template is not None:
                if not overwrite:
                    raise Conflict(
                        f"Template {name} exists (version {template.current_version}); "
                        "upload with overwrite=true to add a new version."
                    )
                previous = session.scalars(
                    select(TemplateVersion).where(
                        TemplateVersion.template_id == template.id,
                        TemplateVersion.version == template.current_version,
                    )
                ).first()
                version = template.current_version + 1
                if description is None:
                    description = template.description
            else:
                version = 1
                template = Template(name=name, category=category, filename=filename, created_at=now)
                session.add(template)
            template.description = description or ""
            template.current_version = version
            template.size = len(data)
            template.sha256 = sha
            template.kernel_name = kernel_name
            template.parameters = parameters
            template.uploader = uploader
            template.updated_at = now
            vkey = version_key(name, version)
            template.versions.append(
                TemplateVersion(
                    version=version,
                    object_key=vkey,
                    size=len(data),
                    sha256=sha,
                    kernel_name=kernel_name,
                    parameters=parameters,
                    description=template.description,
                    uploader=uploader,
                    created_at=now,
                )
            )
            try:
                session.flush()
            except IntegrityError as e:
                raise Conflict(
                    f"Template {name} was created by another upload at the same time; "
                    "upload again with overwrite=true to add a new version."
                ) from e
            self._put(vkey, data)
            try:
                self._put(name, data)
                session.commit()
                self.totals.invalidate()
            except BaseException:
                self._undo_write(name, vkey, previous)
                raise
            result = describe_template(template)
        self.cache.put(sha, data)
        self.log.info("template %s version %d stored by %s", name, version, uploader or "-")
        return result

    def _lock_name(self, session: Session, name: str) -> None:
        """Serialize the writes of one template name until the transaction ends, across
        service processes: an upload and the object cleanup after a delete of the same
        name. Without it, a delete's removal of ``.versions/<name>/1.ipynb`` could hit
        the object of a new template of that name uploaded meanwhile. PostgreSQL: an
        advisory transaction lock (see :mod:`..db.locks`)."""
        locks.hold(session, locks.lock_key("template", name))

    def _put(self, key: str, data: bytes) -> None:
        with store_errors():
            self.store.put(key, data)

    def _undo_write(self, name: str, vkey: str, previous: TemplateVersion | None) -> None:
        """Best effort: remove what a failed upload wrote, restore the current object."""
        try:
            self.store.delete(vkey)
            if previous is None:
                self.store.delete(name)
            else:
                self.store.put(name, self.store.get(previous.object_key))
        except Exception as e:
            self.log.error("could not undo a failed write of %s: %s (run sync)", name, e)

    # -- reading ------------------------------------------------------------

    def list(
        self,
        *,
        category: str | None = None,
        q: str | None = None,
        limit: int = 100,
        offset: int = 0,
        sort: str = "name",
        order: str = "asc",
    ) -> dict[str, Any]:
        """One page of current templates, filtered and sorted, with the total count:
        ``{"templates", "total", "count", "limit", "offset"}``.

        Raises InvalidInput (bad parameters), Unavailable (database down).
        """
        plan = self._plan_list(category, q, limit, offset, sort, order)
        page, total_of = plan.statements()

        def query(session: Session) -> tuple[list[Any], int]:
            rows = session.execute(page, plan.params).all()
            return rows, plan.total(session, total_of, (lambda: rows[0].total) if rows else None)

        rows, total = self.db.query(query)
        plan.remember(total)
        templates = [describe_template(t) for t in rows]
        return {
            "templates": templates,
            "total": total,
            "count": len(templates),
            "limit": limit,
            "offset": offset,
        }

    def list_json(
        self,
        *,
        category: str | None = None,
        q: str | None = None,
        limit: int = 100,
        offset: int = 0,
        sort: str = "name",
        order: str = "asc",
    ) -> str:
        """:meth:`list`'s answer with ``"status": "success"`` first, as JSON text.

        On PostgreSQL the database writes the page's JSON itself (``json_agg``), so
        the service neither decodes nor re-encodes the 50 rows of a page: that was
        most of a listing's CPU time, and the service is bound by one core (BENCHMARKS.md).
        The JSON means the same as ``json.dumps`` of :meth:`list`'s answer (a test
        compares them); elsewhere it is that.
        """
        if self.db.is_sqlite:
            page_dict = self.list(
                category=category, q=q, limit=limit, offset=offset, sort=sort, order=order
            )
            return jsontext.dumps({"status": "success", **page_dict})
        plan = self._plan_list(category, q, limit, offset, sort, order)
        page, total_of = plan.statements()
        statement = json_page_statement(page, sort, order, with_total=plan.known_total is None)

        def query(session: Session) -> tuple[str, int, int]:
            body, count, total = session.execute(statement, plan.params).one()
            return body, count, plan.total(session, total_of, (lambda: total) if count else None)

        body, count, total = self.db.query(query)
        plan.remember(total)
        return (
            f'{{"status": "success", "templates": {body}, "total": {int(total)}, '
            f'"count": {int(count)}, "limit": {int(limit)}, "offset": {int(offset)}}}'
        )

    def _plan_list(
        self, category: str | None, q: str | None, limit: int, offset: int, sort: str, order: str
    ) -> ListPlan:
        if category:
            check_category(category)
        if sort not in SORT_COLUMNS:
            raise InvalidInput(f"sort must be one of {', '.join(SORT_COLUMNS)}.")
        if order not in ("asc", "desc"):
            raise InvalidInput("order must be 'asc' or 'desc'.")
        if not 1 <= limit <= self.max_page_size:
            raise InvalidInput(f"limit must be between 1 and {self.max_page_size}.")
        if offset < 0:
            raise InvalidInput("offset must be 0 or more.")
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if category:
            params["category"] = category
        if q:
            needle = q.strip().lower()
            if len(needle) > 200:
                raise InvalidInput("The search text is too long (200 characters at most).")
            # LIKE wildcards in the search text are literal
            params["needle"] = needle.replace("/", "//").replace("%", "/%").replace("_", "/_")
        key = (category or None, params.get("needle"))
        generation = self.totals.generation
        return ListPlan(
            totals=self.totals,
            total_key=key,
            generation=generation,
            known_total=self.totals.get(key),
            params=params,
            shape=(bool(category), bool(q), sort, order, bool(offset) and sort == "name" and not q),
        )

    def count(self) -> int:
        """How many templates the catalog holds."""
        return self.db.query(
            lambda session: session.scalar(select(func.count()).select_from(Template)) or 0
        )

    def categories(self) -> list[dict[str, Any]]:
        """Every category with its number of templates, by name."""
        rows = self.db.query(
            lambda session: session.execute(
                select(Template.category, func.count(Template.id))
                .group_by(Template.category)
                .order_by(Template.category)
            ).all()
        )
        return [{"name": name, "count": count} for name, count in rows]

    def get(
        self, name: str, *, version: int | None = None, content: bool = False
    ) -> dict[str, Any]:
        """A template's metadata, all its versions, and optionally its notebook JSON.

        With ``version``, the facts (size, parameters, …) are that version's.
        """
        info, chosen = self._describe_for_get(name, version)
        if content:
            info["content"] = self._content(chosen, self._stored_bytes(chosen))
        return info

    def get_json(self, name: str, *, version: int | None = None, content: bool = False) -> bytes:
        """The answer of ``get-template``, ``{"status": "success", "template": info,
        **info}`` with :meth:`get`'s ``info``, as JSON bytes.

        The notebook goes in as the bytes the store holds, neither decoded nor encoded:
        for a 10 MB notebook each of those is one long C call that holds the GIL, so the
        event loop would stall for as long. That is only done for bytes known to be
        strict JSON: the ones checked when stored (their hash matches), without a
        ``NaN`` or ``Infinity`` anywhere; others are decoded, made finite, and encoded.
        """
        info, chosen = self._describe_for_get(name, version)
        if not content:
            return jsontext.encode({"status": "success", "template": info, **info})
        data, checked = self._stored_bytes_checked(chosen)
        if not checked or b"NaN" in data or b"Infinity" in data:
            info["content"] = self._content(chosen, data)
            return jsontext.encode({"status": "success", "template": info, **info})
        marker = f"\x00{secrets.token_hex(16)}\x00"  # nothing a template says can equal it
        info["content"] = marker
        text = jsontext.encode({"status": "success", "template": info, **info})
        return data.join(text.split(jsontext.encode(marker)))

    def _describe_for_get(
        self, name: str, version: int | None
    ) -> tuple[dict[str, Any], TemplateVersion]:
        split_name(name)
        template, versions = self.db.query(lambda session: find_for_read(session, name))
        info = describe_template(template)
        info["current_version"] = template.current_version
        info["versions"] = [describe_version(v) for v in versions]
        chosen = self._pick_version(name, versions, version)
        if version is not None:
            info.update(
                version=chosen.version,
                size=chosen.size,
                sha256=chosen.sha256,
                kernel_name=chosen.kernel_name,
                parameters=chosen.parameters,
                description=chosen.description,
                uploader=chosen.uploader,
                last_modified=isoformat(chosen.created_at),
            )
        return info, chosen

    def _content(self, chosen: TemplateVersion, data: bytes) -> Any:
        """The stored notebook decoded, NaN and Infinity made null; Unavailable when the
        store holds something else than a notebook (changed behind the catalog's back)."""
        try:
            return jsontext.finite(json.loads(data))
        except (ValueError, RecursionError):
            raise Unavailable(
                f"The stored content of {chosen.object_key} is not a notebook; an admin "
                "should run 'jupyterhub-templates sync'."
            ) from None

    def load_version(self, name: str, version: int | None = None) -> tuple[TemplateVersion, bytes]:
        """A version (default: current) of a template and its bytes."""
        split_name(name)
        _template, versions = self.db.query(lambda session: find_for_read(session, name))
        chosen = self._pick_version(name, versions, version)
        return chosen, self._stored_bytes(chosen)

    def declared_parameters(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """The parameters a template version declares ([] once it is gone); one read."""
        try:
            return list(self.version_for_download(name, version).parameters or [])
        except NotFound:
            return []

    def version_for_download(self, name: str, version: int | None = None) -> TemplateVersion:
        """The version record whose object a download URL should point at."""
        split_name(name)
        _template, versions = self.db.query(lambda session: find_for_read(session, name))
        return self._pick_version(name, versions, version)

    def _find(self, session: Session, name: str) -> Template:
        """The template with its versions, loaded by the same statement (one round trip,
        one snapshot), so the returned object is usable after the session closes."""
        template = (
            session.scalars(
                select(Template).where(Template.name == name).options(joinedload(Template.versions))
            )
            .unique()
            .first()
        )
        if template is None:
            raise NotFound(f"No template named {name}.")
        return template

    @staticmethod
    def _pick_version(
        name: str, versions: list[TemplateVersion], version: int | None
    ) -> TemplateVersion:
        if not versions:
            raise NotFound(f"Template {name} has no stored version.")
        if version is None:
            return versions[-1]
        for v in versions:
            if v.version == version:
                return v
        raise NotFound(f"Template {name} has no version {version}.")

    def _stored_bytes(self, v: TemplateVersion) -> bytes:
        return self._stored_bytes_checked(v)[0]

    def _stored_bytes_checked(self, v: TemplateVersion) -> tuple[bytes, bool]:
        """The version's bytes, and whether they are the ones recorded (their hash
        matches: checked when read from the store; the cache holds only such bytes)."""
        data = self.cache.get(v.sha256)
        if data is not None:
            return data, True
        with store_errors(missing=MISSING_CONTENT):
            data = self.store.get(v.object_key)
        checked = hashlib.sha256(data).hexdigest() == v.sha256
        if checked:
            self.cache.put(v.sha256, data)
        else:
            self.log.warning("stored bytes of %s differ from the recorded hash", v.object_key)
        return data, checked

    # -- delete -------------------------------------------------------------

    def delete(self, name: str) -> dict[str, Any]:
        """Delete a template and all its versions.

        The current object goes first (inside the transaction, so a store failure
        changes nothing); version objects go after the commit, best effort (leftovers
        are removed by sync).
        """
        split_name(name)
        with self.db.write_session() as session:
            self._lock_name(session, name)
            template = session.scalars(
                select(Template).where(Template.name == name).with_for_update()
            ).first()
            if template is None:
                raise NotFound(f"No template named {name}.")
            version_keys = [v.object_key for v in template.versions]
            count = len(version_keys)
            session.delete(template)
            session.flush()
            with store_errors():
                self.store.delete(name)
            try:
                session.commit()
                self.totals.invalidate()
            except BaseException:
                if version_keys:
                    try:
                        self.store.put(name, self.store.get(version_keys[-1]))
                    except Exception as e:
                        self.log.error("could not restore %s after a failed delete: %s", name, e)
                raise
        self._delete_unreferenced(name, version_keys)
        self.log.info("template %s deleted (%d versions)", name, count)
        return {"template_name": name, "deleted_versions": count}

    def _delete_unreferenced(self, name: str, keys: list[str]) -> None:
        """After a template's row is gone: delete its version objects, except those a
        new template of the same name (uploaded since) uses under the same keys. Holds
        the name's write lock meanwhile, so no upload of it writes in between."""
        try:
            with self.db.write_session() as session:
                self._lock_name(session, name)
                used = set(
                    session.scalars(
                        select(TemplateVersion.object_key).where(
                            TemplateVersion.object_key.in_(keys)
                        )
                    )
                )
                self._delete_objects(k for k in keys if k not in used)
                session.rollback()
        except Unavailable as e:
            self.log.warning("left the objects of %s in the store (%s); sync removes them", name, e)

    def _delete_objects(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.store.delete(key)
            except StoreUnavailable as e:
                self.log.warning("left %s in the store (%s); sync removes it", key, e)

    # -- sync ---------------------------------------------------------------

    def sync(self, *, dry_run: bool = False, uploader: str = "sync") -> SyncReport:
        """Make the catalog match the store (see :func:`.sync.sync_catalog`)."""
        return sync_catalog(self, dry_run=dry_run, uploader=uploader)


def _first_heading(data: bytes) -> str:
    """The first Markdown heading of a notebook, as a description."""
    try:
        nb = json.loads(data)
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                source = "".join(cell.get("source", ""))
                for line in source.splitlines():
                    if line.strip():
                        return line.lstrip("#").strip()[:MAX_DESCRIPTION]
    except (ValueError, AttributeError, TypeError):
        pass
    return ""
