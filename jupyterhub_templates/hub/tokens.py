"""Credentials for users' servers: one token per user, minted by the Hub for that user.

Why not the service's own token: a user controls the code of their own server (a
``~/.jupyter/jupyter_server_config.py`` written by any notebook is picked up on the
next start), so every header the service sends there can be recorded by that user. The
token sent to alice's server is therefore alice's own, holding only
``access:servers!user=alice``: it opens alice's servers and nothing else, which alice
can do anyway. The service's token is sent to the Hub API only.

Tokens are short-lived (:attr:`ServerTokens.lifetime`), cached per user, renewed before
they expire, minted again when a server refuses one (revoked by its owner, or the user
deleted and created again). A token replaced or dropped from the cache is revoked then;
those still cached are revoked when the service stops. So each user has at most one such
token from each service process, plus any a crash left to expire.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from tornado.httpclient import HTTPClientError

from ..errors import NotFound, Unavailable

if TYPE_CHECKING:
    from .client import HubClient

log = logging.getLogger(__name__)

#: the note the Hub shows beside these tokens on the user's token page
TOKEN_NOTE = "templates service: reach this user's own servers"  # noqa: S105 (a label)
#: the Hub's answer when ``expires_in`` is over its ``token_expires_in_max_seconds``
_OVER_MAX = re.compile(r"must not exceed (\d+)")


def server_scopes(username: str) -> list[str]:
    """The scopes of the token that reaches ``username``'s servers: access to them, and
    nothing beyond (the server checks the token with the Hub, which any token may do)."""
    return [f"access:servers!user={username}"]


@dataclass(frozen=True)
class ServerToken:
    """A minted token: its value, the Hub's id for it (to revoke it) and when it stops
    being handed out (``time.monotonic()``)."""

    value: str
    token_id: str
    renew_at: float


class ServerTokens:
    """The per-user tokens, minted through ``hub`` (the Hub API, with the service's token).

    ``lifetime``: seconds a token lives in the Hub; it is renewed once less than
    ``renew_before`` seconds of it are left, so a request never carries a token about to
    expire. ``max_users``: tokens kept at once; the least recently used go first.
    """

    def __init__(
        self,
        hub: HubClient,
        *,
        lifetime: int = 3600,
        renew_before: float | None = None,
        max_users: int = 10_000,
    ) -> None:
        self.hub = hub
        self.lifetime = max(60, int(lifetime))
        self.renew_before = (
            renew_before if renew_before is not None else min(900.0, self.lifetime / 4)
        )
        self.max_users = max_users
        self._tokens: OrderedDict[str, ServerToken] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        #: revocations of replaced tokens under way
        self._retiring: set[asyncio.Task[bool]] = set()

    def cached(self, username: str) -> str | None:
        """The user's current token if one is cached and fresh, else None."""
        token = self._tokens.get(username)
        if token is None or time.monotonic() >= token.renew_at:
            return None
        self._tokens.move_to_end(username)
        return token.value

    async def token_for(self, username: str) -> str:
        """A token for ``username``'s servers: the cached one, or a new one from the Hub.

        Raises :class:`NotFound` when the Hub has no such user, :class:`Unavailable` when
        it cannot mint one.
        """
        value = self.cached(username)
        if value is not None:
            return value
        lock = self._locks.setdefault(username, asyncio.Lock())
        try:
            async with lock:
                value = self.cached(username)  # minted by a request we waited for
                if value is None:
                    token = await self._mint(username)
                    old = self._tokens.pop(username, None)
                    if old is not None:
                        self._retire(username, old)  # renewed: the old one is not needed
                    self._tokens[username] = token
                    while len(self._tokens) > self.max_users:
                        self._retire(*self._tokens.popitem(last=False))
                    value = token.value
        finally:
            if not lock.locked() and self._locks.get(username) is lock:
                del self._locks[username]
        return value

    def discard(self, username: str, value: str) -> None:
        """Forget ``value`` (a server refused it); the next request mints another."""
        token = self._tokens.get(username)
        if token is not None and token.value == value:
            del self._tokens[username]
            self._retire(username, token)  # refused, but maybe only by a confused server

    def _retire(self, username: str, token: ServerToken) -> None:
        """Revoke ``token`` in the background (best effort)."""
        if not token.token_id:
            return
        task = asyncio.ensure_future(self._revoke(username, token.token_id))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _revoke(self, username: str, token_id: str) -> bool:
        try:
            await self.hub.api(
                "DELETE", f"/users/{quote(username, safe='')}/tokens/{quote(token_id)}"
            )
        except (HTTPClientError, Unavailable):
            return False  # gone already (404), or the Hub is away: it expires anyway
        return True

    async def _mint(self, username: str) -> ServerToken:
        path = f"/users/{quote(username, safe='')}/tokens"
        body: dict[str, object] = {
            "scopes": server_scopes(username),
            "expires_in": self.lifetime,
            "note": TOKEN_NOTE,
        }
        lifetime = self.lifetime
        for _ in range(2):
            try:
                answer = await self.hub.api("POST", path, body)
                break
            except HTTPClientError as e:
                over = _OVER_MAX.search(_message(e)) if e.code == 400 else None
                if over and int(over.group(1)) >= 60 and lifetime != int(over.group(1)):
                    # the Hub caps token lifetimes lower: take its maximum
                    lifetime = int(over.group(1))
                    body["expires_in"] = lifetime
                    continue
                if e.code == 404:
                    raise NotFound(f"JupyterHub has no user {username!r}.") from None
                if e.code == 403:
                    # the Hub says the same for a user it does not have
                    await self.hub.get_user(username)  # NotFound if so
                raise Unavailable(
                    f"JupyterHub refused a token for the server of {username!r} ({e.code}); "
                    "the service's role needs the 'tokens' scope."
                ) from None
        else:  # pragma: no cover - the loop breaks or raises
            raise Unavailable(f"JupyterHub refused a token for the server of {username!r}.")
        if not isinstance(answer, dict) or not answer.get("token"):
            raise Unavailable(f"JupyterHub gave no token for the server of {username!r}.")
        token_id = str(answer.get("id") or "")
        renew_before = self.renew_before
        if lifetime != self.lifetime:  # cut by the Hub: renew within the shorter life
            renew_before = min(renew_before, lifetime / 4)
        return ServerToken(
            str(answer["token"]), token_id, time.monotonic() + lifetime - renew_before
        )

    async def revoke_all(self, timeout: float = 5.0) -> int:
        """Revoke, best effort and within ``timeout`` seconds, every cached token (and
        finish revoking replaced ones); the number revoked now. Those left expire on
        their own."""
        cached = list(self._tokens.items())
        self._tokens.clear()
        tasks = [
            asyncio.ensure_future(self._revoke(u, t.token_id)) for u, t in cached if t.token_id
        ]
        pending_retired = list(self._retiring)
        if not tasks and not pending_retired:
            return 0
        done, pending = await asyncio.wait([*tasks, *pending_retired], timeout=timeout)
        for task in pending:
            task.cancel()
        revoked = sum(
            1 for task in tasks if task in done and not task.cancelled() and task.result()
        )
        log.info("revoked %d of %d server tokens", revoked, len(tasks))
        return revoked


def _message(e: HTTPClientError) -> str:
    from .client import error_message

    return error_message(e)
