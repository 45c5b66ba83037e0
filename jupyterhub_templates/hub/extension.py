"""The server extension's API inside a user's server (``/user/<name>/templates/api/``):
dispatch, follow, cancel and read executions. The contract is documented in
``jupyterhub_templates/server/handlers.py`` and the README."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import HTTPClientError

from .client import HubClient, UserServer, remote_error

API = "templates/api/executions"


class ExtensionClient:
    """Calls to the jupyterhub_templates server extension, through :class:`HubClient`."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    async def _call(
        self,
        server: UserServer,
        method: str,
        path: str,
        body: Any = None,
        *,
        what: str,
        timeout: float | None = None,
    ) -> Any:
        try:
            return await self.hub.server_request(server, method, path, body, timeout=timeout)
        except HTTPClientError as e:
            raise remote_error(e, what) from None

    async def submit(self, server: UserServer, spec: dict[str, Any]) -> dict[str, Any]:
        """Dispatch an execution (``spec`` as the extension's POST body); its model."""
        return await self._call(server, "POST", API, spec, what="The server refused the run")

    async def changes(
        self,
        server: UserServer,
        *,
        since: int | None = None,
        wait: float = 0,
        ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """``{"boot_id", "seq", "executions"}``: the executions changed after ``since``
        (all when None), waiting up to ``wait`` seconds for a change."""
        query: dict[str, Any] = {}
        if since is not None:
            query["since"] = since
            query["wait"] = int(wait)
        if ids:
            query["ids"] = ",".join(ids)
        path = API + ("?" + urlencode(query) if query else "")
        return await self._call(
            server, "GET", path, what="Cannot follow the executions", timeout=wait + 30
        )

    async def get(self, server: UserServer, remote_id: str) -> dict[str, Any]:
        return await self._call(
            server, "GET", f"{API}/{quote(remote_id)}", what="Cannot read the execution"
        )

    async def cancel(self, server: UserServer, remote_id: str) -> dict[str, Any]:
        return await self._call(
            server, "POST", f"{API}/{quote(remote_id)}/cancel", what="Cannot cancel"
        )

    async def log(self, server: UserServer, remote_id: str, offset: int = 0) -> dict[str, Any]:
        return await self._call(
            server,
            "GET",
            f"{API}/{quote(remote_id)}/log?offset={int(offset)}",
            what="Cannot read the log",
        )
