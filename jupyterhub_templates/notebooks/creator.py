"""Creating a notebook from a template in a user's server.

Order of work, so that bad input, outages and concurrent requests lose nothing:
1. check every input (paths, parameters against the template's inferred ones) and
   render the notebook into the contents-API body, in one worker-thread hop; nothing
   is written yet;
2. start the user's server when it is stopped, and wait for it (503 after the timeout);
3. claim the path: a per-(user, path) asyncio lock in this process, then a claim in the
   database that every service process sharing it respects (:meth:`NotebookRecords.claim`:
   a PostgreSQL advisory lock in an open transaction holding the new record);
4. unless ``overwrite``, refuse an existing path (409); write the notebook with one PUT
   (missing folders are created only when that PUT fails for want of them); commit the
   record, which releases the claim. Any failure before the commit aborts the claim, so
   no record is left; a failed commit removes a file this request created.

So of concurrent creates of one new path, across service processes too, exactly one
succeeds and the others get 409; concurrent overwrites run one after another, and the
newest record of the path describes the file that is there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from ..catalog.catalog import Catalog
from ..catalog.parameters import check_parameters, inject_parameters
from ..catalog.parsing import NotebookInfo, parse_notebook
from ..db.models import TemplateVersion
from ..errors import Conflict, InvalidInput, Unavailable
from ..hub import ContentsClient, HubClient, UserServer
from ..hub.contents import notebook_body
from .paths import clean_notebook_name, clean_path, join
from .records import NotebookRecords, PathClaim

InThread = Callable[..., Awaitable[Any]]

#: Creates holding a path claim at once. A claim keeps a pooled database connection
#: while the user's server is called; with more claims than the pool can spare, the
#: claims' own steps and every other request wait on the pool until its timeout (503).
#: The service passes its ``db_pool_size`` (half of the main pool's connections).
MAX_CLAIMS = 8


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


#: the key that ties a stand-in cell of :class:`ParsedTemplate` to its template cell
_CELL = "__templates_cell__"


class ParsedTemplate:
    """A parsed, validated template, and what building a notebook from it reuses.

    For a 1 MB template, papermill's own work is small; copying the template's cells
    and JSON-encoding them costs several times more, and injection never changes them.
    So the cells are encoded once, and papermill injects into a *skeleton*: the
    template with its cells replaced by a few stand-ins, ``{_CELL: i, "metadata":
    {"tags": [...]}}``, one for each cell papermill looks for (the first tagged
    ``parameters``, the first tagged ``injected-parameters``: papermill reads nothing
    else of existing cells) and one for each run of cells between them. The body joins
    the encoded runs and cells in the order papermill left their stand-ins, with its
    new cell encoded in place: the same JSON as encoding the whole injected notebook.
    Templates older than nbformat 4.5 (papermill gives their cells new ids) take the
    plain path: inject into the whole notebook, encode it all.
    """

    def __init__(self, info: NotebookInfo) -> None:
        self.info = info
        nb = info.notebook
        self.spliced = (
            int(nb.get("nbformat", 0)) == 4
            and int(nb.get("nbformat_minor", 0)) >= 5
            and all(isinstance(c.get("metadata", {}).get("tags"), list) for c in nb.cells)
        )
        self._pieces: list[str] | None = None
        self._skeleton: Any = None
        self._lock = threading.Lock()

    def body(self, applied: dict[str, Any]) -> bytes:
        """Blocking: the contents-API request writing the template with ``applied``
        injected, encoded; the same JSON value as ``notebook_body(inject_parameters(...))``."""
        info = self.info
        options = {"kernel_name": info.kernel_name or None, "language": info.language or None}
        if not self.spliced:
            return notebook_body(inject_parameters(info.notebook, applied, **options))
        pieces, skeleton = self._parts()
        out = inject_parameters(skeleton, applied, **options)
        parts = []
        for cell in out["cells"]:
            index = cell.get(_CELL)
            parts.append(pieces[index] if index is not None else json.dumps(cell))
        head = json.dumps({k: v for k, v in out.items() if k != "cells"})
        content = head[:-1] + (", " if head != "{}" else "") + '"cells": [' + ", ".join(parts)
        return ('{"type": "notebook", "format": "json", "content": ' + content + "]}}").encode()

    def _parts(self) -> tuple[list[str], Any]:
        with self._lock:
            if self._pieces is None:
                from nbformat import NotebookNode

                nb = self.info.notebook
                cells = nb.cells
                encoded = [json.dumps(cell) for cell in cells]
                marks = set()
                for tag in ("parameters", "injected-parameters"):
                    marks.update(
                        next(([i] for i, c in enumerate(cells) if tag in c.metadata.tags), [])
                    )
                pieces: list[str] = []
                stand_ins = []
                start = 0
                for mark in [*sorted(marks), len(cells)]:
                    for lo, hi, tags in ((start, mark, []), (mark, mark + 1, None)):
                        if lo >= hi or lo >= len(cells):
                            continue
                        if tags is None:
                            tags = list(cells[lo].metadata.tags)
                        stand_ins.append(
                            NotebookNode({_CELL: len(pieces), "metadata": NotebookNode(tags=tags)})
                        )
                        pieces.append(", ".join(encoded[lo:hi]))
                    start = mark + 1
                skeleton = NotebookNode({k: v for k, v in nb.items() if k != "cells"})
                skeleton["cells"] = stand_ins
                self._pieces, self._skeleton = pieces, skeleton
            return self._pieces, self._skeleton


class ParsedTemplates:
    """:class:`ParsedTemplate` by content hash; least recently used go first once the
    bytes they were parsed from pass ``max_bytes``. Thread-safe. The notebooks are
    shared: never modify them (``inject_parameters`` does not)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[int, ParsedTemplate]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def parse(self, sha256: str, data: bytes) -> ParsedTemplate:
        """``data`` parsed (``parse_notebook``), from the cache when seen before."""
        with self._lock:
            hit = self._items.get(sha256)
            if hit is not None:
                self._items.move_to_end(sha256)
                return hit[1]
        parsed = ParsedTemplate(parse_notebook(data))
        # the recorded hash names the content only when the bytes match it
        if len(data) <= self.max_bytes and hashlib.sha256(data).hexdigest() == sha256:
            with self._lock:
                if sha256 not in self._items:
                    self._items[sha256] = (len(data), parsed)
                    self._size += len(data)
                while self._size > self.max_bytes:
                    _, (size, _parsed) = self._items.popitem(last=False)
                    self._size -= size
        return parsed


class NotebookCreator(LoggingConfigurable):
    """Turns a template plus parameters into a notebook in a user's server.

    Keyword arguments besides the collaborators: traits, ``parent``, ``log``.
    """

    server_state_max_age = Float(
        5.0,
        help="""Seconds a server the Hub reported running is written to without asking
        the Hub again (one Hub API call less per create); a create that finds it gone
        asks.""",
    ).tag(config=True)

    claim_timeout = Float(
        60.0,
        help="""Seconds a create waits for another request (of any service process) to
        release the notebook's path before answering 503.""",
    ).tag(config=True)

    parsed_cache_bytes = Int(
        32 * 1024 * 1024,
        help="""Bytes of templates whose parsed form is kept in memory (parsing and
        validating a 1 MB notebook costs ~25 ms, several times the injection itself);
        keyed by content hash, so an entry is never stale. 0: none.""",
    ).tag(config=True)

    def __init__(
        self,
        *,
        catalog: Catalog,
        records: NotebookRecords,
        hub: HubClient,
        contents: ContentsClient,
        in_thread: InThread,
        public_url: str,
        max_claims: int = MAX_CLAIMS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.catalog = catalog
        self.records = records
        self.hub = hub
        self.contents = contents
        self.in_thread = in_thread
        self.public_url = public_url
        self.parsed = ParsedTemplates(self.parsed_cache_bytes)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._claim_slots = asyncio.Semaphore(max(1, max_claims))

    def target_path(self, request: CreateRequest, directory: str) -> str:
        """Where the notebook goes (InvalidInput for a bad name)."""
        name = clean_notebook_name(
            request.new_name
            if request.new_name not in (None, "")
            else request.template_name.rsplit("/", 1)[-1]
        )
        return join(directory, name)

    def check(self, request: CreateRequest) -> tuple[TemplateVersion, bytes, dict[str, Any]]:
        """Blocking: read the template and check the parameters against it.

        Returns ``(version, template_bytes, applied_parameters)``.
        """
        version, data = self.catalog.load_version(request.template_name, request.version)
        applied = check_parameters(
            version.parameters, request.parameters, allow_unknown=request.allow_unknown
        )
        return version, data, applied

    def render(self, version: TemplateVersion, data: bytes, applied: dict[str, Any]) -> bytes:
        """Blocking: the contents-API request that writes the template with ``applied``
        injected, encoded (the parsed template comes from a cache)."""
        return self.parsed.parse(version.sha256, data).body(applied)

    async def create(self, request: CreateRequest) -> dict[str, Any]:
        directory = clean_path(request.target_directory, "target_directory", allow_root=True)
        if not isinstance(request.parameters, dict):
            raise InvalidInput("parameters must be a JSON object.", field="parameters")
        path = self.target_path(request, directory)
        version, data, applied = await self.in_thread(self.check, request)
        # the notebook is built while the path is claimed and checked
        rendering = asyncio.ensure_future(self.in_thread(self.render, version, data, applied))
        try:
            server = self.hub.remembered(request.username, self.server_state_max_age)
            remembered = server is not None
            if server is None:
                await rendering  # a notebook that cannot be built must not start a server
                server = await self.hub.ensure_running(request.username)
            key = (request.username, path)
            lock = self._locks.setdefault(key, asyncio.Lock())
            try:
                async with lock, self._claim_slots:
                    server, record = await self._claimed(
                        request, server, remembered, path, version.version, applied, rendering
                    )
            finally:
                if not lock.locked() and self._locks.get(key) is lock:
                    del self._locks[key]
        finally:
            if not rendering.done():  # an early failure: let the worker finish quietly
                await asyncio.wait([rendering])
            if not rendering.cancelled():
                rendering.exception()  # retrieved, so never logged as lost
        return {
            "status": "success",
            "new_notebook_path": path,
            "parameters_applied": applied,
            "notebook_url": notebook_url(self.public_url, server, path),
            "notebook_id": record["id"],
            "username": request.username,
            "template_name": request.template_name,
            "template_version": version.version,
        }

    async def _claimed(
        self,
        request: CreateRequest,
        server: UserServer,
        remembered: bool,
        path: str,
        version: int,
        applied: dict[str, Any],
        rendering: asyncio.Future,
    ) -> tuple[UserServer, dict[str, Any]]:
        """Steps 3 and 4 under the in-process lock: ``(server, record)``."""
        claim = await self._claim(
            request.username,
            path,
            parameters=applied,
            template_name=request.template_name,
            template_version=version,
            description=request.description,
        )
        try:
            if not request.overwrite:
                server = await self._first_request(
                    request, server, remembered, lambda s: self._refuse_existing(request, s, path)
                )
                remembered = False
            body = await rendering

            async def put(s: UserServer) -> None:
                await self.contents.save_notebook(
                    s, path, body, making_folders=lambda: self.in_thread(claim.hold_folders)
                )

            server = await self._first_request(request, server, remembered, put)
        except BaseException:
            await asyncio.shield(self.in_thread(claim.abort))
            raise
        if claim.needs_commit:
            try:
                await self.in_thread(claim.commit)
            except BaseException:
                if not request.overwrite:
                    await asyncio.shield(self.contents.remove_file(server, path))
                raise
        return server, claim.record

    def _claim_and_add(self, username: str, path: str, record: dict[str, Any]) -> PathClaim | None:
        """Blocking: the path's claim with its record added, or None when it is held."""
        claim = self.records.claim(username, path)
        if claim is None:
            return None
        try:
            claim.add(username=username, path=path, **record)
        except BaseException:
            claim.abort()
            raise
        return claim

    async def _claim(self, username: str, path: str, **record: Any) -> PathClaim:
        """The path's claim with its record; waits while another service process holds
        the path (503 after ``claim_timeout``)."""
        deadline = time.monotonic() + self.claim_timeout
        delay = 0.005
        while True:
            claim = await self.in_thread(self._claim_and_add, username, path, record)
            if claim is not None:
                return claim
            if time.monotonic() + delay > deadline:
                raise Unavailable(
                    f"{path!r} is being written by another request for too long; try again."
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _refuse_existing(self, request: CreateRequest, server: UserServer, path: str) -> None:
        if await self.contents.kind(server, path) is not None:
            raise Conflict(
                f"{path!r} already exists in the server of {request.username!r}; "
                "set overwrite to replace it, or choose another new_name.",
                field="new_name",
            )

    async def _first_request(
        self,
        request: CreateRequest,
        server: UserServer,
        remembered: bool,
        send: Callable[[UserServer], Awaitable[None]],
    ) -> UserServer:
        """``send(server)``; the server used.

        When it fails and ``remembered`` (the server was only remembered as running,
        and nothing has reached it yet), the Hub is asked whether it still runs; if not,
        it is started and ``send`` tried once more (nothing can have been written to a
        stopped server). A stopped server's URL answers from the Hub or the proxy, with
        statuses that depend on the caller.
        """
        try:
            await send(server)
            return server
        except Conflict:
            raise
        except Exception:
            if not remembered:
                raise
            self.hub.forget(request.username)
            if (await self.hub.get_server(request.username)).running:
                raise
        server = await self.hub.ensure_running(request.username)
        await send(server)
        return server
