"""Creating a notebook from a template in a user's server.

Order of work, so that bad input and outages lose nothing:
1. check every input (paths, parameters against the template's inferred ones) and
   render the notebook; nothing is written yet;
2. start the user's server when it is stopped, and wait for it (503 after the timeout);
3. under a per-(user, path) lock: refuse an existing notebook unless ``overwrite``,
   record the notebook, create missing folders, write it with the contents API; the
   record is removed again when the write fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..catalog import Catalog
from ..catalog.notebooks import parse_notebook
from ..catalog.parameters import check_parameters, inject_parameters
from ..errors import Conflict, InvalidInput
from ..hub import ContentsClient, HubClient, UserServer
from .paths import clean_notebook_name, clean_path, join
from .records import NotebookRecords

Run = Callable[..., Awaitable[Any]]


@dataclass
class CreateRequest:
    """What a caller asks for (already authorized for ``username``)."""

    username: str
    template_name: str
    target_directory: str = ""
    new_name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    allow_unknown: bool = False
    overwrite: bool = False
    version: int | None = None
    description: str = ""


def notebook_url(public_url: str, server: UserServer, path: str) -> str:
    """Where the notebook opens in JupyterLab."""
    base = server.url or f"/user/{quote(server.username, safe='')}/"
    return f"{public_url.rstrip('/')}{base}lab/tree/{quote(path)}"


class NotebookCreator:
    """Turns a template plus parameters into a notebook in a user's server."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        records: NotebookRecords,
        hub: HubClient,
        contents: ContentsClient,
        run: Run,
        public_url: str,
        server_start_timeout: float,
    ) -> None:
        self.catalog = catalog
        self.records = records
        self.hub = hub
        self.contents = contents
        self.run = run
        self.public_url = public_url
        self.server_start_timeout = server_start_timeout
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def render(
        self, request: CreateRequest, directory: str
    ) -> tuple[str, int, dict[str, Any], dict[str, Any]]:
        """Blocking: read the template, check the parameters, inject them.

        Returns ``(path, template_version, applied_parameters, notebook_json)``.
        """
        version, data = self.catalog.read(request.template_name, request.version)
        name = clean_notebook_name(
            request.new_name
            if request.new_name not in (None, "")
            else request.template_name.rsplit("/", 1)[-1]
        )
        applied = check_parameters(
            version.parameters, request.parameters, allow_unknown=request.allow_unknown
        )
        info = parse_notebook(data)
        notebook = inject_parameters(
            info.notebook,
            applied,
            kernel_name=info.kernel_name or None,
            language=info.language or None,
        )
        # the JSON the contents API expects (plain dicts, no NotebookNode)
        as_json = json.loads(json.dumps(notebook))
        return join(directory, name), version.version, applied, as_json

    async def create(self, request: CreateRequest) -> dict[str, Any]:
        directory = clean_path(request.target_directory, "target_directory", allow_root=True)
        if not isinstance(request.parameters, dict):
            raise InvalidInput("parameters must be a JSON object.")
        path, version, applied, notebook = await self.run(self.render, request, directory)
        server = await self.hub.ensure_running(request.username, self.server_start_timeout)
        key = (request.username, path)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                existing = await self.contents.kind(server, path)
                if existing is not None and not request.overwrite:
                    raise Conflict(
                        f"{path!r} already exists in the server of {request.username!r}; "
                        "set overwrite to replace it, or choose another new_name."
                    )
                if existing == "directory":
                    raise Conflict(f"{path!r} is a folder.")
                record = await self.run(
                    self.records.add,
                    username=request.username,
                    path=path,
                    parameters=applied,
                    template_name=request.template_name,
                    template_version=version,
                    description=request.description,
                )
                try:
                    if directory:
                        await self.contents.ensure_directory(server, directory)
                    await self.contents.save_notebook(server, path, notebook)
                except BaseException:
                    await self.run(self.records.remove, record["id"])
                    raise
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]
        return {
            "status": "success",
            "new_notebook_path": path,
            "parameters_applied": applied,
            "notebook_url": notebook_url(self.public_url, server, path),
            "notebook_id": record["id"],
            "username": request.username,
            "template_name": request.template_name,
            "template_version": version,
        }
