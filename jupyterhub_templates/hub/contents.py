"""Notebooks in a user's server through the Jupyter contents API.

Paths are API paths relative to the server's root (``notebooks/run.ipynb``), checked by
:func:`jupyterhub_templates.notebooks.paths.clean_path` before they get here.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import HTTPClientError

from ..errors import Conflict, InvalidInput
from .client import HubClient, ServerFailed, UserServer, remote_error

#: how long a folder seen in a user's server is taken to still be there (seconds)
FOLDER_MEMORY_SECONDS = 60.0
#: folders remembered at most, across users
MAX_FOLDERS = 10_000


def _url(path: str) -> str:
    return "api/contents/" + quote(path.strip("/"), safe="/")


class ContentsClient:
    """The contents API of users' servers, reached through :class:`HubClient`."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub
        # (user, folder) -> when it was last seen: a notebook is written into a folder
        # known to exist with one PUT; into another one, the folders are made first,
        # since a PUT into a missing folder makes jupyter_server log an error (and 500)
        self._folders: OrderedDict[tuple[str, str], float] = OrderedDict()
        # one creation of a given folder at a time in this process: two creates into the
        # same new folder would both PUT it, and jupyter_server logs an error for the
        # second ("File exists")
        self._making: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _known_folder(self, username: str, folder: str) -> bool:
        seen = self._folders.get((username, folder))
        if seen is None or time.monotonic() - seen > FOLDER_MEMORY_SECONDS:
            return False
        self._folders.move_to_end((username, folder))
        return True

    def _saw_folder(self, username: str, folder: str) -> None:
        self._folders[(username, folder)] = time.monotonic()
        self._folders.move_to_end((username, folder))
        while len(self._folders) > MAX_FOLDERS:
            self._folders.popitem(last=False)

    async def kind(self, server: UserServer, path: str) -> str | None:
        """``file``, ``notebook`` or ``directory`` when ``path`` exists, else None."""
        try:
            model = await self.hub.server_request(server, "GET", _url(path) + "?content=0")
        except HTTPClientError as e:
            if e.code == 404:
                return None
            raise remote_error(e, f"Cannot look at {path!r}") from None
        return str(model.get("type"))

    async def ensure_directory(self, server: UserServer, path: str) -> int:
        """Create ``path`` and its missing parents (a file in the way is a 409); the
        number of folders created."""
        created = 0
        parts = [p for p in path.strip("/").split("/") if p]
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            key = (server.username, sub)
            lock = self._making.get(key)
            if lock is None:
                lock = self._making[key] = asyncio.Lock()
            async with lock:
                created += await self._make_folder(server, sub)
        return created

    async def _make_folder(self, server: UserServer, sub: str) -> int:
        """Create the folder ``sub`` unless it exists; 1 when it was created."""
        kind = await self.kind(server, sub)
        if kind == "directory":
            return 0
        if kind is not None:
            raise Conflict(f"{sub!r} exists and is not a folder.")
        try:
            await self.hub.server_request(server, "PUT", _url(sub), {"type": "directory"})
        except ServerFailed:
            # Another process made it in between (Jupyter answers 500 "File exists").
            if await self.kind(server, sub) == "directory":
                return 0
            raise
        except HTTPClientError as e:
            raise remote_error(e, f"Cannot create the folder {sub!r}") from None
        return 1

    async def save_notebook(
        self,
        server: UserServer,
        path: str,
        notebook: dict[str, Any] | bytes,
        *,
        making_folders: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Write ``notebook`` at ``path``, replacing what is there, creating missing
        folders on the way.

        ``notebook`` is nbformat JSON, or the whole contents-API body already encoded
        (``notebook_body``). One PUT when the folder was seen in the last minute;
        otherwise its missing folders are created first. When the server fails the PUT
        anyway, the path and its folders are looked at: a folder at ``path`` or a file
        in the way of a folder is a :class:`Conflict`, missing folders (deleted
        meanwhile) are created and the PUT is tried once more. ``making_folders`` is
        awaited before folders are made (the caller's lock across service processes).
        """
        body = notebook if isinstance(notebook, bytes) else notebook_body(notebook)
        parent = path.strip("/").rpartition("/")[0]
        locked = False

        async def make_folders() -> None:
            nonlocal locked
            if making_folders is not None and not locked:
                await making_folders()
                locked = True
            await self.ensure_directory(server, parent)

        if parent and not self._known_folder(server.username, parent):
            await make_folders()
        try:
            await self._put(server, path, body)
        except ServerFailed:
            # Jupyter answers 500 for a missing parent folder and for a folder at path.
            if await self.kind(server, path) == "directory":
                raise Conflict(f"{path!r} is a folder.") from None
            if not parent:
                raise
            # Tried again also when another request created the folders meanwhile.
            await make_folders()
            await self._put(server, path, body)
        if parent:
            self._saw_folder(server.username, parent)

    async def remove_file(self, server: UserServer, path: str) -> bool:
        """Delete the file at ``path``; best effort: whether it went (never raises)."""
        try:
            await self.hub.server_request(server, "DELETE", _url(path))
        except Exception:  # a clean-up after another failure: report that one
            return False
        return True

    async def _put(self, server: UserServer, path: str, body: bytes) -> None:
        try:
            await self.hub.server_request(server, "PUT", _url(path), body)
        except HTTPClientError as e:
            if e.code == 400:
                raise InvalidInput(f"The server refused the notebook {path!r}.") from None
            raise remote_error(e, f"Cannot write {path!r}") from None


def notebook_body(notebook: dict[str, Any]) -> bytes:
    """The contents-API body that saves ``notebook`` (nbformat JSON), encoded. Blocking
    for large notebooks (a 1 MB one takes milliseconds): run it in a worker thread."""
    return json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
