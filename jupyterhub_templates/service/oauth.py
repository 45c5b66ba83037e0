"""The service's HubOAuth, made to work across replicas without sticky sessions.

JupyterHub's ``HubOAuth`` keeps what a browser login needs at its callback (where to go
next, the PKCE verifier, the name of the state cookie) in the memory of the process that
started the login; behind a load balancer the callback may reach another replica, which
would not know it and fail ("Code verifier required"). Here that state also travels in a
cookie of its own, signed with the cookie secret every replica shares, and the replica
answering the callback takes it from there. The cookie goes only to the service's own
path and only to the browser that logged in, as the state cookie does; the verifier
never appears in a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth
from jupyterhub.utils import get_browser_protocol
from tornado.web import RequestHandler

#: how long a login may take from its start to its callback (as JupyterHub's state cookie)
STATE_MAX_AGE = 600


class ReplicatedHubOAuth(HubOAuth):
    """``HubOAuth`` whose login state any replica sharing the cookie secret can read."""

    def _state_data_cookie(self, state_id: str) -> str:
        # under the state cookie's name, so that JupyterHub's clean-up clears it too
        digest = hashlib.sha256(state_id.encode()).hexdigest()[:16]
        return f"{self.state_cookie_name}-data-{digest}"

    def set_state_cookie(
        self,
        handler: RequestHandler,
        next_url: str | None = None,
        *,
        code_verifier: str | None = None,
    ) -> str:
        state_id = super().set_state_cookie(handler, next_url, code_verifier=code_verifier)
        options: dict[str, Any] = {
            "path": self.cookie_path,
            "httponly": True,
            "max_age": STATE_MAX_AGE,
        }
        public_url = os.getenv("JUPYTERHUB_PUBLIC_URL")
        if (
            urlparse(public_url).scheme if public_url else get_browser_protocol(handler.request)
        ) == "https":
            options["secure"] = True
        handler.set_secure_cookie(
            self._state_data_cookie(state_id), json.dumps(self._decode_state(state_id)), **options
        )
        return state_id

    def restore_state(self, handler: RequestHandler, state_id: str) -> None:
        """Make the login state of ``state_id`` known here, from its cookie, when another
        replica started the login. A state without its signed cookie stays unknown (and
        the callback fails as it would have)."""
        if not state_id or self._decode_state(state_id):
            return
        raw = handler.get_secure_cookie(
            self._state_data_cookie(state_id), max_age_days=STATE_MAX_AGE / 86400
        )
        if raw is None:
            return
        try:
            state = json.loads(raw)
        except ValueError:
            return
        if isinstance(state, dict):
            self._oauth_states[state_id] = state
