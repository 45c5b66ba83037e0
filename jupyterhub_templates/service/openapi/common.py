"""What every part of the OpenAPI document shares: helpers, common parameters, the error
answers, and the service's own routes (health, the document itself, the landing page)."""

from __future__ import annotations

from typing import Any

from ... import statuses as _statuses
from ...execution import notifications as _notifications
from ...execution.retries import MAX_DELAY, RETRYABLE


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def fields(names: tuple[str, ...], schemas: dict[str, Any]) -> dict[str, Any]:
    """The ``properties`` of an object whose fields are ``names`` (the list the code
    that writes it uses), each with its schema from ``schemas``: the two must name the
    same fields, so the document cannot drift from the answers."""
    if set(names) != set(schemas):
        raise ValueError(f"fields {sorted(set(names) ^ set(schemas))} are not both listed")
    return {name: schemas[name] for name in names}


def required(names: tuple[str, ...], *, optional: tuple[str, ...] = ()) -> list[str]:
    """The fields of ``names`` every answer carries: all but the ``optional`` ones (which
    must be among them), in the same order."""
    if not set(optional) <= set(names):
        raise ValueError(f"optional fields {sorted(set(optional) - set(names))} are unknown")
    return [name for name in names if name not in optional]


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _id_param(what: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer"},
    }


PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]
WHOSE = [
    {
        "name": "username",
        "in": "query",
        "description": "Another user's: for holders of custom:templates:admin, or who may "
        "reach that user's server in JupyterHub.",
        "schema": {"type": "string"},
    },
    {
        "name": "all",
        "in": "query",
        "description": "Everyone's (admins only).",
        "schema": {"type": "boolean"},
    },
    {"name": "template", "in": "query", "schema": {"type": "string"}},
]

#: who may name another user in a body
ACT_FOR = (
    "Act for another user: needs access to their server in JupyterHub "
    "(access:servers!user=<name>, e.g. a Hub admin); 404 for a user the Hub does not have."
)
#: the fields every bounded listing adds
PAGE_FIELDS = {
    "total": {"type": "integer"},
    "limit": {"type": "integer"},
    "offset": {"type": "integer"},
    "count": {"type": "integer", "description": "Records on this page."},
    "next_offset": {
        "type": "integer",
        "nullable": True,
        "description": "Where the next page starts (null after the last). A page may hold "
        "fewer than limit records: it ends before it passes max_answer_bytes.",
    },
}

STATUSES = list(_statuses.STATUSES)
REASONS = list(_statuses.REASONS)

#: a request's or a job's retry policy (execution/retries.py), null for none
LIMITS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "memory_mb": {
            "type": "number",
            "minimum": 0,
            "description": "The kernel's address space (MiB), at most Executions.memory_limit "
            "when set (its default). Beyond it allocations fail: reason memory limit.",
        },
        "cpu_seconds": {
            "type": "number",
            "minimum": 0,
            "description": "The kernel's CPU time, at most Executions.cpu_limit when set (its "
            "default). Then the kernel is stopped: reason cpu limit.",
        },
    },
    "description": "Limits for the run's kernel and what it starts (RLIMIT_AS, RLIMIT_CPU).",
}

RETRIES = {
    "type": "object",
    "nullable": True,
    "required": ["max"],
    "additionalProperties": False,
    "properties": {
        "max": {
            "type": "integer",
            "minimum": 0,
            "description": "Attempts after the first (at most Executions.max_retries).",
        },
        "backoff": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_DELAY,
            "description": "Seconds before the first retry (default Executions.retry_backoff); "
            f"each further one waits twice as long, at most {MAX_DELAY:g} s.",
        },
        "on_timeout": {
            "type": "boolean",
            "default": False,
            "description": "Retry a run that timed out too.",
        },
    },
    "description": "Try a failed run again when it failed for a reason that can pass ("
    + ", ".join(sorted(RETRYABLE))
    + ", and timeout with on_timeout); each attempt is an execution of its own whose "
    "retry_of names the one it repeats.",
}

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


#: a request's or a job's notifications (execution/notifications.py), null for none
NOTIFY = {
    "type": "object",
    "nullable": True,
    "additionalProperties": False,
    "properties": {
        "on": {
            "type": "string",
            "enum": list(_notifications.ON),
            "default": "finish",
            "description": "Tell every end, or failures only.",
        },
        "webhook": {
            "type": "string",
            "format": "uri",
            "nullable": True,
            "description": "POST the end here as JSON, signed (X-Templates-Signature-256: "
            "sha256=HMAC-SHA256 of the body under Notifier.webhook_secret), to a host "
            "Notifier.webhook_hosts allows. Answers show only its scheme and host.",
        },
        "email": {
            "type": "array",
            "maxItems": _notifications.MAX_EMAILS,
            "items": {"type": "string", "format": "email"},
            "description": "Addresses to e-mail (needs Notifier.smtp_host).",
        },
    },
    "description": "Where the run's end is told (the last attempt's, with retries): the "
    "notebook, status, duration and links to the output and the MLflow runs.",
}


def schemas() -> dict[str, Any]:
    error = {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "message": {"type": "string"},
            "details": {},
            "field": {
                "type": "string",
                "description": "The request body's member the error is about, when it "
                "is about one (e.g. new_name, target_directory, parameters), so that a "
                "form can mark that field.",
            },
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
    return {
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
    }


def responses() -> dict[str, Any]:
    return {
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
    }


def paths() -> dict[str, Any]:
    return {
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
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (needs read:metrics unless "
                "TemplatesService.authenticate_prometheus is off)",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "The Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(403, 503),
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
                "description": "JSON for API clients. A client that asks for text/html "
                "before JSON (a browser, e.g. from the Hub's Services menu) gets a page "
                "leading to the Templates panel in its JupyterLab instead.",
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
