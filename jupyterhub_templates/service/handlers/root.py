"""The service's landing page: where a browser lands after OAuth, and what it shows."""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler

from ..._version import __version__
from .base import BaseHandler, ServiceHubAuth


class OAuthCallbackHandler(ServiceHubAuth, HubOAuthCallbackHandler):
    """Completes the Hub's OAuth login with the service's own HubOAuth, which holds the
    PKCE verifier of the login it started."""


class RootHandler(BaseHandler):
    """``GET /``: who you are and what you may do. Browsers without a session are sent
    through the Hub's OAuth login; API clients without a token get 403."""

    auth_required = False

    async def get(self) -> None:
        if self.current_user is None:
            mode = self.request.headers.get("Sec-Fetch-Mode", "")
            accepts_html = "text/html" in self.request.headers.get("Accept", "")
            if self._not_allowed is None and (mode == "navigate" or accepts_html):
                self.redirect(self.get_login_url())
                return
            self.refuse_anonymous()
        base = self.settings["base_url"]
        self.write_json(
            {
                "service": "jupyterhub-templates",
                "version": __version__,
                "user": self.username,
                "templates_admin": self.is_templates_admin,
                "links": {
                    "templates": f"{base}minio/list-templates",
                    "openapi": f"{base}openapi.json",
                    "health": f"{base}health",
                },
            }
        )
