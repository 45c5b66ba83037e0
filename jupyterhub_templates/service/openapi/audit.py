"""The OpenAPI path and schemas of the audit trail (``/audit``)."""

from __future__ import annotations

from typing import Any

from ...audit import EVENT_FIELDS
from ...metrics import Action
from .common import _errors, _json, _ref, fields, required

nullable_str = {"type": "string", "nullable": True}


def schemas() -> dict[str, Any]:
    return {
        "AuditEvent": {
            "type": "object",
            "required": required(
                EVENT_FIELDS, optional=("on_behalf_of", "scope", "target", "reason", "client")
            ),
            "properties": fields(
                EVENT_FIELDS,
                {
                    "id": {"type": "integer"},
                    "time": {"type": "string", "format": "date-time"},
                    "username": {
                        **nullable_str,
                        "description": "The caller (null: not authenticated).",
                    },
                    "on_behalf_of": {
                        **nullable_str,
                        "description": "The user acted for, when not the caller.",
                    },
                    "scope": {
                        **nullable_str,
                        "description": "What allowed it; null when it was refused.",
                    },
                    "action": {"type": "string", "enum": [a.value for a in Action]},
                    "target": {
                        **nullable_str,
                        "description": "A template ('name@version' once stored), a "
                        "notebook path, 'execution <id>', a record id.",
                    },
                    "outcome": {"type": "string", "example": "not_allowed"},
                    "status_code": {"type": "integer"},
                    "reason": {**nullable_str, "description": "Why it was refused."},
                    "request_id": {"type": "string"},
                    "client": {**nullable_str, "description": "The client's address."},
                },
            ),
        },
        "AuditPage": {
            "type": "object",
            "required": ["events", "count", "limit", "offset", "next_offset"],
            "properties": {
                "events": {"type": "array", "items": _ref("AuditEvent")},
                "count": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "next_offset": {"type": "integer", "nullable": True},
            },
        },
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
    }


def paths() -> dict[str, Any]:
    return {
        "/audit": {
            "get": {
                "summary": "The audit trail, newest first (holders of custom:templates:admin)",
                "operationId": "audit",
                "parameters": [
                    _query("username", "Events of this caller."),
                    _query(
                        "action",
                        "Events of this action.",
                        {"type": "string", "enum": [a.value for a in Action]},
                    ),
                    _query("target", "Events on this target."),
                    _query(
                        "since",
                        "From this time on (ISO 8601).",
                        {"type": "string", "format": "date-time"},
                    ),
                    _query(
                        "until",
                        "Before this time (ISO 8601).",
                        {"type": "string", "format": "date-time"},
                    ),
                    _query(
                        "limit",
                        "At most this many (500).",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                    _query("offset", "Skip this many.", {"type": "integer", "minimum": 0}),
                ],
                "responses": {
                    "200": _json(_ref("AuditPage"), "A page of events"),
                    **_errors(400, 403, 503),
                },
            }
        }
    }
