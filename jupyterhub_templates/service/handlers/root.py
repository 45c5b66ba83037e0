"""The service's landing page: where a browser lands after OAuth, and what it shows."""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler

from ..._version import __version__
from .base import BaseHandler, ServiceHubAuth


class OAuthCallbackHandler(ServiceHubAuth, HubOAuthCallbackHandler):
    """Completes the Hub's OAuth login with the service's own HubOAuth, whichever
    replica started it (:mod:`..oauth`)."""

    async def get(self) -> None:
        self.hub_auth.restore_state(self, self.get_argument("state", ""))
        await super().get()


class RootHandler(BaseHandler):
    """``GET /``: who you are and what you may do. Browsers without a session are sent
    through the Hub's OAuth login; API clients without a token get 403."""

    auth_required = False

    def _sent_credentials(self) -> bool:
        """Whether the request carries anything that could identify a user."""
        return bool(
            self.request.headers.get("Authorization")
            or self.get_argument("token", None)
            or self.request.headers.get("Cookie")
        )

    async def get(self) -> None:
        if self.current_user is None:
            mode = self.request.headers.get("Sec-Fetch-Mode", "")
            accepts_html = "text/html" in self.request.headers.get("Accept", "")
            if self._not_allowed is None and (mode == "navigate" or accepts_html):
                self.redirect(self.get_login_url())
                return
            # No credentials at all: a probe (JupyterHub checks every service's URL each
            # service_check_interval), not a client that got something wrong.
            self.quiet_refusal = self._not_allowed is None and not self._sent_credentials()
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
