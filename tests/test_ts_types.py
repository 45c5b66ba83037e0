"""The Lab's TypeScript unions (src/api/types.ts) name exactly the values the served
OpenAPI document allows, so the browser side and the service cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jupyterhub_templates import statuses
from jupyterhub_templates.service.openapi import openapi_document

TYPES_TS = Path(__file__).resolve().parents[1] / "src" / "api" / "types.ts"


def ts_unions() -> dict[str, list[str]]:
    """``export type Name = 'a' | 'b';`` unions of string literals, by name."""
    unions: dict[str, list[str]] = {}
    text = TYPES_TS.read_text()
    for m in re.finditer(r"export type (\w+) =\s*((?:\|?\s*'[^']*'\s*)+);", text):
        unions[m.group(1)] = re.findall(r"'([^']*)'", m.group(2))
    return unions


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def _param(doc: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    for p in doc["paths"][path]["get"]["parameters"]:
        if p.get("name") == name:
            return p["schema"]
    raise KeyError(name)


#: TypeScript union -> where the served document lists its values
WHERE = {
    "ParameterType": lambda d: _schema(d, "Parameter")["properties"]["type"]["enum"],
    "TemplateSort": lambda d: _param(d, "/minio/list-templates", "sort")["enum"],
    "SortOrder": lambda d: _param(d, "/minio/list-templates", "order")["enum"],
    "ExecutionStatus": lambda d: _schema(d, "Execution")["properties"]["status"]["enum"],
    "ExecutionErrorReason": lambda d: _schema(d, "Execution")["properties"]["error"]["properties"][
        "reason"
    ]["enum"],
    "JobOverlap": lambda d: _schema(d, "Job")["properties"]["overlap"]["enum"],
    "JobMissed": lambda d: _schema(d, "Job")["properties"]["missed"]["enum"],
    "JobRunState": lambda d: _schema(d, "JobRun")["properties"]["state"]["enum"],
    "NotifyOn": lambda d: _schema(d, "Job")["properties"]["notify"]["properties"]["on"]["enum"],
}


def test_every_union_is_checked() -> None:
    assert set(ts_unions()) == set(WHERE)


@pytest.mark.parametrize("name", sorted(WHERE))
def test_union_matches_the_served_document(name: str) -> None:
    assert ts_unions()[name] == WHERE[name](openapi_document())


def test_the_final_statuses_are_the_services() -> None:
    m = re.search(r"export const FINAL_STATUSES[^=]*=\s*\[([^\]]*)\]", TYPES_TS.read_text())
    assert m, "FINAL_STATUSES not found in src/api/types.ts"
    assert set(re.findall(r"'([^']*)'", m.group(1))) == statuses.FINAL


def test_statuses_and_reasons_come_from_one_module() -> None:
    doc = openapi_document()
    assert tuple(WHERE["ExecutionStatus"](doc)) == statuses.STATUSES
    assert tuple(WHERE["ExecutionErrorReason"](doc)) == statuses.REASONS
    assert _param(doc, "/executions", "status")["enum"] == list(statuses.STATUSES)
    assert set(statuses.ACTIVE) | statuses.FINAL == set(statuses.STATUSES)


def test_the_job_request_takes_the_jobs_policies() -> None:
    doc = openapi_document()
    request = _schema(doc, "JobRequest")["properties"]
    assert request["overlap"]["enum"] == WHERE["JobOverlap"](doc)
    assert request["missed"]["enum"] == WHERE["JobMissed"](doc)
    assert not set(statuses.ACTIVE) & statuses.FINAL
