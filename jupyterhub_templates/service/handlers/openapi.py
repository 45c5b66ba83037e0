"""``GET /openapi.json``: the API description (public)."""

from __future__ import annotations

import functools

from ... import jsontext
from ..openapi import openapi_document
from .base import BaseHandler


@functools.cache
def openapi_text(base_url: str) -> str:
    """The document as JSON text, encoded once per process."""
    return jsontext.dumps(openapi_document(base_url))


class OpenAPIHandler(BaseHandler):
    auth_required = False

    async def authenticate(self) -> None:
        self._hub_auth_user_cache = None

    def get(self) -> None:
        self.finish(openapi_text(self.settings["base_url"]))
