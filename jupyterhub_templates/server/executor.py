"""Executions inside a user's server: the FIFO queue, child processes, state.

Requests are checked first (:mod:`.requests`); pre-started runners come from
:mod:`.spares`. Knows nothing of Tornado: raises :mod:`jupyterhub_templates.errors`
exceptions, which the handlers turn into JSON errors. Everything here runs on the
server's asyncio loop; the only filesystem work (path checks, creating output folders)
runs in a worker thread.

Each execution runs ``python -m jupyterhub_templates.server.runner`` in a new session
(its own process group), or hands its spec to a spare runner started that way. The
runner reports events as JSON lines on a dedicated pipe (see
:mod:`jupyterhub_templates.server.runner`); everything it prints goes to the
execution's log. The kernel is started by jupyter_client in a session of its own, so
cancelling, timing out and shutting down kill both process groups: the kernel's (its pid
is reported by the runner) and the runner's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import Conflict, NotFound
from ..logtail import read_from
from ..statuses import FINAL, Reason, Status
from .requests import ExecutorConfig, parse_request, prepare_paths
from .runner import SECRET_ENV, secret_env
from .spares import SparePool, killpg, spawn_runner


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
        """Bytes from ``offset`` (absolute) to the end (:func:`..logtail.read_from`)."""
        return read_from(self.data, self.start, offset)


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
    #: the secret parameters' names; their values are in ``env`` until the run starts
    secret_names: list[str] = field(default_factory=list)
    #: the kernel's limits (see ``runner.apply_limits``)
    limits: dict[str, float] = field(default_factory=dict)

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


# ---------------------------------------------------------------- executor


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
        self.spares = SparePool(root_dir, config, self.log)

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
    def busy(self) -> bool:
        """Whether an execution is queued or running."""
        return bool(self._queue) or self._starting > 0

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
            os_input, os_output, cwd = await asyncio.to_thread(prepare_paths, self.root_dir, req)
        finally:
            self._reserved.discard(req.id)
        execution = Execution(
            id=req.id,
            input_path=req.input_path,
            output_path=req.output_path,
            kernel_name=req.kernel_name,
            timeout=req.timeout,
            parameters=req.parameters,
            env={**req.env, **secret_env(req.secrets)},
            secret_names=list(req.secrets),
            limits=req.limits,
            os_input=os_input,
            os_output=os_output,
            cwd=cwd,
            log=LogBuffer(self.config.max_log_bytes),
        )
        self._executions[execution.id] = execution
        self._queue.append(execution.id)
        self._touch(execution)
        self.log.info("execution %s queued (%s)", execution.id, execution.input_path)
        self.spares.top_up()
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
        await self.spares.close()
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
        # the secrets go with this run's process only: not kept while it runs
        execution.env = {k: v for k, v in execution.env.items() if not k.startswith(SECRET_ENV)}
        spare = self.spares.take()
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
            "secret_names": execution.secret_names,
            "limits": execution.limits,
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
                killpg(execution.kernel_pgid, signal.SIGKILL)
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
                    killpg(execution.kernel_pgid, signal.SIGKILL)
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
            killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), self.config.kill_grace)
        killpg(execution.kernel_pgid, signal.SIGKILL)
        killpg(process.pid, signal.SIGKILL)
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
