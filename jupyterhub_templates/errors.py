"""Errors that every layer may raise, each carrying the HTTP status it maps to.

The layers below the handlers know nothing of Tornado; they raise these, and the
service's base handler turns them into ``{"status": "error", "message": ...}`` (with
``details`` and ``field`` when the error carries them). Messages are shown to API
clients: they never carry secrets or stack traces.
"""

from __future__ import annotations

from typing import Any


class TemplatesError(Exception):
    """Base class. ``status`` is the HTTP status code; ``details`` optional JSON;
    ``field`` the request body's member the error is about (e.g. ``"new_name"``), when
    it is about one: answers carry it as ``field`` so that a form can mark that field."""

    status: int = 500

    def __init__(self, message: str, *, details: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.field = field


class InvalidInput(TemplatesError):
    """The request is malformed or its values are refused (400)."""

    status = 400


class NotAllowed(TemplatesError):
    """The caller may not do this (403)."""

    status = 403


class NotFound(TemplatesError):
    """No such template, version or record (404)."""

    status = 404


class Conflict(TemplatesError):
    """The request clashes with what exists, e.g. a name already taken (409)."""

    status = 409


class TooLarge(TemplatesError):
    """The upload is over the configured size limit (413)."""

    status = 413


class BadGateway(TemplatesError):
    """A user's server (whose code its user controls) answered with something that is
    not what the API promises (502)."""

    status = 502


class Unavailable(TemplatesError):
    """A dependency (database, store, user server) cannot be reached (503)."""

    status = 503
