"""Checking answers against the service's OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import requests

from jupyterhub_templates.service.openapi import openapi_document

DOC = openapi_document()


def _resolve(node: Any, doc: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(copy.deepcopy(target), doc)
        resolved = {k: _resolve(v, doc) for k, v in node.items() if k != "nullable"}
        # OpenAPI 3.0's "nullable" in JSON Schema terms
        if node.get("nullable") and "type" in resolved:
            resolved["type"] = [resolved["type"], "null"]
            if "enum" in resolved:
                resolved["enum"] = [*resolved["enum"], None]
        return resolved
    if isinstance(node, list):
        return [_resolve(v, doc) for v in node]
    return node


def response_schema(path_template: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of one documented answer; KeyError if it is not documented."""
    operation = DOC["paths"][path_template][method.lower()]
    response = _resolve(operation["responses"][str(status)], DOC)
    content = response.get("content", {})
    media = content.get("application/json")
    return media["schema"] if media else None


def check_response(path_template: str, r: requests.Response) -> None:
    """Assert that ``r`` is a documented answer of the route and matches its schema."""
    schema = response_schema(path_template, r.request.method or "GET", r.status_code)
    if schema is not None:
        jsonschema.validate(r.json(), schema)
