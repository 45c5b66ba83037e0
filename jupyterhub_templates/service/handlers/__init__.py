"""Tornado handlers, one module per resource. Thin: parse, authorize, call, answer.

A resource module defines ``routes()``: its ``(path regex relative to the service's
prefix, handler)`` pairs. Every such module of this package is mounted
(:func:`resource_routes`), so a new resource is a new module here (and its part of the
OpenAPI document in ``service/openapi/``), with no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__all__ = ["resource_routes"]


def resource_routes() -> list[tuple[str, Any]]:
    """The routes of every resource module of this package, modules in name order."""
    found: list[tuple[str, Any]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes = getattr(module, "routes", None)
        if callable(routes):
            found.extend(routes())
    return found
