"""The OpenAPI 3 document of the service's REST API.

Kept true by tests: every route the app serves is documented here and every documented
path is served; the fuzz tests check answers against these schemas.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


NAME_PARAM = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Template name '<category>/<file>.ipynb' (the slash may be literal).",
    "schema": {"type": "string", "example": "ml/automl_template.ipynb"},
}
VERSION_PARAM = {
    "name": "version",
    "in": "query",
    "description": "A version number; default the current version.",
    "schema": {"type": "integer", "minimum": 1},
}


def openapi_document(base_url: str = "/services/templates/") -> dict[str, Any]:
    """The document, with ``servers`` pointing at ``base_url``."""
    from . import openapi_runs  # its paths build on the helpers above

    parameter = {
        "type": "object",
        "required": ["name", "type", "default", "help"],
        "properties": {
            "name": {"type": "string"},
            "type": {
                "type": "string",
                "enum": ["int", "float", "bool", "str", "list", "dict", "any"],
            },
            "annotation": {"type": "string"},
            "default": {"type": "string", "description": "The default's source text."},
            "default_value": {
                "description": "The default as JSON when it is a literal JSON can hold; "
                "null for an expression or a non-finite number (1e999): see default.",
                "nullable": True,
            },
            "help": {"type": "string"},
        },
    }
    template = {
        "type": "object",
        "required": [
            "name",
            "category",
            "filename",
            "description",
            "size",
            "sha256",
            "kernel_name",
            "parameters",
            "version",
            "last_modified",
        ],
        "properties": {
            "name": {"type": "string", "example": "ml/automl_template.ipynb"},
            "category": {"type": "string"},
            "filename": {"type": "string"},
            "description": {"type": "string"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "kernel_name": {"type": "string"},
            "parameters": {"type": "array", "items": _ref("Parameter")},
            "version": {"type": "integer"},
            "uploader": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "last_modified": {"type": "string", "format": "date-time"},
        },
    }
    version = {
        "type": "object",
        "required": ["version", "size", "sha256", "created_at"],
        "properties": {
            "version": {"type": "integer"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "kernel_name": {"type": "string"},
            "description": {"type": "string"},
            "uploader": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    template_detail = {
        "allOf": [
            _ref("Template"),
            {
                "type": "object",
                "required": ["current_version", "versions"],
                "properties": {
                    "current_version": {"type": "integer"},
                    "versions": {"type": "array", "items": _ref("TemplateVersion")},
                    "content": {"type": "object", "description": "The notebook (nbformat 4)."},
                },
            },
        ]
    }
    error = {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "message": {"type": "string"},
            "details": {},
        },
    }
    check = {
        "type": "object",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean"},
            "message": {"type": "string"},
            "latency_ms": {"type": "number"},
            "kind": {"type": "string"},
        },
    }
    success = {"type": "string", "enum": ["success"]}
    paths: dict[str, Any] = {
        "/minio/upload-template": {
            "post": {
                "summary": "Upload a template (admins: custom:templates:admin)",
                "operationId": "uploadTemplate",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "category"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "category": {
                                        "type": "string",
                                        "pattern": "^[A-Za-z0-9_-]{1,64}$",
                                    },
                                    "description": {"type": "string"},
                                    "overwrite": {"type": "boolean", "default": False},
                                    "filename": {
                                        "type": "string",
                                        "description": "Overrides the file's name.",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(_ref("UploadResult"), "Stored as a new template (version 1)"),
                    "200": _json(_ref("UploadResult"), "Stored as a new version"),
                    **_errors(400, 403, 409, 413, 503),
                },
            }
        },
        "/minio/list-templates": {
            "get": {
                "summary": "List templates (current versions)",
                "operationId": "listTemplates",
                "parameters": [
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "q",
                        "in": "query",
                        "description": "Text in name or description",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1000,
                            "default": 100,
                        },
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "default": "name",
                            "enum": ["name", "category", "size", "last_modified", "created"],
                        },
                    },
                    {
                        "name": "order",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["templates", "total", "count", "limit", "offset"],
                            "properties": {
                                "status": success,
                                "templates": {"type": "array", "items": _ref("Template")},
                                "total": {"type": "integer"},
                                "count": {"type": "integer"},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                            },
                        },
                        "One page of templates",
                    ),
                    **_errors(400, 403, 503),
                },
            }
        },
        "/minio/list-categories": {
            "get": {
                "summary": "Categories with their template counts",
                "operationId": "listCategories",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["categories"],
                            "properties": {
                                "status": success,
                                "categories": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["name", "count"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "count": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                        },
                        "Categories",
                    ),
                    **_errors(403, 503),
                },
            }
        },
        "/minio/get-template/{name}": {
            "get": {
                "summary": "A template's metadata, versions and optionally its notebook",
                "operationId": "getTemplate",
                "parameters": [
                    NAME_PARAM,
                    VERSION_PARAM,
                    {
                        "name": "content",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "Include the notebook JSON",
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "allOf": [
                                _ref("TemplateDetail"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "status": success,
                                        "template": _ref("TemplateDetail"),
                                    },
                                },
                            ]
                        },
                        "The template",
                    ),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/minio/delete-template/{name}": {
            "delete": {
                "summary": "Delete a template and all its versions (admins)",
                "operationId": "deleteTemplate",
                "parameters": [NAME_PARAM],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status", "template_name", "deleted_versions"],
                            "properties": {
                                "status": success,
                                "message": {"type": "string"},
                                "template_name": {"type": "string"},
                                "deleted_versions": {"type": "integer"},
                            },
                        },
                        "Deleted",
                    ),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/minio/download-url/{name}": {
            "get": {
                "summary": "A time-limited URL to download the notebook",
                "description": "The object is looked up in the store first: 404 when the "
                "content is missing from it, 503 when the store is unavailable.",
                "operationId": "getDownloadUrl",
                "parameters": [
                    NAME_PARAM,
                    VERSION_PARAM,
                    {
                        "name": "expires",
                        "in": "query",
                        "description": "Lifetime in seconds",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": [
                                "status",
                                "template_name",
                                "version",
                                "url",
                                "expires_in",
                                "expires_at",
                            ],
                            "properties": {
                                "status": success,
                                "template_name": {"type": "string"},
                                "version": {"type": "integer"},
                                "url": {"type": "string", "format": "uri"},
                                "expires_in": {"type": "integer"},
                                "expires_at": {"type": "string", "format": "date-time"},
                            },
                        },
                        "The URL",
                    ),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/minio/download/{name}": {
            "get": {
                "summary": "Download through a signed URL (directory store; no other auth)",
                "operationId": "download",
                "security": [],
                "parameters": [
                    NAME_PARAM,
                    {**VERSION_PARAM, "required": True},
                    {
                        "name": "expires",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "signature",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The notebook",
                        "content": {"application/x-ipynb+json": {"schema": {"type": "object"}}},
                    },
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Health of the database and the store (no auth)",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": _json(_ref("Health"), "Everything answers"),
                    "503": _json(_ref("Health"), "A dependency is down"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
            }
        },
        "/": {
            "get": {
                "summary": "Who you are; browsers are sent through the Hub's OAuth login",
                "operationId": "root",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["service", "version", "user"],
                            "properties": {
                                "service": {"type": "string"},
                                "version": {"type": "string"},
                                "user": {"type": "string"},
                                "templates_admin": {"type": "boolean"},
                                "links": {"type": "object"},
                            },
                        },
                        "The caller",
                    ),
                    "302": {"description": "Redirect to the Hub's OAuth login (browsers)"},
                    **_errors(403),
                },
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyterhub-templates",
            "version": __version__,
            "description": "Notebook templates for JupyterHub. Authenticate with a "
            "JupyterHub token: 'Authorization: token <token>'.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "security": [{"hubToken": []}],
        "paths": {**paths, **openapi_runs.paths()},
        "components": {
            "securitySchemes": {
                "hubToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <JupyterHub API token>'",
                }
            },
            "schemas": {
                "Parameter": parameter,
                "Template": template,
                "TemplateVersion": version,
                "TemplateDetail": template_detail,
                "UploadResult": {
                    "type": "object",
                    "required": ["status", "template_name", "version", "template"],
                    "properties": {
                        "status": success,
                        "message": {"type": "string"},
                        "template_name": {"type": "string"},
                        "version": {"type": "integer"},
                        "template": _ref("Template"),
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "ok", "checks"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "error"]},
                        "ok": {"type": "boolean"},
                        "checks": {
                            "type": "object",
                            "properties": {"database": check, "store": check},
                        },
                    },
                },
                "Error": error,
                **openapi_runs.schemas(),
            },
            "responses": {
                f"E{code}": _json(_ref("Error"), text)
                for code, text in {
                    400: "Bad input",
                    403: "Not authenticated, or not allowed",
                    404: "Not found",
                    409: "Conflict with what exists",
                    413: "Body over the size limit (max_body_bytes; uploads: max_upload_bytes)",
                    502: "The user's server answered with something other than its API",
                    503: "The database, the store, the Hub or the user's server is unavailable",
                }.items()
            },
        },
    }
