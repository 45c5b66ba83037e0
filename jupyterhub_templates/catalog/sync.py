"""Making the catalog match its store: what ``jupyterhub-templates sync`` does.

Templates put straight into the bucket (or removed from it) by other tools become
catalog entries (or stop being ones); version objects no row refers to are deleted.
Blocking (database and store I/O), like the rest of the catalog.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..db.models import Template, TemplateVersion
from ..errors import Conflict, InvalidInput, NotFound
from ..stores.base import ObjectNotFound, store_errors
from .names import VERSIONS_PREFIX, split_name
from .parsing import parse_notebook

if TYPE_CHECKING:
    from .catalog import Catalog


@dataclass
class SyncReport:
    """What :func:`sync_catalog` found (and, unless dry run, did)."""

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


def sync_catalog(catalog: Catalog, *, dry_run: bool = False, uploader: str = "sync") -> SyncReport:
    """Make the catalog match the store.

    Objects at ``<category>/<file>.ipynb`` that the catalog lacks are added; templates
    whose object is gone are removed; objects whose bytes differ from the current
    version become a new version; version objects no row refers to are deleted.
    Objects with invalid names or content are reported in ``ignored``.
    """
    report = SyncReport(dry_run=dry_run)
    with store_errors():
        objects = list(catalog.store.list())
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
    with catalog.db.session() as session:
        known = {t.name: t.sha256 for t in session.scalars(select(Template))}
        referenced = set(session.scalars(select(TemplateVersion.object_key)))

    for name in sorted(set(current) - set(known)):
        if _sync_one(catalog, name, None, report, dry_run, uploader):
            report.added.append(name)
    for name in sorted(set(current) & set(known)):
        if _sync_one(catalog, name, known[name], report, dry_run, uploader):
            report.updated.append(name)
    for name in sorted(set(known) - set(current)):
        report.removed.append(name)
        if not dry_run:
            try:
                _remove_row(catalog, name, referenced)
            except NotFound:
                pass
    orphans = sorted(version_objects - referenced)
    report.orphans_removed.extend(orphans)
    if not dry_run:
        catalog._delete_objects(orphans)
    return report


def _sync_one(
    catalog: Catalog,
    name: str,
    known_sha: str | None,
    report: SyncReport,
    dry_run: bool,
    uploader: str,
) -> bool:
    try:
        with store_errors():
            data = catalog.store.get(name)
    except ObjectNotFound:
        return False
    if known_sha is not None and hashlib.sha256(data).hexdigest() == known_sha:
        return False
    if len(data) > catalog.max_upload_bytes:
        report.ignored[name] = f"larger than the {catalog.max_upload_bytes}-byte limit"
        return False
    try:
        info = parse_notebook(data)
    except InvalidInput as e:
        report.ignored[name] = e.message
        return False
    if dry_run:
        return True
    try:
        catalog._write_version(
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


def _remove_row(catalog: Catalog, name: str, referenced: set[str]) -> None:
    with catalog.db.write_session() as session:
        template = catalog._find(session, name)
        keys = [v.object_key for v in template.versions]
        session.delete(template)
        session.commit()
        catalog.totals.invalidate()
    referenced.difference_update(keys)
    catalog._delete_unreferenced(name, keys)
