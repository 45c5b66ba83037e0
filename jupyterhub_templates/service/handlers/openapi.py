"""``GET /openapi.json``: the API description (public)."""

from __future__ import annotations

from ..openapi import openapi_document
from .base import BaseHandler


class OpenAPIHandler(BaseHandler):
    auth_required = False

    async def prepare(self) -> None:
        self._hub_auth_user_cache = None

    def get(self) -> None:
        self.write_json(openapi_document(self.settings["base_url"]))
