"""The OpenAPI 3 document of the service's REST API, one module per resource
(:mod:`.catalog`, :mod:`.runs` for notebooks and executions; :mod:`.common` for what
they share and the service's own routes), assembled here.

Kept true by tests: every route the app serves is documented and every documented path
is served; the fuzz tests check answers against these schemas; the whole document is
pinned by ``tests/fixtures/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from ..._version import __version__
from . import catalog, common, runs

__all__ = ["openapi_document"]

#: the parts of the document; a new resource adds its module here
PARTS = (catalog, runs, common)


def openapi_document(base_url: str = "/services/templates/") -> dict[str, Any]:
    """The document, with ``servers`` pointing at ``base_url``."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for part in PARTS:
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
