"""The OpenAPI 3 document of the service's REST API, one module per resource
(:mod:`.catalog`, :mod:`.runs` for notebooks and executions; :mod:`.common` for what
they share and the service's own routes), assembled here: every module of this package
with ``paths()`` and ``schemas()`` is a part, so a new resource adds a module and edits
no list.

Kept true by tests: every route the app serves is documented and every documented path
is served; the fuzz tests check answers against these schemas; the whole document is
pinned by ``tests/fixtures/openapi.json``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from ..._version import __version__
from . import common

__all__ = ["openapi_document"]


def _parts() -> list[ModuleType]:
    """The modules of this package that contribute paths and schemas, in name order."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    ]
    return [m for m in modules if callable(getattr(m, "paths", None)) and hasattr(m, "schemas")]


def openapi_document(base_url: str = "/services/templates/") -> dict[str, Any]:
    """The document, with ``servers`` pointing at ``base_url``."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for part in _parts():
        paths.update(part.paths())
        schemas.update(part.schemas())
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
        "paths": paths,
        "components": {
            "securitySchemes": {
                "hubToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <JupyterHub API token>'",
                }
            },
            "schemas": schemas,
            "responses": common.responses(),
        },
    }
