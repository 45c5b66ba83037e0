"""Template stores are found by name through the ``jupyterhub_templates.stores`` entry
point group: the built-in ones, and a third party's installed package (here a real
distribution's metadata on ``sys.path``, as pip would leave it)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from traitlets import TraitError

from jupyterhub_templates.service.app import TemplatesService
from jupyterhub_templates.stores.directory import DirectoryTemplateStore
from jupyterhub_templates.stores.s3 import S3TemplateStore

THIRD_PARTY = textwrap.dedent(
    '''
    from jupyterhub_templates.stores.directory import DirectoryTemplateStore

    class ShelfStore(DirectoryTemplateStore):
        """A third party's store."""

        def describe(self) -> str:
            return "shelf " + super().describe()
    '''
)


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shelf_store.py").write_text(THIRD_PARTY)
    dist = tmp_path / "shelf_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shelf-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[jupyterhub_templates.stores]\nshelf = shelf_store:ShelfStore\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def _service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str) -> TemplatesService:
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_STORE", store)
    return TemplatesService(db_url=f"sqlite:///{tmp_path / 's.sqlite'}", config_file="")


@pytest.mark.parametrize(
    "name, cls",
    [("directory", DirectoryTemplateStore), ("s3", S3TemplateStore), ("S3", S3TemplateStore)],
)
def test_built_in_stores_by_name(tmp_path, monkeypatch, name, cls) -> None:
    assert _service(tmp_path, monkeypatch, name).store_class is cls


def test_import_strings_still_work(tmp_path, monkeypatch) -> None:
    path = "jupyterhub_templates.stores.s3.S3TemplateStore"
    assert _service(tmp_path, monkeypatch, path).store_class is S3TemplateStore


def test_a_third_party_store_is_found_like_the_built_in_ones(tmp_path, monkeypatch, third_party):
    service = _service(tmp_path, monkeypatch, "shelf")
    assert service.store_class.__name__ == "ShelfStore"
    assert "shelf:" in TemplatesService.class_traits()["store_class"].help
    service.config.ShelfStore.root = str(tmp_path / "shelf")
    service.init_components()
    try:
        assert service.store.describe().startswith("shelf ")
    finally:
        service.db.dispose()


def test_an_unknown_store_is_refused(tmp_path, monkeypatch) -> None:
    with pytest.raises(TraitError):
        _service(tmp_path, monkeypatch, "no-such-store").store_class  # noqa: B018


def test_help_all_lists_every_component() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyterhub_templates.service", "--help-all"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for cls in ("TemplatesService", "Catalog", "DirectoryTemplateStore", "S3TemplateStore"):
        assert f"--{cls}." in out, cls
