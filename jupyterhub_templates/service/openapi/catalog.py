"""The OpenAPI paths and schemas of the template catalog (``/minio/...``)."""

from __future__ import annotations

from typing import Any

from ...catalog.queries import TEMPLATE_FIELDS, VERSION_FIELDS
from .common import NAME_PARAM, VERSION_PARAM, _errors, _json, _ref, fields, required


def schemas() -> dict[str, Any]:
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
            "secret": {
                "type": "boolean",
                "description": "Annotated Secret (or SecretStr), or [secret] in its help "
                "comment: its value is given in an execution's secrets, never written into "
                "a notebook or stored (templates uploaded before this existed say false).",
            },
        },
    }
    template = {
        "type": "object",
        "required": required(TEMPLATE_FIELDS, optional=("uploader", "created_at")),
        "properties": fields(
            TEMPLATE_FIELDS,
            {
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
        ),
    }
    version = {
        "type": "object",
        "required": ["version", "size", "sha256", "created_at"],
        "properties": fields(
            VERSION_FIELDS,
            {
                "version": {"type": "integer"},
                "size": {"type": "integer"},
                "sha256": {"type": "string"},
                "kernel_name": {"type": "string"},
                "description": {"type": "string"},
                "uploader": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        ),
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
    success = {"type": "string", "enum": ["success"]}
    return {
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
    }


def paths() -> dict[str, Any]:
    success = {"type": "string", "enum": ["success"]}
    return {
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
    }
