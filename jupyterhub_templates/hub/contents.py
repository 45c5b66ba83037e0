"""Notebooks in a user's server through the Jupyter contents API.

Paths are API paths relative to the server's root (``notebooks/run.ipynb``), checked by
:func:`jupyterhub_templates.notebooks.paths.clean_path` before they get here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tornado.httpclient import HTTPClientError

from ..errors import Conflict, InvalidInput
from .client import HubClient, UserServer, remote_error


def _url(path: str) -> str:
    return "api/contents/" + quote(path.strip("/"), safe="/")


class ContentsClient:
    """The contents API of users' servers, reached through :class:`HubClient`."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    async def kind(self, server: UserServer, path: str) -> str | None:
        """``file``, ``notebook`` or ``directory`` when ``path`` exists, else None."""
        try:
            model = await self.hub.server_request(server, "GET", _url(path) + "?content=0")
        except HTTPClientError as e:
            if e.code == 404:
                return None
            raise remote_error(e, f"Cannot look at {path!r}") from None
        return str(model.get("type"))

    async def ensure_directory(self, server: UserServer, path: str) -> None:
        """Create ``path`` and its missing parents (a file in the way is a 409)."""
        parts = [p for p in path.strip("/").split("/") if p]
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            kind = await self.kind(server, sub)
            if kind == "directory":
                continue
            if kind is not None:
                raise Conflict(f"{sub!r} exists and is not a folder.")
            try:
                await self.hub.server_request(server, "PUT", _url(sub), {"type": "directory"})
            except HTTPClientError as e:
                raise remote_error(e, f"Cannot create the folder {sub!r}") from None

    async def save_notebook(self, server: UserServer, path: str, notebook: dict[str, Any]) -> None:
        """Write ``notebook`` (nbformat JSON) at ``path``, replacing what is there."""
        body = {"type": "notebook", "format": "json", "content": notebook}
        try:
            await self.hub.server_request(server, "PUT", _url(path), body)
        except HTTPClientError as e:
            if e.code == 400:
                raise InvalidInput(f"The server refused the notebook {path!r}.") from None
            raise remote_error(e, f"Cannot write {path!r}") from None
