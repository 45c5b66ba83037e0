"""The Hub REST API (users, their servers) and requests to users' servers.

Two credentials, never mixed: the service's own token goes to the Hub API only; a
request to a user's server carries a token the Hub minted for that user
(:mod:`.tokens`), which opens nothing that user could not open already.

Every call is async (Tornado's AsyncHTTPClient): nothing here blocks the event loop.
Failures map to the project's errors: an unreachable Hub or server is
:class:`~jupyterhub_templates.errors.Unavailable` (503), an unknown user
:class:`~jupyterhub_templates.errors.NotFound`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from ..errors import (
    BadGateway,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    TemplatesError,
    Unavailable,
)
from .tokens import ServerTokens

log = logging.getLogger(__name__)

#: answers only the proxy or the Hub give, meaning "this user's server is not there"
SERVER_GONE = (424, 502, 503)
#: the largest answer read from the Hub or a user's server (a log page is at most 1 MiB
#: of text); a server answering more is treated as unreachable
MAX_ANSWER_BYTES = 16 * 1024 * 1024
#: answers larger than this are decoded in a worker thread, not on the event loop
DECODE_OFF_LOOP_BYTES = 64 * 1024


def server_key(username: str, name: str = "") -> str:
    """One string naming a user's server: ``alice`` for the default one,
    ``alice/templates-runs`` for a named one (usernames hold no ``/`` in JupyterHub
    URLs, nor do server names)."""
    return f"{username}/{name}" if name else username


def split_key(key: str) -> tuple[str, str]:
    """``(username, server name)`` of a :func:`server_key`."""
    username, _, name = key.partition("/")
    return username, name


@dataclass(frozen=True)
class UserServer:
    """A user's server (the default one, or the named one ``name``) as the Hub reports
    it."""

    username: str
    #: the server's URL path, e.g. ``/user/alice/``; empty when it is not running
    url: str
    ready: bool
    #: ``spawn``, ``stop`` or None
    pending: str | None
    #: "" for the default server, else the named server's name
    name: str = ""

    @property
    def running(self) -> bool:
        return self.ready and bool(self.url)

    @property
    def key(self) -> str:
        return server_key(self.username, self.name)


class ServerNotRunning(Unavailable):
    """The user's server is not running (or stopped while we talked to it)."""


class ServerFailed(Unavailable):
    """The user's server itself answered with a 5xx status (``code``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class HubClient(LoggingConfigurable):
    """The Hub REST API with the service's token, and users' servers through the proxy
    with each user's own server token (:class:`~.tokens.ServerTokens`).

    ``api_url`` is the Hub API (``$JUPYTERHUB_API_URL``); ``proxy_url`` the public
    side of the Hub's proxy (``http://127.0.0.1:8000``), through which users' servers
    are reached at ``/user/<name>/``. Other keyword arguments: traits, ``parent``, ``log``.
    """

    request_timeout = Float(
        30.0, help="Seconds a request to the Hub API or to a user's server may take."
    ).tag(config=True)

    max_clients = Int(
        100, help="Requests to the Hub and to users' servers in flight at once (long polls too)."
    ).tag(config=True)

    server_token_lifetime = Int(
        3600,
        help="""Lifetime (seconds, at least 60) of the tokens that reach users' servers.

        The service never sends its own token to a user's server, whose code the user
        controls: for each user it has the Hub mint a token *of that user* holding only
        access:servers!user=<name>, keeps it in memory, renews it before it expires
        (with a quarter of its lifetime, at most 15 minutes, left) and revokes it when
        the service stops. A Hub with a lower token_expires_in_max_seconds caps it.
        """,
    ).tag(config=True)

    server_start_timeout = Float(
        60.0,
        help="How long (seconds) to wait for a user's stopped server to start before "
        "answering 503.",
    ).tag(config=True)

    def __init__(self, api_url: str, token: str, proxy_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_url = api_url.rstrip("/")
        self.proxy_url = proxy_url.rstrip("/")
        self._token = token
        self.tokens = ServerTokens(self, lifetime=self.server_token_lifetime)
        # A client of our own (not the shared singleton): long polls must not starve
        # the Hub API calls of connections.
        self.http = AsyncHTTPClient(
            force_instance=True, max_clients=self.max_clients, max_body_size=MAX_ANSWER_BYTES
        )
        # server key -> (running server, time.monotonic() when the Hub said so)
        self._running: dict[str, tuple[UserServer, float]] = {}

    def close(self) -> None:
        self.http.close()

    # -- plumbing --------------------------------------------------------------

    async def close_tokens(self, timeout: float = 5.0) -> None:
        """Revoke the server tokens minted by this process (best effort)."""
        await self.tokens.revoke_all(timeout)

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        what: str = "the Hub",
    ) -> HTTPResponse:
        """One request; raises HTTPClientError for 4xx/5xx answers and
        :class:`Unavailable` when nothing answers.

        ``token`` is the credential to send; None means the service's own, which only
        the Hub API may receive (anything else is refused here, before a byte is sent).
        ``body`` is sent as JSON: ``bytes`` as they are (already encoded, e.g. in a worker
        thread, so that a large body is not encoded on the event loop), anything else
        through ``json.dumps``."""
        if token is None:
            if not url.startswith(self.api_url + "/"):
                raise ValueError("the service's token is sent to the Hub API only")
            token = self._token
        headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        data = None
        if isinstance(body, bytes):
            data = body
            headers["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            data = b""
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=data,
            request_timeout=timeout or self.request_timeout,
            connect_timeout=10,
            follow_redirects=False,
        )
        try:
            return await self.http.fetch(request)
        except HTTPClientError as e:
            if e.code == 599:
                raise Unavailable(f"{what} did not answer ({e.message}).") from None
            raise
        except OSError as e:
            raise Unavailable(f"{what} cannot be reached ({type(e).__name__}).") from None

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """A Hub REST API call; the decoded JSON answer (None for an empty body)."""
        try:
            response = await self.fetch(f"{self.api_url}{path}", method, body)
        except HTTPClientError as e:
            if e.code >= 500:
                raise Unavailable(f"The Hub API answered {e.code}.") from None
            raise
        return json.loads(response.body) if response.body else None

    # -- users and servers -------------------------------------------------------

    async def get_user(self, username: str) -> dict[str, Any]:
        """The Hub's model of the user (name, groups, servers); NotFound when the Hub
        has no such user."""
        try:
            model = await self.api("GET", f"/users/{quote(username, safe='')}")
        except HTTPClientError as e:
            if e.code == 404:
                raise NotFound(f"JupyterHub has no user {username!r}.") from None
            raise Unavailable(f"The Hub API refused to describe {username!r} ({e.code}).") from None
        if not isinstance(model, dict):
            raise Unavailable(f"The Hub API did not describe {username!r}.")
        return model

    async def get_server(self, username: str, name: str = "") -> UserServer:
        """The user's default server, or their named server ``name``; NotFound when the
        Hub has no such user."""
        model = await self.get_user(username)
        server = (model.get("servers") or {}).get(name)
        if not server:
            pending = model.get("pending") if not name else None
            result = UserServer(username, "", False, pending, name)
        else:
            result = UserServer(
                username,
                server.get("url") or "",
                bool(server.get("ready")),
                server.get("pending"),
                name,
            )
        if result.running:
            self._running[result.key] = (result, time.monotonic())
        else:
            self._running.pop(result.key, None)
        return result

    def forget(self, username: str, name: str = "") -> None:
        """Drop what :meth:`ensure_running` remembers of the user's server."""
        self._running.pop(server_key(username, name), None)

    def remembered(self, username: str, max_age: float, name: str = "") -> UserServer | None:
        """The user's server as the Hub last reported it running, at most ``max_age``
        seconds ago (None otherwise). Saves a Hub API call; a caller using it must
        cope with :class:`ServerNotRunning` from a server that stopped meanwhile (a
        request that finds the server gone forgets it)."""
        entry = self._running.get(server_key(username, name))
        if entry is None or time.monotonic() - entry[1] > max_age:
            return None
        return entry[0]

    async def ensure_running(
        self,
        username: str,
        timeout: float | None = None,
        *,
        name: str = "",
        options: dict[str, Any] | None = None,
    ) -> UserServer:
        """The user's server (the named one ``name``, which the Hub then creates if
        needed), started first when it is stopped, with the spawner's ``options``
        (user_options: a profile's slug, e.g.), once it is ready.

        Raises :class:`Unavailable` when it is not ready within ``timeout`` seconds
        (default: :attr:`server_start_timeout`) or the Hub refuses to start it.
        """
        if timeout is None:
            timeout = self.server_start_timeout
        deadline = time.monotonic() + timeout
        server = await self.get_server(username, name)
        if server.running:
            return server
        what = f"the server {name!r} of {username!r}" if name else f"the server of {username!r}"
        if not server.pending:
            path = f"/users/{quote(username, safe='')}/server"
            if name:
                path = f"{path}s/{quote(name, safe='')}"
            body = None
            if name or options:
                body = {"display_name": name, "user_options": options or None}
            try:
                # The Hub holds this request until the spawn ends or its
                # slow_spawn_timeout passes; our own deadline comes first.
                await asyncio.wait_for(
                    self.api("POST", path, body),
                    max(deadline - time.monotonic(), 0.01),
                )
            except asyncio.TimeoutError:
                pass  # the spawn goes on in the Hub; the loop below gives up in time
            except HTTPClientError as e:
                # 400 "already running" or "is pending": a race with another start; go
                # on and wait. Any other refusal (no named servers, too many) is final.
                message = error_message(e)
                if e.code != 400 or not ("already running" in message or "pending" in message):
                    raise Unavailable(
                        f"JupyterHub refused to start {what} ({e.code}: {message})."
                    ) from None
            log.info("started %s", what)
        delay = 0.2
        while True:
            server = await self.get_server(username, name)
            if server.running:
                return server
            if time.monotonic() + delay > deadline:
                raise Unavailable(
                    f"{what[0].upper()}{what[1:]} did not become ready within {timeout:.0f} s; "
                    "try again later."
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    # -- requests to a user's server -------------------------------------------

    async def server_request(
        self,
        server: UserServer,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """A JSON request to ``path`` under the user's server, through the proxy, with
        the user's own server token.

        4xx answers raise HTTPClientError (the caller maps them); a server that is
        gone raises :class:`ServerNotRunning`, a 5xx from the server itself
        :class:`ServerFailed`. A token the Hub will not mint is :class:`Unavailable`
        (:class:`NotFound` for a user the Hub no longer has), not a stopped server.
        A cached token the server refuses (403: revoked by its owner, or the user
        created again) is replaced by a new one and the request sent once more: a
        refused request did nothing.
        """
        cached = self.tokens.cached(server.username)
        token = cached or await self.tokens.token_for(server.username)
        try:
            response = await self._server_fetch(server, path, method, body, token, timeout)
        except HTTPClientError as e:
            if e.code != 403 or cached is None:
                raise
            self.tokens.discard(server.username, token)
            token = await self.tokens.token_for(server.username)
            response = await self._server_fetch(server, path, method, body, token, timeout)
        if response.code == 204 or not response.body:
            return None
        try:
            if len(response.body) > DECODE_OFF_LOOP_BYTES:
                return await asyncio.to_thread(json.loads, response.body)
            return json.loads(response.body)
        except (ValueError, RecursionError):
            raise BadGateway(f"The server of {server.username!r} answered with no JSON.") from None

    async def _server_fetch(
        self,
        server: UserServer,
        path: str,
        method: str,
        body: Any,
        token: str,
        timeout: float | None,
    ) -> HTTPResponse:
        url = f"{self.proxy_url}{server.url}{path}"
        what = f"The server of {server.username!r}"
        if server.name:
            what = f"The server {server.name!r} of {server.username!r}"
        try:
            return await self.fetch(url, method, body, token=token, timeout=timeout, what=what)
        except Unavailable as e:
            self.forget(server.username, server.name)
            raise ServerNotRunning(e.message) from None
        except HTTPClientError as e:
            if e.code in SERVER_GONE or (e.code == 404 and not _is_json(e.response)):
                self.forget(server.username, server.name)
                raise ServerNotRunning(f"{what} is not running.") from None
            if e.code >= 500:
                raise ServerFailed(f"{what} answered {e.code}.", e.code) from None
            raise


def _is_json(response: HTTPResponse | None) -> bool:
    """Whether the answer came from the Jupyter server itself (JSON), not the proxy."""
    if response is None:
        return False
    return response.headers.get("Content-Type", "").startswith("application/json")


def error_message(e: HTTPClientError) -> str:
    """The ``message`` of a Jupyter server's JSON error answer, else its reason."""
    if e.response is not None and e.response.body:
        try:
            return str(json.loads(e.response.body).get("message") or e.message)
        except (ValueError, AttributeError):
            pass
    return str(e.message)


def remote_error(e: HTTPClientError, what: str) -> TemplatesError:
    """Map a user server's 4xx answer to the project's error of the same status."""
    message = f"{what}: {error_message(e)}"
    kinds: dict[int, type[TemplatesError]] = {
        400: InvalidInput,
        403: NotAllowed,
        404: NotFound,
        409: Conflict,
    }
    return kinds.get(e.code, Unavailable)(message)
