"""Executions inside a user's server: validation, FIFO queue, child processes, state.

Knows nothing of Tornado: raises :mod:`jupyterhub_templates.errors` exceptions, which the
handlers turn into JSON errors. Everything here runs on the server's asyncio loop; the
only filesystem work (path checks, creating output folders) runs in a worker thread.

Each execution runs ``python -m jupyterhub_templates.server.runner`` in a new session
(its own process group). The runner reports events as JSON lines on a dedicated pipe
(see :mod:`jupyterhub_templates.server.runner`); everything it prints goes to the
execution's log. The kernel is started by jupyter_client in a session of its own, so
cancelling, timing out and shutting down kill both process groups: the kernel's (its pid
is reported by the runner) and the runner's.

With ``prestart_runners`` > 0 the executor keeps that many *spare* runners
(``runner --spare``): started the same way (own session, stdout/stderr and an events
pipe to us), they import papermill and then block reading their spec. An execution takes
one spare (never shared, never reused), sends it the spec with its cwd and complete
environment, which the spare applies before doing anything else, and a replacement is
started at once. Spares count against no limit, are replaced when they die, and end with
the server: killed on shutdown, and a spare whose stdin reaches EOF (the server died)
exits by itself.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import math
import os
import re
import secrets
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..catalog.parameters import check_parameters
from ..errors import Conflict, InvalidInput, NotFound
from ..notebooks.paths import clean_path
from ..statuses import FINAL, Reason, Status

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ENV_NAME_RE = re.compile(r"(MLFLOW_[A-Z0-9_]+|JUPYTERHUB_TEMPLATES_[A-Z0-9_]+)")
# the kernel spec name rule of jupyter_client (kernelspec._is_valid_kernel_name)
KERNEL_NAME_RE = re.compile(r"[a-z0-9._-]+", re.IGNORECASE)

RUNNER_MODULE = "jupyterhub_templates.server.runner"


@dataclass
class ExecutorConfig:
    """The extension's traits, as plain values (see ``TemplatesExtensionApp``)."""

    default_kernel_name: str = "mlflow_kernel"
    max_concurrent_executions: int = 1
    default_timeout: float = 3600.0
    max_timeout: float = 86400.0
    max_log_bytes: int = 1024 * 1024
    keep_finished: int = 500
    kill_grace: float = 2.0
    prestart_runners: int = 0
    prestart_kernels: bool = False


# a spare that dies within this many seconds of its start is replaced only after a pause,
# growing up to the maximum, so that a broken environment does not fork in a loop
_SPARE_MIN_LIFE = 10.0
_SPARE_MAX_BACKOFF = 60.0


@dataclass
class Spare:
    """A pre-started runner waiting for its spec."""

    process: asyncio.subprocess.Process
    events_read_fd: int
    events_fd: int  # the number of the pipe's write end inside the child
    started_mono: float
    watch_task: asyncio.Task[None] | None = None


def runner_argv(spare: bool = False, kernel_name: str | None = None) -> list[str]:
    """The command line of a runner (a spare pre-starting ``kernel_name`` if given)."""
    argv = [sys.executable]
    if sys.version_info >= (3, 11):
        # -P: the notebook's folder (our cwd) must not shadow our own modules
        argv.append("-P")
    argv += ["-m", RUNNER_MODULE]
    if spare:
        argv.append("--spare")
        if kernel_name:
            argv += ["--kernel", kernel_name]
    return argv


async def spawn_runner(
    cwd: str, env: dict[str, str], spare: bool = False, kernel_name: str | None = None
) -> tuple[asyncio.subprocess.Process, int, int]:
    """Start a runner in a new session; returns it, the events pipe's read end, and the
    number of its write end in the child. Raises OSError (nothing left open)."""
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *runner_argv(spare, kernel_name),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return process, read_fd, write_fd


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LogBuffer:
    """The last ``limit`` bytes of a byte stream, addressed by absolute offsets."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.start = 0  # absolute offset of self.data[0]
        self.data = bytearray()

    @property
    def end(self) -> int:
        """Absolute offset just past the last byte written."""
        return self.start + len(self.data)

    def append(self, chunk: bytes) -> None:
        """Add bytes, dropping the oldest beyond the limit."""
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.start += excess

    def read(self, offset: int) -> dict[str, Any]:
        """Bytes from ``offset`` (absolute) to the end, decoded as UTF-8.

        An offset before the kept part reads from the earliest kept byte with
        ``truncated`` true. ``next_offset`` stops before an incomplete trailing UTF-8
        sequence, so that reading on from it never splits a character.
        """
        truncated = offset < self.start
        begin = max(offset, self.start)
        begin = min(begin, self.end)
        chunk = bytes(self.data[begin - self.start :])
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(chunk, final=False)
        pending = len(decoder.getstate()[0])
        return {
            "offset": begin,
            "next_offset": begin + len(chunk) - pending,
            "log": text,
            "truncated": truncated,
        }


@dataclass
class Execution:
    """One execution's state; :meth:`model` is its JSON form."""

    id: str
    input_path: str
    output_path: str
    kernel_name: str
    timeout: float
    parameters: dict[str, Any]
    env: dict[str, str]
    os_input: str
    os_output: str
    cwd: str
    log: LogBuffer
    status: str = Status.PENDING
    created: str = field(default_factory=_now_iso)
    started: str | None = None
    finished: str | None = None
    cells_done: int = 0
    cells_total: int = 0
    current_cell: int | None = None
    error: dict[str, Any] | None = None
    seq: int = 0
    started_mono: float | None = None
    finished_mono: float | None = None
    process: asyncio.subprocess.Process | None = None
    kernel_pid: int | None = None
    kernel_pgid: int | None = None
    kill_reason: str | None = None  # "cancelled" | "timeout" | "shutdown"
    kill_task: asyncio.Task[None] | None = None
    run_task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def model(self) -> dict[str, Any]:
        """The execution model of the HTTP API."""
        if self.started_mono is None:
            elapsed = 0.0
        else:
            end = self.finished_mono if self.finished_mono is not None else time.monotonic()
            elapsed = round(end - self.started_mono, 3)
        return {
            "id": self.id,
            "status": self.status,
            "input_path": self.input_path,
            "output_path": self.output_path,
            "kernel_name": self.kernel_name,
            "timeout": self.timeout,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "progress": {
                "cells_done": self.cells_done,
                "cells_total": self.cells_total,
                "current_cell": self.current_cell,
                "elapsed": elapsed,
            },
            "error": self.error,
            "seq": self.seq,
        }


# ---------------------------------------------------------------- validation


def normalize_api_path(value: Any, what: str) -> str:
    """Check a Jupyter API path and return it without its leading ``/``: the service's
    rules (:func:`jupyterhub_templates.notebooks.paths.clean_path`, hidden names and
    look-alike characters refused too) once one leading ``/`` is removed. Raises
    :class:`InvalidInput` (400)."""
    if isinstance(value, str) and value.startswith("/"):
        value = value[1:]
    return clean_path(value, what)


def resolve_in_root(root_dir: str, api_path: str, what: str) -> str:
    """The OS path of ``api_path``, symlinks resolved; 400 when it leaves ``root_dir``.

    Blocking (filesystem): call it from a worker thread.
    """
    root = os.path.realpath(root_dir)
    resolved = os.path.realpath(os.path.join(root, *api_path.split("/")))
    if os.path.commonpath([root, resolved]) != root:
        raise InvalidInput(f"{what} is outside the server root")
    return resolved


@dataclass
class Request:
    """A validated ``POST executions`` body (before the filesystem checks)."""

    id: str
    input_path: str
    output_path: str
    kernel_name: str
    parameters: dict[str, Any]
    timeout: float
    env: dict[str, str]
    #: replace a notebook already at ``output_path`` (always when the body names none:
    #: a run in place)
    overwrite: bool = False


def parse_request(body: Any, config: ExecutorConfig) -> Request:
    """Validate a ``POST executions`` body; raises :class:`InvalidInput` (400)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    execution_id = body.get("id")
    if not isinstance(execution_id, str) or not ID_RE.fullmatch(execution_id):
        raise InvalidInput("id must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    if "input_path" not in body:
        raise InvalidInput("input_path is required")
    input_path = normalize_api_path(body["input_path"], "input_path")
    raw_output = body.get("output_path")
    output_path = (
        input_path if raw_output is None else normalize_api_path(raw_output, "output_path")
    )
    # an input that is not a notebook gets its 404 from the filesystem checks
    if raw_output is not None and not output_path.endswith(".ipynb"):
        raise InvalidInput("output_path must end with .ipynb")

    kernel_name = body.get("kernel_name")
    if kernel_name is None:
        kernel_name = config.default_kernel_name
    elif not isinstance(kernel_name, str) or not KERNEL_NAME_RE.fullmatch(kernel_name):
        raise InvalidInput("kernel_name must be a kernel spec name")

    # the service's own checks: names, plain JSON values, nesting and text limits
    parameters = check_parameters([], body.get("parameters"), allow_unknown=True)

    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise InvalidInput("overwrite must be true or false")

    timeout = body.get("timeout")
    if timeout is None:
        timeout = min(config.default_timeout, config.max_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidInput("timeout must be a number of seconds")
    if not math.isfinite(timeout) or timeout <= 0:
        raise InvalidInput("timeout must be a positive number of seconds")
    if timeout > config.max_timeout:
        raise InvalidInput(f"timeout must be at most {config.max_timeout:g} seconds")

    env = body.get("env")
    if env is None:
        env = {}
    if not isinstance(env, dict):
        raise InvalidInput("env must be an object of strings")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            raise InvalidInput(
                f"env name {name!r} is not allowed "
                "(only MLFLOW_* and JUPYTERHUB_TEMPLATES_* in upper case)"
            )
        if not isinstance(value, str) or "\x00" in value:
            raise InvalidInput(f"env value of {name} must be a string without NUL")
    return Request(
        id=execution_id,
        input_path=input_path,
        output_path=output_path,
        kernel_name=kernel_name,
        parameters=parameters,
        timeout=float(timeout),
        env=dict(env),
        # no output_path: a run in place, which replaces its notebook by definition
        overwrite=overwrite or raw_output is None,
    )


def _prepare_paths(root_dir: str, req: Request) -> tuple[str, str, str]:
    """Resolve and check both paths; create the output's folders. Blocking (thread)."""
    os_input = resolve_in_root(root_dir, req.input_path, "input_path")
    os_output = resolve_in_root(root_dir, req.output_path, "output_path")
    if not os_input.endswith(".ipynb") or not os.path.isfile(os_input):
        raise NotFound(f"no notebook at {req.input_path}")
    if os.path.isdir(os_output):
        raise InvalidInput("output_path is a folder")
    if not req.overwrite and os.path.lexists(os_output):
        raise Conflict(f"{req.output_path} exists; set overwrite to replace it")
    parent = os.path.dirname(os_output)
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create the folder of output_path: {exc.strerror}") from None
    return os_input, os_output, os.path.dirname(os_input)


# ---------------------------------------------------------------- executor


def _killpg(pgid: int | None, sig: int) -> None:
    if pgid is None or pgid <= 1:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Executor:
    """Queue and run executions; all public coroutines run on the server's loop."""

    def __init__(
        self, root_dir: str, config: ExecutorConfig, log: logging.Logger | None = None
    ) -> None:
        self.root_dir = root_dir
        self.config = config
        self.log = log or logging.getLogger(__name__)
        self.boot_id = secrets.token_hex(16)
        self.seq = 0
        self._executions: dict[str, Execution] = {}
        self._reserved: set[str] = set()
        self._queue: deque[str] = deque()
        self._finished_order: deque[str] = deque()
        self._starting = 0  # running executions: children being started or alive
        self._changed = asyncio.Event()
        self._closing = False
        self._spares: list[Spare] = []
        self._spares_starting = 0
        self._spare_backoff = 0.0
        self.spares_started = 0  # for tests and benchmarks

    # -- spares

    def start_spares(self) -> None:
        """Top the pool of spare runners up to ``prestart_runners`` (needs a running loop)."""
        missing = self.config.prestart_runners - len(self._spares) - self._spares_starting
        for _ in range(max(0, missing)):
            if self._closing:
                return
            self._spares_starting += 1
            asyncio.get_running_loop().create_task(self._start_spare())

    async def _start_spare(self) -> None:
        try:
            if self._spare_backoff:
                await asyncio.sleep(self._spare_backoff)
            if self._closing:
                return
            # the spare's cwd is replaced by the execution's; the root is a folder that exists
            kernel = self.config.default_kernel_name if self.config.prestart_kernels else None
            process, read_fd, events_fd = await spawn_runner(
                self.root_dir, dict(os.environ), spare=True, kernel_name=kernel
            )
        except Exception:
            self.log.exception("cannot start a spare runner")
            self._spare_backoff = min(_SPARE_MAX_BACKOFF, max(1.0, self._spare_backoff * 2))
            return
        finally:
            self._spares_starting -= 1
        spare = Spare(process, read_fd, events_fd, time.monotonic())
        if self._closing:
            self._discard_spare(spare)
            return
        self.spares_started += 1
        spare.watch_task = asyncio.create_task(self._watch_spare(spare))
        self._spares.append(spare)
        self.start_spares()  # the pool may have been emptied meanwhile

    async def _watch_spare(self, spare: Spare) -> None:
        """Replace a spare that dies while waiting (not one handed to an execution)."""
        returncode = await spare.process.wait()
        if spare not in self._spares:
            return
        self._spares.remove(spare)
        with contextlib.suppress(OSError):
            os.close(spare.events_read_fd)
        lived = time.monotonic() - spare.started_mono
        self.log.warning(
            "spare runner %s exited (code %s); replacing it", spare.process.pid, returncode
        )
        if lived < _SPARE_MIN_LIFE:
            self._spare_backoff = min(_SPARE_MAX_BACKOFF, max(1.0, self._spare_backoff * 2))
        else:
            self._spare_backoff = 0.0
        self.start_spares()

    def _take_spare(self) -> Spare | None:
        """A live spare for one execution, removed from the pool (a replacement starts)."""
        while self._spares:
            spare = self._spares.pop(0)
            if spare.process.returncode is None:
                if spare.watch_task is not None:
                    spare.watch_task.cancel()
                if time.monotonic() - spare.started_mono >= _SPARE_MIN_LIFE:
                    self._spare_backoff = 0.0
                self.start_spares()
                return spare
            self._discard_spare(spare)
        self.start_spares()
        return None

    def _discard_spare(self, spare: Spare) -> None:
        if spare.watch_task is not None:
            spare.watch_task.cancel()
        _killpg(spare.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(spare.events_read_fd)

    def spare_pids(self) -> list[int]:
        """The pids of the spares waiting now."""
        return [s.process.pid for s in self._spares if s.process.returncode is None]

    # -- state changes

    def _touch(self, execution: Execution) -> None:
        """Record a change of ``execution``: bump the sequence and wake long-polls."""
        self.seq += 1
        execution.seq = self.seq
        self._changed.set()
        self._changed = asyncio.Event()

    def _finish(self, execution: Execution, status: str, error: dict[str, Any] | None) -> None:
        execution.status = status
        execution.error = error
        execution.finished = _now_iso()
        execution.finished_mono = time.monotonic()
        execution.current_cell = None
        self._touch(execution)
        execution.done.set()
        self._finished_order.append(execution.id)
        while len(self._finished_order) > max(0, self.config.keep_finished):
            self._executions.pop(self._finished_order.popleft(), None)
        self.log.info("execution %s %s", execution.id, status)

    def get(self, execution_id: str) -> Execution:
        """The execution; :class:`NotFound` if unknown."""
        execution = self._executions.get(execution_id)
        if execution is None:
            raise NotFound(f"no execution {execution_id!r}")
        return execution

    # -- API

    @property
    def max_concurrent(self) -> int:
        """How many children may run at once (at least 1)."""
        return max(1, self.config.max_concurrent_executions)

    async def submit(self, body: Any) -> dict[str, Any]:
        """Validate and queue a new execution; returns its model.

        Raises InvalidInput (400), NotFound (404: no such notebook), Conflict (409: id
        already known).
        """
        if self._closing:
            raise Conflict("the server is shutting down")
        req = parse_request(body, self.config)
        if req.id in self._executions or req.id in self._reserved:
            raise Conflict(f"execution {req.id!r} already exists")
        self._reserved.add(req.id)
        try:
            os_input, os_output, cwd = await asyncio.to_thread(_prepare_paths, self.root_dir, req)
        finally:
            self._reserved.discard(req.id)
        execution = Execution(
            id=req.id,
            input_path=req.input_path,
            output_path=req.output_path,
            kernel_name=req.kernel_name,
            timeout=req.timeout,
            parameters=req.parameters,
            env=req.env,
            os_input=os_input,
            os_output=os_output,
            cwd=cwd,
            log=LogBuffer(self.config.max_log_bytes),
        )
        self._executions[execution.id] = execution
        self._queue.append(execution.id)
        self._touch(execution)
        self.log.info("execution %s queued (%s)", execution.id, execution.input_path)
        self.start_spares()
        self._schedule()
        return execution.model()

    async def list_executions(
        self, since: int | None = None, wait: float = 0.0, ids: set[str] | None = None
    ) -> dict[str, Any]:
        """The long-poll listing (see the HTTP API): waits up to ``wait`` s for a change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait)
        while True:
            models = [
                e.model()
                for e in self._executions.values()
                if (ids is None or e.id in ids) and (since is None or e.seq > since)
            ]
            remaining = deadline - loop.time()
            if since is None or models or remaining <= 0 or self._closing:
                return {
                    "boot_id": self.boot_id,
                    "seq": self.seq,
                    "max_concurrent": self.max_concurrent,
                    "executions": models,
                }
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def cancel(self, execution_id: str) -> dict[str, Any]:
        """Cancel a pending or running execution; waits until it is over. 409 if finished."""
        execution = self.get(execution_id)
        if execution.status in FINAL:
            raise Conflict(f"execution {execution_id!r} is already {execution.status}")
        if execution.id in self._queue:
            self._queue.remove(execution.id)
            self._finish(execution, Status.CANCELLED, None)
            return execution.model()
        if execution.kill_reason is None:
            execution.kill_reason = "cancelled"
        if execution.process is not None:
            await self._kill(execution)
        await execution.done.wait()
        return execution.model()

    def delete(self, execution_id: str) -> None:
        """Forget a finished execution; 409 while pending or running."""
        execution = self.get(execution_id)
        if execution.status not in FINAL:
            raise Conflict(f"execution {execution_id!r} is {execution.status}")
        del self._executions[execution_id]
        with contextlib.suppress(ValueError):
            self._finished_order.remove(execution_id)

    def read_log(self, execution_id: str, offset: int) -> dict[str, Any]:
        """The log from ``offset`` (see :meth:`LogBuffer.read`)."""
        execution = self.get(execution_id)
        return {"id": execution.id, **execution.log.read(offset)}

    async def shutdown(self) -> None:
        """Stop everything: drop the queue, kill every child and kernel, wait for them."""
        self._closing = True
        spares, self._spares = self._spares, []
        for spare in spares:
            self._discard_spare(spare)
        await asyncio.gather(*(s.process.wait() for s in spares), return_exceptions=True)
        while self._queue:
            execution = self._executions[self._queue.popleft()]
            self._finish(
                execution,
                Status.FAILED,
                {
                    "reason": Reason.ERROR,
                    "ename": "Shutdown",
                    "evalue": "server stopped",
                    "cell_index": None,
                },
            )
        running = [e for e in self._executions.values() if e.status not in FINAL and e.run_task]
        for execution in running:
            execution.kill_reason = execution.kill_reason or "shutdown"
        await asyncio.gather(
            *(self._kill(e) for e in running if e.process is not None), return_exceptions=True
        )
        await asyncio.gather(*(e.run_task for e in running if e.run_task), return_exceptions=True)

    # -- scheduling and children

    def _schedule(self) -> None:
        while self._queue and self._starting < self.max_concurrent and not self._closing:
            execution = self._executions[self._queue.popleft()]
            self._starting += 1
            execution.run_task = asyncio.create_task(self._run(execution))

    async def _run(self, execution: Execution) -> None:
        try:
            await self._run_child(execution)
        except Exception as exc:
            self.log.exception("execution %s: executor error", execution.id)
            if execution.status not in FINAL:
                self._finish(
                    execution,
                    Status.FAILED,
                    _internal_error(exc),
                )
        finally:
            self._starting -= 1
            self._schedule()

    def _note(self, execution: Execution, message: str) -> None:
        execution.log.append(f"[jupyterhub-templates] {message}\n".encode())

    async def _run_child(self, execution: Execution) -> None:
        env = {**os.environ, **execution.env}
        spare = self._take_spare()
        if spare is not None:
            process, read_fd, write_fd = spare.process, spare.events_read_fd, spare.events_fd
        else:
            try:
                process, read_fd, write_fd = await spawn_runner(execution.cwd, env)
            except OSError as exc:
                self._finish(
                    execution,
                    Status.FAILED,
                    _internal_error(exc),
                )
                return

        execution.process = process
        execution.status = Status.RUNNING
        execution.started = _now_iso()
        execution.started_mono = time.monotonic()
        self._touch(execution)
        self.log.info(
            "execution %s running (pid %s%s)",
            execution.id,
            process.pid,
            ", pre-started" if spare is not None else "",
        )

        loop = asyncio.get_running_loop()
        events = asyncio.StreamReader(limit=4 * 1024 * 1024, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(events, loop=loop),
            os.fdopen(read_fd, "rb", buffering=0),
        )
        spec = {
            "input": execution.os_input,
            "output": execution.os_output,
            "kernel_name": execution.kernel_name,
            "parameters": execution.parameters,
            "cwd": execution.cwd,
            "events_fd": write_fd,
        }
        if spare is not None:
            spec["env"] = env
        finished_event: dict[str, Any] = {}
        log_task = asyncio.create_task(self._pump_log(execution, process))
        events_task = asyncio.create_task(self._pump_events(execution, events, finished_event))
        wait_task = asyncio.create_task(process.wait())
        try:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(json_bytes(spec))
                await process.stdin.drain()
                process.stdin.close()

            if execution.kill_reason is not None:  # cancelled while the child was starting
                await self._kill(execution)
            done, _ = await asyncio.wait({wait_task}, timeout=execution.timeout)
            if not done:
                if execution.kill_reason is None:
                    execution.kill_reason = "timeout"
                    self._note(execution, f"timeout after {execution.timeout:g} s: killing")
                await self._kill(execution)
            returncode = await wait_task
            # the events pipe ends with the runner; the log pipe may be held by a kernel
            # that outlived it, so do not wait for that one for long
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(events_task), 5)
            if execution.kill_reason is not None or "status" not in finished_event:
                # the kernel may have outlived its runner
                _killpg(execution.kernel_pgid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(log_task), 5)
        finally:
            for task in (log_task, events_task, wait_task):
                task.cancel()
            transport.close()

        reason = execution.kill_reason
        if reason == "cancelled":
            self._finish(execution, Status.CANCELLED, None)
        elif reason == "timeout":
            self._finish(
                execution,
                Status.FAILED,
                {
                    "reason": Reason.TIMEOUT,
                    "ename": "TimeoutError",
                    "evalue": f"execution exceeded its timeout of {execution.timeout:g} s",
                    "cell_index": execution.current_cell,
                },
            )
        elif reason == "shutdown":
            self._finish(
                execution,
                Status.FAILED,
                {
                    "reason": Reason.ERROR,
                    "ename": "Shutdown",
                    "evalue": "server stopped",
                    "cell_index": execution.current_cell,
                },
            )
        elif finished_event.get("status") == Status.SUCCESS:
            self._finish(execution, Status.SUCCESS, None)
        elif finished_event.get("status") == Status.FAILED and finished_event.get("error"):
            self._finish(execution, Status.FAILED, finished_event["error"])
        else:
            self._note(execution, f"runner exited with code {returncode} without a result")
            self._finish(
                execution,
                Status.FAILED,
                {
                    "reason": Reason.ERROR,
                    "ename": "RunnerExited",
                    "evalue": f"the runner exited with code {returncode} without a result",
                    "cell_index": execution.current_cell,
                },
            )

    async def _pump_log(self, execution: Execution, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            execution.log.append(chunk)

    async def _pump_events(
        self, execution: Execution, events: asyncio.StreamReader, finished: dict[str, Any]
    ) -> None:
        while line := await events.readline():
            try:
                event = json.loads(line)
                kind = event["event"]
            except (ValueError, KeyError, TypeError):
                continue
            if execution.kill_reason is not None and kind != "started":
                continue
            if kind == "notebook":
                execution.cells_total = int(event.get("cells_total") or 0)
            elif kind == "started":
                pid, pgid = event.get("kernel_pid"), event.get("kernel_pgid")
                execution.kernel_pid = pid if isinstance(pid, int) else None
                execution.kernel_pgid = pgid if isinstance(pgid, int) else execution.kernel_pid
                if execution.kill_reason is not None:
                    _killpg(execution.kernel_pgid, signal.SIGKILL)
                    continue
            elif kind == "cell_start":
                execution.current_cell = event.get("index")
            elif kind == "cell_done":
                execution.cells_done += 1
                execution.current_cell = None
            elif kind == "finished":
                finished.update(status=event.get("status"), error=event.get("error"))
                continue  # the final state is set once the child has exited
            else:
                continue
            self._touch(execution)

    async def _kill(self, execution: Execution) -> None:
        """Kill the kernel's and the runner's process groups (idempotent); waits for exit."""
        if execution.kill_task is None:
            execution.kill_task = asyncio.create_task(self._do_kill(execution))
        await asyncio.shield(execution.kill_task)

    async def _do_kill(self, execution: Execution) -> None:
        process = execution.process
        if process is None:
            return
        if execution.kernel_pgid is None:
            # The kernel's pid is not known yet: SIGTERM lets nbclient shut down a kernel
            # it may be starting (and a pid reported meanwhile is killed on arrival).
            _killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), self.config.kill_grace)
        _killpg(execution.kernel_pgid, signal.SIGKILL)
        _killpg(process.pid, signal.SIGKILL)
        await process.wait()


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":")).encode()


def _internal_error(exc: BaseException) -> dict[str, Any]:
    """The error model of a failure of the executor itself (not of the notebook)."""
    return {
        "reason": Reason.ERROR,
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "cell_index": None,
    }
