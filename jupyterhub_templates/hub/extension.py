"""The server extension's API inside a user's server (``/user/<name>/templates/api/``):
dispatch, follow, cancel and read executions. The contract is documented in
``jupyterhub_templates/server/handlers.py`` and the README."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import HTTPClientError

from ..errors import BadGateway
from .client import HubClient, UserServer, remote_error

API = "templates/api/executions"


def _model(answer: Any, what: str) -> dict[str, Any]:
    """``answer`` when it is an execution model (an object with a string ``id``)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise BadGateway(f"{what}: the user's server answered with no execution.")
    return answer


def _listing(answer: Any) -> dict[str, Any]:
    """``answer`` when it is a listing: ``boot_id`` text, ``seq`` integer, a list of
    execution models (anything else in the list is dropped)."""
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("boot_id"), str)
        or type(answer.get("seq")) is not int
        or not isinstance(answer.get("executions"), list)
    ):
        raise BadGateway("The user's server answered the listing of its runs with no listing.")
    models = [
        m for m in answer["executions"] if isinstance(m, dict) and isinstance(m.get("id"), str)
    ]
    return {**answer, "executions": models}


class ExtensionClient:
    """Calls to the jupyterhub_templates server extension, through :class:`HubClient`.

    The extension runs in a server whose code its user controls: answers are checked
    for their shape (:class:`~jupyterhub_templates.errors.BadGateway` otherwise), and
    what they say is applied to that user's records only."""

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

    async def submit(self, server: UserServer, spec: dict[str, Any] | bytes) -> dict[str, Any]:
        """Dispatch an execution (``spec`` as the extension's POST body, or that body
        encoded); its model."""
        answer = await self._call(server, "POST", API, spec, what="The server refused the run")
        return _model(answer, "Dispatching the run")

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
        answer = await self._call(
            server, "GET", path, what="Cannot follow the executions", timeout=wait + 30
        )
        return _listing(answer)

    async def get(self, server: UserServer, remote_id: str) -> dict[str, Any]:
        answer = await self._call(
            server, "GET", f"{API}/{quote(remote_id)}", what="Cannot read the execution"
        )
        return _model(answer, "Reading the run")

    async def cancel(self, server: UserServer, remote_id: str) -> dict[str, Any]:
        answer = await self._call(
            server, "POST", f"{API}/{quote(remote_id)}/cancel", what="Cannot cancel"
        )
        return _model(answer, "Cancelling the run")

    async def log(self, server: UserServer, remote_id: str, offset: int = 0) -> dict[str, Any]:
        answer = await self._call(
            server,
            "GET",
            f"{API}/{quote(remote_id)}/log?offset={int(offset)}",
            what="Cannot read the log",
        )
        if not isinstance(answer, dict):
            raise BadGateway("Reading the log: the user's server answered with no log.")
        return answer
