"""The service's landing page: where a browser lands after OAuth, and what it shows."""

from __future__ import annotations

from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado.escape import xhtml_escape

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
        about = {
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
        if self._wants_html():
            self._write_page(about)
            return
        self.write_json(about)

    def _wants_html(self) -> bool:
        """Whether the client asks for a page (a browser navigating here, e.g. from the
        Hub's Services menu) rather than JSON (any API client: they send no Accept, or
        one naming JSON first)."""
        accept = self.request.headers.get("Accept", "")
        if "text/html" not in accept:
            return False
        return accept.find("text/html") < accept.find("application/json") or (
            "application/json" not in accept
        )

    def _write_page(self, about: dict[str, Any]) -> None:
        """A page that leads to the Templates panel in the user's JupyterLab."""
        lab = f"{self.hub_auth.hub_prefix}user-redirect/lab"
        links = about["links"]
        admin = (
            "<p>You may upload, replace and delete templates (the panel's admin controls).</p>"
            if about["templates_admin"]
            else ""
        )
        page = PAGE.format(
            user=xhtml_escape(about["user"] or ""),
            version=xhtml_escape(about["version"]),
            lab=xhtml_escape(lab),
            admin=admin,
            openapi=xhtml_escape(links["openapi"]),
            templates=xhtml_escape(links["templates"]),
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.finish(page)


#: the landing page for browsers; every value in it is escaped
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Notebook templates</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;
       padding: 0 1rem; line-height: 1.5; color: #212121; }}
a.open {{ display: inline-block; padding: 0.5rem 1rem; background: #1976d2; color: #fff;
         border-radius: 4px; text-decoration: none; }}
small {{ color: #616161; }}
</style>
</head>
<body>
<h1>Notebook templates</h1>
<p>Signed in as <strong>{user}</strong>.</p>
<p>Templates live in JupyterLab: open the <em>Templates</em> panel from the left side bar
to browse the gallery, fill in a template's parameters, create and run notebooks, and
follow your executions and jobs.</p>
<p><a class="open" href="{lab}">Open JupyterLab</a></p>
{admin}
<p><small>API clients: this address answers JSON; the routes are described in
<a href="{openapi}">the OpenAPI document</a> (templates: <a href="{templates}">{templates}</a>).
jupyterhub-templates {version}.</small></p>
</body>
</html>
"""
