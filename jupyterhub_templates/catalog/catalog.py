"""The template catalog: uploads, listing, reading, deleting and syncing templates.

The catalog keeps template metadata in SQL and bytes in a :class:`TemplateStore`:

- the current version of ``ml/a.ipynb`` is the store object ``ml/a.ipynb`` (the seed's key,
  so tools that read the bucket directly see the templates as before);
- every version, the current one included, is also kept immutable under
  ``.versions/ml/a.ipynb/<version>.ipynb``, and reads go there, so that a read racing
  an overwrite still gets whole, consistent bytes.

Every method blocks (database and store I/O); call them from worker threads.
Failures leave nothing half-written: rows are committed only after the objects are
written, and objects written for a transaction that fails are removed again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from traitlets import Int
from traitlets.config import LoggingConfigurable

from ..db import Database
from ..db.models import Template, TemplateVersion, utcnow
from ..errors import Conflict, InvalidInput, NotFound, TooLarge, Unavailable
from ..stores.base import ObjectNotFound, StoreUnavailable, TemplateStore
from .cache import ContentCache
from .names import VERSIONS_PREFIX, check_category, check_filename, split_name, version_key
from .notebooks import parse_notebook

SORT_COLUMNS = {
    "name": Template.name,
    "category": Template.category,
    "size": Template.size,
    "last_modified": Template.updated_at,
    "created": Template.created_at,
}
MAX_DESCRIPTION = 10_000


def isoformat(ts: datetime.datetime) -> str:
    """UTC timestamp as ISO 8601 with a ``Z``."""
    return ts.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _describe_template(t: Template) -> dict[str, Any]:
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


def _describe_version(v: TemplateVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "size": v.size,
        "sha256": v.sha256,
        "kernel_name": v.kernel_name,
        "description": v.description,
        "uploader": v.uploader,
        "created_at": isoformat(v.created_at),
    }


@dataclass
class SyncReport:
    """What :meth:`Catalog.sync` found (and, unless dry run, did)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.orphans_removed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "orphans_removed": self.orphans_removed,
            "ignored": self.ignored,
        }


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

    def __init__(self, db: Database, store: TemplateStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.store = store
        self.cache = ContentCache(self.cache_bytes)

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
            except BaseException:
                self._undo_write(name, vkey, previous)
                raise
            result = _describe_template(template)
        self.cache.put(sha, data)
        self.log.info("template %s version %d stored by %s", name, version, uploader or "-")
        return result

    def _put(self, key: str, data: bytes) -> None:
        try:
            self.store.put(key, data)
        except StoreUnavailable as e:
            raise Unavailable(f"The template store is unavailable: {e}") from e

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
        """One page of current templates, filtered and sorted, with the total count."""
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
        conditions = []
        if category:
            conditions.append(Template.category == category)
        if q:
            needle = q.strip().lower()
            if len(needle) > 200:
                raise InvalidInput("The search text is too long (200 characters at most).")
            conditions.append(
                or_(
                    func.lower(Template.name).contains(needle, autoescape=True),
                    func.lower(Template.description).contains(needle, autoescape=True),
                )
            )
        column = SORT_COLUMNS[sort]
        ordering = [column.asc() if order == "asc" else column.desc()]
        if sort != "name":
            ordering.append(Template.name.asc())
        with self.db.session() as session:
            total = session.scalar(select(func.count(Template.id)).where(*conditions)) or 0
            rows = session.scalars(
                select(Template).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
            ).all()
            templates = [_describe_template(t) for t in rows]
        return {
            "templates": templates,
            "total": total,
            "count": len(templates),
            "limit": limit,
            "offset": offset,
        }

    def categories(self) -> list[dict[str, Any]]:
        """Every category with its number of templates, by name."""
        with self.db.session() as session:
            rows = session.execute(
                select(Template.category, func.count(Template.id))
                .group_by(Template.category)
                .order_by(Template.category)
            ).all()
        return [{"name": name, "count": count} for name, count in rows]

    def get(
        self, name: str, *, version: int | None = None, content: bool = False
    ) -> dict[str, Any]:
        """A template's metadata, all its versions, and optionally its notebook JSON.

        With ``version``, the facts (size, parameters, …) are that version's.
        """
        split_name(name)
        with self.db.session() as session:
            template = self._find(session, name)
            versions = list(template.versions)
            info = _describe_template(template)
        info["current_version"] = template.current_version
        info["versions"] = [_describe_version(v) for v in versions]
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
        if content:
            info["content"] = json.loads(self._read(chosen))
        return info

    def read(self, name: str, version: int | None = None) -> tuple[TemplateVersion, bytes]:
        """A version (default: current) of a template and its bytes."""
        split_name(name)
        with self.db.session() as session:
            template = self._find(session, name)
            chosen = self._pick_version(name, list(template.versions), version)
        return chosen, self._read(chosen)

    def version_for_download(self, name: str, version: int | None = None) -> TemplateVersion:
        """The version record whose object a download URL should point at."""
        split_name(name)
        with self.db.session() as session:
            template = self._find(session, name)
            return self._pick_version(name, list(template.versions), version)

    def _find(self, session: Session, name: str) -> Template:
        template = session.scalars(select(Template).where(Template.name == name)).first()
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

    def _read(self, v: TemplateVersion) -> bytes:
        data = self.cache.get(v.sha256)
        if data is not None:
            return data
        try:
            data = self.store.get(v.object_key)
        except ObjectNotFound as e:
            raise NotFound(
                "The template's content is missing from the store; an admin should run "
                "'jupyterhub-templates sync'."
            ) from e
        except StoreUnavailable as e:
            raise Unavailable(f"The template store is unavailable: {e}") from e
        if hashlib.sha256(data).hexdigest() == v.sha256:
            self.cache.put(v.sha256, data)
        else:
            self.log.warning("stored bytes of %s differ from the recorded hash", v.object_key)
        return data

    # -- delete -------------------------------------------------------------

    def delete(self, name: str) -> dict[str, Any]:
        """Delete a template and all its versions.

        The current object goes first (inside the transaction, so a store failure
        changes nothing); version objects go after the commit, best effort (leftovers
        are removed by sync).
        """
        split_name(name)
        with self.db.write_session() as session:
            template = session.scalars(
                select(Template).where(Template.name == name).with_for_update()
            ).first()
            if template is None:
                raise NotFound(f"No template named {name}.")
            version_keys = [v.object_key for v in template.versions]
            count = len(version_keys)
            session.delete(template)
            session.flush()
            try:
                self.store.delete(name)
            except StoreUnavailable as e:
                raise Unavailable(f"The template store is unavailable: {e}") from e
            try:
                session.commit()
            except BaseException:
                if version_keys:
                    try:
                        self.store.put(name, self.store.get(version_keys[-1]))
                    except Exception as e:
                        self.log.error("could not restore %s after a failed delete: %s", name, e)
                raise
        self._delete_objects(version_keys)
        self.log.info("template %s deleted (%d versions)", name, count)
        return {"template_name": name, "deleted_versions": count}

    def _delete_objects(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.store.delete(key)
            except StoreUnavailable as e:
                self.log.warning("left %s in the store (%s); sync removes it", key, e)

    # -- sync ---------------------------------------------------------------

    def sync(self, *, dry_run: bool = False, uploader: str = "sync") -> SyncReport:
        """Make the catalog match the store.

        Objects at ``<category>/<file>.ipynb`` that the catalog lacks are added; templates
        whose object is gone are removed; objects whose bytes differ from the current
        version become a new version; version objects no row refers to are deleted.
        Objects with invalid names or content are reported in ``ignored``.
        """
        report = SyncReport(dry_run=dry_run)
        try:
            objects = list(self.store.list())
        except StoreUnavailable as e:
            raise Unavailable(f"The template store is unavailable: {e}") from e
        current: dict[str, int] = {}
        version_objects: set[str] = set()
        for obj in objects:
            if obj.key.startswith(VERSIONS_PREFIX):
                version_objects.add(obj.key)
                continue
            try:
                split_name(obj.key)
            except InvalidInput as e:
                report.ignored[obj.key] = e.message
                continue
            current[obj.key] = obj.size
        with self.db.session() as session:
            known = {t.name: t.sha256 for t in session.scalars(select(Template))}
            referenced = set(session.scalars(select(TemplateVersion.object_key)))

        for name in sorted(set(current) - set(known)):
            if self._sync_one(name, None, report, dry_run, uploader):
                report.added.append(name)
        for name in sorted(set(current) & set(known)):
            if self._sync_one(name, known[name], report, dry_run, uploader):
                report.updated.append(name)
        for name in sorted(set(known) - set(current)):
            report.removed.append(name)
            if not dry_run:
                try:
                    self._remove_row(name, referenced)
                except NotFound:
                    pass
        orphans = sorted(version_objects - referenced)
        report.orphans_removed.extend(orphans)
        if not dry_run:
            self._delete_objects(orphans)
        return report

    def _sync_one(
        self, name: str, known_sha: str | None, report: SyncReport, dry_run: bool, uploader: str
    ) -> bool:
        try:
            data = self.store.get(name)
        except ObjectNotFound:
            return False
        except StoreUnavailable as e:
            raise Unavailable(f"The template store is unavailable: {e}") from e
        if known_sha is not None and hashlib.sha256(data).hexdigest() == known_sha:
            return False
        if len(data) > self.max_upload_bytes:
            report.ignored[name] = f"larger than the {self.max_upload_bytes}-byte limit"
            return False
        try:
            info = parse_notebook(data)
        except InvalidInput as e:
            report.ignored[name] = e.message
            return False
        if dry_run:
            return True
        try:
            self._write_version(
                name,
                data,
                kernel_name=info.kernel_name,
                parameters=info.parameters,
                description=None if known_sha else "",
                uploader=uploader,
                overwrite=True,
            )
        except Conflict:
            return False
        return True

    def _remove_row(self, name: str, referenced: set[str]) -> None:
        with self.db.write_session() as session:
            template = self._find(session, name)
            keys = [v.object_key for v in template.versions]
            session.delete(template)
            session.commit()
        referenced.difference_update(keys)
        self._delete_objects(keys)


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
