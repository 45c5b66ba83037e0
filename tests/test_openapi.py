"""The OpenAPI document is valid and describes exactly the routes the app serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openapi_spec_validator import validate

from jupyterhub_templates.service.app import TemplatesService
from jupyterhub_templates.service.openapi import openapi_document


def _served_paths(tmp_path, monkeypatch) -> set[str]:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x" * 32)
    monkeypatch.setenv("JUPYTERHUB_CLIENT_ID", "service-templates")
    app = TemplatesService(
        db_url=f"sqlite:///{tmp_path / 'o.sqlite'}",
        config_file="",
    )
    app.config.DirectoryTemplateStore.root = str(tmp_path / "store")
    app.init_components()
    web_app = app.make_app()
    paths = set()
    prefix = app.base_url
    for rule in web_app.default_router.rules[0].target.rules:
        pattern = rule.matcher.regex.pattern.rstrip("$")
        if not pattern.startswith(prefix) or "oauth_callback" in pattern:
            continue
        path = "/" + pattern[len(prefix) :]
        path = re.sub(r"\(\.\+\)", "{name}", path)
        path = re.sub(r"\(\[\^/\]\+\)", "{id}", path)
        paths.add(path)
    app.db.dispose()
    return paths


def test_document_is_valid_openapi() -> None:
    validate(openapi_document())


def test_every_route_is_documented_and_every_path_served(tmp_path, monkeypatch) -> None:
    documented = set(openapi_document()["paths"])
    served = _served_paths(tmp_path, monkeypatch)
    assert served == documented


def test_every_operation_documents_its_errors() -> None:
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            if op.get("security") == [] and path != "/minio/download/{name}":
                continue
            assert "403" in codes, (method, path)
            assert any(c.startswith("2") for c in codes), (method, path)


def test_document_is_the_published_one() -> None:
    """The served document equals the committed one (tests/fixtures/openapi.json): paths,
    parameters and schemas are public API, so a change to them is made on purpose, with
    the fixture updated in the same commit (write it with ``json.dumps(doc, indent=1,
    sort_keys=True)``)."""
    published = json.loads((Path(__file__).parent / "fixtures" / "openapi.json").read_text())
    assert openapi_document() == published


def test_answers_have_the_fields_the_document_lists() -> None:
    """The document's objects are built from the field lists the answers are written
    with; here the answers themselves are checked against those lists."""
    from jupyterhub_templates.catalog.queries import (
        TEMPLATE_FIELDS,
        VERSION_FIELDS,
        describe_template,
        describe_version,
    )
    from jupyterhub_templates.db.models import Execution, Template, TemplateVersion, utcnow
    from jupyterhub_templates.execution.records import EXECUTION_FIELDS, describe_execution

    now = utcnow()
    common = {"size": 1, "sha256": "0" * 64, "kernel_name": "python3", "description": "d"}
    template = Template(
        name="ml/a.ipynb", category="ml", filename="a.ipynb", current_version=1,
        parameters=[], uploader="u", created_at=now, updated_at=now, **common,
    )  # fmt: skip
    version = TemplateVersion(version=1, uploader="u", created_at=now, **common)
    execution = Execution(
        id=1, username="alice", notebook_path="a.ipynb", output_path="a-run-1.ipynb",
        status="running", cells_done=0, cells_total=2, created_at=now,
    )  # fmt: skip
    assert tuple(describe_template(template)) == TEMPLATE_FIELDS
    assert tuple(describe_version(version)) == VERSION_FIELDS
    assert tuple(describe_execution(execution)) == EXECUTION_FIELDS
    schemas = openapi_document()["components"]["schemas"]
    assert tuple(schemas["Template"]["properties"]) == TEMPLATE_FIELDS
    assert tuple(schemas["TemplateVersion"]["properties"]) == VERSION_FIELDS
    assert tuple(schemas["Execution"]["properties"]) == (*EXECUTION_FIELDS, "notebook_url")
