"""The child process that runs one notebook with papermill.

Run as ``python -m jupyterhub_templates.server.runner`` by the executor, or as a
pre-started spare with ``--spare``: the spare imports papermill (and warms up what the
first execution would otherwise pay for) *before* reading its spec, then applies the
spec's ``cwd`` and ``env`` itself. The executor starts spares in a session of their own,
so the process-group semantics are those of a runner started for the execution.

Contract with the parent (:mod:`jupyterhub_templates.server.executor`):

- stdin: one JSON object, the spec: ``input`` and ``output`` (absolute OS paths),
  ``kernel_name`` (str), ``parameters`` (JSON object), ``cwd`` (OS path) and
  ``events_fd`` (int, the write end of a pipe inherited from the parent). A spare's
  spec also has ``env`` (the execution's complete environment, which replaces the
  spare's); the spare changes to ``cwd`` itself. A spare whose stdin ends before any
  byte (the server went away) exits 0 at once without output.
- ``events_fd``: JSON lines, one per event, in this order:
  ``{"event": "notebook", "cells_total": n}`` (code cells after parameter injection),
  ``{"event": "started", "kernel_pid": int|null, "kernel_pgid": int|null}`` once the
  kernel process exists (before ``notebook`` when the kernel was pre-started),
  ``{"event": "cell_start", "index": i}`` and
  ``{"event": "cell_done", "index": i}`` for each code cell (``cell_done`` only when the
  cell completed without raising), and last ``{"event": "finished", "status":
  "success"|"failed", "error": null|{"reason", "ename", "evalue", "cell_index"}}``.
- stdout/stderr: free text for the execution's log (papermill's log with the cells'
  stdout/stderr, and this runner's own messages).
- exit code: 0 on success, 1 on a failed execution, 2 on a bad spec, 3 when the parent
  went away (see :func:`watch_parent`).

A spare started with ``--kernel NAME`` also starts that kernel (in the server's root,
with the server's environment) and connects to it before its spec arrives. When the
spec asks for that kernel, and its language is Python, the runner first moves the
kernel into the execution's working directory and environment (``os.chdir`` and
``os.environ`` inside the kernel, variables the spare had and the execution lacks
removed) and papermill runs on it; otherwise the kernel is shut down and the requested
one started as usual. What such a kernel cannot take from the execution: anything read
from the environment or the working directory while it started (its interpreter's own
start-up, ``sys.path`` entries, modules imported by ipykernel), and the environment of
the kernel *process* as ``/proc`` and C code see it. After the run it is shut down
gracefully, as nbclient does with the kernels it starts.

The status is derived from the exception papermill raised, never from the saved notebook.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any, TextIO

from jupyterhub_templates.statuses import Reason, Status

ENGINE_NAME = "jupyterhub_templates"
_PREFIX = "[jupyterhub-templates] "
#: a run's secret values travel to its kernel as ``<SECRET_ENV><n>`` (n: the position
#: of its name in the spec's ``secret_names``); the kernel moves each into its variable
SECRET_ENV = "JUPYTERHUB_TEMPLATES_SECRET_"  # noqa: S105 (a prefix, not a password)
#: the names of this run's secrets (from its spec)
_secret_names: list[str] = []
#: this run's limits (from its spec): ``memory_bytes``, ``cpu_seconds``
_limits: dict[str, float] = {}
#: the kernel's manager, to learn how the kernel ended
_kernel_manager: Any = None


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apply_limits(pid: int | None) -> None:
    """Limit the kernel process (and what it starts, which inherits them): its address
    space (``RLIMIT_AS``: allocations beyond fail, a MemoryError in Python) and its CPU
    time (``RLIMIT_CPU``: SIGXCPU once used, SIGKILL two seconds later), counted from
    now (a pre-started kernel has used some already)."""
    if not pid or not _limits:
        return
    import resource

    memory = int(_limits.get("memory_bytes") or 0)
    if memory:
        resource.prlimit(pid, resource.RLIMIT_AS, (memory, memory))
    cpu = float(_limits.get("cpu_seconds") or 0)
    if cpu:
        soft = math.ceil(_cpu_seconds(pid) + cpu)
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, soft + 2))


def _limit_hit(reason: str, ename: str) -> str | None:
    """The limit a failure comes from, if it does: a MemoryError under a memory limit;
    a kernel ended by SIGXCPU (or SIGKILL at the hard limit) under a CPU limit, or by a
    crash of a failed allocation (SIGSEGV, SIGABRT) under a memory limit."""
    if reason == Reason.CELL_ERROR and ename == "MemoryError" and _limits.get("memory_bytes"):
        return Reason.MEMORY_LIMIT
    if reason != Reason.KERNEL_DIED or _kernel_manager is None:
        return None
    process = getattr(getattr(_kernel_manager, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return None
    if _limits.get("cpu_seconds") and code in (-signal.SIGXCPU, -signal.SIGKILL):
        return Reason.CPU_LIMIT
    if _limits.get("memory_bytes") and code in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGKILL):
        return Reason.MEMORY_LIMIT
    return None


def secret_env(secrets: dict[str, str]) -> dict[str, str]:
    """The environment carrying ``secrets`` (names in their order) to the kernel."""
    return {f"{SECRET_ENV}{i}": value for i, value in enumerate(secrets.values())}


def secret_code(names: list[str]) -> str:
    """Code the kernel runs silently (kept in no notebook and no history) after the
    parameters: each secret into its variable, out of the environment."""
    return (
        "def __templates_secrets(os=__import__('os'), g=globals()):\n"
        f"    for i, name in enumerate({names!r}):\n"
        f"        key = {SECRET_ENV!r} + str(i)\n"
        "        if key in os.environ:\n"
        "            g[name] = os.environ.pop(key)\n"
        "__templates_secrets()\n"
        "del __templates_secrets\n"
    )


def secrets_after(cells: list[Any]) -> int:
    """The index of the cell after which the secrets are set: the last one holding
    parameters (papermill's injected cell, else the template's), -1 for none."""
    found = -1
    for i, cell in enumerate(cells):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if "injected-parameters" in tags or "parameters" in tags:
            found = i
    return found


class EventWriter:
    """Writes the runner's events as JSON lines on the inherited pipe."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.current_cell: int | None = None

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event; a parent that went away must not break the execution."""
        if event == "cell_start":
            self.current_cell = fields.get("index")
        try:
            self._stream.write(json.dumps({"event": event, **fields}) + "\n")
            self._stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


_events: EventWriter | None = None
#: the kernel's process group once it exists (killed if the parent goes away)
_kernel_pgid: int | None = None


def _emit(event: str, **fields: Any) -> None:
    if _events is not None:
        _events.emit(event, **fields)


class _LogFormatter(logging.Formatter):
    """Plain messages: papermill logs stream output with its own trailing newline."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text[:-1] if text.endswith("\n") else text


def _build_engine() -> type:
    """The papermill engine reporting kernel pid and cell progress (imports papermill lazily)."""
    from nbclient.util import ensure_async, run_sync
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class ReportingNotebookClient(PapermillNotebookClient):  # type: ignore[misc]
        """papermill's client, plus events for the kernel process and each code cell."""

        async def async_start_new_kernel(self, **kwargs: Any) -> None:
            await super().async_start_new_kernel(**kwargs)
            # Non-local provisioners have no pid: the parent then relies on our own
            # cleanup (nbclient's SIGTERM handler) and the kernel's parent polling.
            global _kernel_pgid, _kernel_manager
            provisioner = getattr(self.km, "provisioner", None)
            pid, pgid = getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)
            _kernel_pgid = pgid if isinstance(pgid, int) else pid
            _kernel_manager = self.km
            apply_limits(pid)
            _emit("started", kernel_pid=pid, kernel_pgid=pgid)

        start_new_kernel = run_sync(async_start_new_kernel)

        async def async_execute_cell(
            self,
            cell: Any,
            cell_index: int,
            execution_count: int | None = None,
            store_history: bool = True,
        ) -> Any:
            is_code = cell.get("cell_type") == "code"
            after = None
            if _secret_names:
                if not hasattr(self, "_secrets_at"):  # once: the cells do not change
                    self._secrets_at = secrets_after(self.nb.cells)
                after = self._secrets_at
            if after == -1 and cell_index == 0:
                await self._set_secrets()
            if is_code:
                _emit("cell_start", index=cell_index)
            result = await super().async_execute_cell(
                cell, cell_index, execution_count=execution_count, store_history=store_history
            )
            if after == cell_index:
                await self._set_secrets()
            if is_code:
                _emit("cell_done", index=cell_index)
            return result

        async def _set_secrets(self) -> None:
            msg_id = await ensure_async(
                self.kc.execute(secret_code(_secret_names), silent=True, store_history=False)
            )
            reply = await self.async_wait_for_reply(msg_id)
            if not reply or reply["content"].get("status") != "ok":
                raise RuntimeError("the secrets could not be given to the kernel")

        execute_cell = run_sync(async_execute_cell)

    class ReportingEngine(NBClientEngine):  # type: ignore[misc]
        """NBClientEngine with :class:`ReportingNotebookClient` (same argument handling)."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            cells_total = sum(1 for c in nb_man.nb.cells if c.get("cell_type") == "code")
            _emit("notebook", cells_total=cells_total)
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = ReportingNotebookClient(nb_man, **final_kwargs)
            if _prestarted is not None and final_kwargs.get("km") is _prestarted.km:
                client.kc = _prestarted.kc  # connected and ready (see PrestartedKernel.start)
            return client.execute()

    return ReportingEngine


def classify(exc: BaseException, current_cell: int | None = None) -> dict[str, Any]:
    """Map what papermill raised to the execution model's ``error`` object."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {
            "reason": _limit_hit(Reason.CELL_ERROR, str(exc.ename)) or Reason.CELL_ERROR,
            "ename": str(exc.ename),
            "evalue": str(exc.evalue),
            "cell_index": exc.cell_index,
        }
    if isinstance(exc, DeadKernelError):
        reason = Reason.KERNEL_DIED
    elif isinstance(exc, CellTimeoutError):
        reason = Reason.TIMEOUT
    elif isinstance(exc, NoSuchKernel):
        reason = Reason.KERNEL_NOT_FOUND
    else:
        reason = Reason.ERROR
    return {
        "reason": _limit_hit(reason, type(exc).__name__) or reason,
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "cell_index": current_cell
        if reason in (Reason.KERNEL_DIED, Reason.TIMEOUT, Reason.CPU_LIMIT, Reason.MEMORY_LIMIT)
        else None,
    }


def _escape_format(path: str) -> str:
    # papermill runs str.format(**parameters) on both paths; keep braces in names literal.
    return path.replace("{", "{{").replace("}", "}}")


class PrestartedKernel:
    """A kernel a spare starts before its spec, and hands to the execution (see the
    module's docstring for what it can and cannot take from the execution)."""

    #: how long the kernel may take to start and answer, and to take the execution's
    #: directory and environment
    START_TIMEOUT = 60.0
    ADOPT_TIMEOUT = 10.0

    def __init__(self, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.km: Any = None
        self.kc: Any = None
        self.launch_env = dict(os.environ)

    def start(self) -> None:
        """Start the kernel and wait until it answers (raises on failure)."""
        global _kernel_pgid
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.km = AsyncKernelManager(kernel_name=self.kernel_name)
        run_sync(self.km.start_kernel)(cwd=os.getcwd())
        provisioner = getattr(self.km, "provisioner", None)
        pid, pgid = getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)
        _kernel_pgid = pgid if isinstance(pgid, int) else pid
        # the client papermill will use, connected now: waiting for a kernel to be ready
        # ends with 0.2 s of listening for stray output, which is paid here
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=self.START_TIMEOUT)

    def pids(self) -> tuple[int | None, int | None]:
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)

    def adopt(self, spec: dict[str, Any]) -> str | None:
        """Move the kernel into the execution's cwd and environment; None when done,
        else why the kernel cannot be used (then it is shut down)."""
        from jupyter_core.utils import run_sync

        if spec["kernel_name"] != self.kernel_name:
            reason = f"the execution asks for kernel {spec['kernel_name']!r}"
        elif self.km.kernel_spec.language.lower() != "python":
            reason = f"kernel language {self.km.kernel_spec.language!r} is not Python"
        elif not run_sync(self.km.is_alive)():
            reason = "it died"
        else:
            env = spec.get("env") or {}
            removed = sorted(k for k in self.launch_env if k not in env)
            changed = {k: v for k, v in env.items() if self.launch_env.get(k) != v}
            code = (
                "def __templates_adopt(os=__import__('os')):\n"
                f"    for name in {removed!r}:\n"
                "        os.environ.pop(name, None)\n"
                f"    os.environ.update({changed!r})\n"
                f"    os.chdir({spec['cwd']!r})\n"
                "__templates_adopt()\n"
                "del __templates_adopt\n"
            )
            reason = run_sync(self._execute)(code)
        if reason is not None:
            self.shutdown()
        return reason

    async def _execute(self, code: str) -> str | None:
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False)
            deadline = time.monotonic() + self.ADOPT_TIMEOUT
            while True:
                reply = await self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        except Exception as exc:  # any failure: the kernel is not used
            return f"setting it up failed ({type(exc).__name__})"
        content = reply["content"]
        if content.get("status") != "ok":
            return f"setting it up failed ({content.get('ename')}: {content.get('evalue')})"
        return None

    def shutdown(self) -> None:
        """Ask the kernel to exit (its own exit handlers run), killing it if it does not."""
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            self.kc.stop_channels()
        try:
            run_sync(self.km.shutdown_kernel)(now=False)
        except Exception:  # then kill it
            pid, pgid = self.pids()
            if isinstance(pgid or pid, int):
                try:
                    os.killpg(pgid or pid, signal.SIGKILL)
                except OSError:
                    pass


_prestarted: PrestartedKernel | None = None


def run(spec: dict[str, Any]) -> int:
    """Execute the notebook described by ``spec``; returns the process exit code."""
    import papermill
    from papermill.engines import papermill_engines

    papermill_engines.register(ENGINE_NAME, _build_engine())
    global _kernel_manager
    _secret_names[:] = spec.get("secret_names") or []
    _limits.clear()
    _limits.update(spec.get("limits") or {})
    print(f"{_PREFIX}kernel {spec['kernel_name']!r}, working directory {spec['cwd']}", flush=True)
    kernel = None
    engine_kwargs: dict[str, Any] = {}
    if _prestarted is not None:
        why_not = _prestarted.adopt(spec)
        if why_not is None:
            kernel = _prestarted
            engine_kwargs["km"] = kernel.km
            pid, pgid = kernel.pids()
            _kernel_manager = kernel.km
            apply_limits(pid)
            print(f"{_PREFIX}on the pre-started kernel (pid {pid})", flush=True)
            _emit("started", kernel_pid=pid, kernel_pgid=pgid)
        else:
            print(f"{_PREFIX}pre-started kernel not used: {why_not}", flush=True)
    try:
        papermill.execute_notebook(
            _escape_format(spec["input"]),
            _escape_format(spec["output"]),
            parameters=spec.get("parameters") or {},
            engine_name=ENGINE_NAME,
            kernel_name=spec["kernel_name"],
            cwd=spec["cwd"],
            log_output=True,
            progress_bar=False,
            **engine_kwargs,
        )
    except Exception as exc:
        error = classify(exc, _events.current_cell if _events is not None else None)
        print(
            f"{_PREFIX}failed: {error['reason']}: {error['ename']}: {error['evalue']}", flush=True
        )
        _emit("finished", status=Status.FAILED, error=error)
        return 1
    finally:
        if kernel is not None:  # papermill shuts down only the kernels it started
            kernel.shutdown()
    print(f"{_PREFIX}finished successfully", flush=True)
    _emit("finished", status=Status.SUCCESS, error=None)
    return 0


def warm_up() -> None:
    """Do ahead of the spec what every execution pays for before its kernel starts.

    Importing papermill (nbformat, jsonschema, nbclient, jupyter_client) and building
    nbformat's validator (jsonschema's format checkers) take seconds; none of it depends
    on the execution's cwd or environment.
    """
    import papermill  # noqa: F401
    from nbformat import v4, validate
    from papermill.engines import papermill_engines

    papermill_engines.register(ENGINE_NAME, _build_engine())
    validate(v4.new_notebook(cells=[v4.new_code_cell("1")]))


PARENT_GONE = 3


def watch_parent(parent: int, interval: float = 0.5) -> threading.Thread:
    """End this runner and its kernel when ``parent`` (the user's server) goes away.

    The runner lives in a session of its own so that signals to the server's group do
    not reach it, and a server stopped with SIGINT (JupyterHub's first signal) or killed
    outright never runs the executor's shutdown: without this watch the run would go on,
    and keep writing its output notebook, after the service has recorded it failed.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        if _kernel_pgid is not None:
            try:
                os.killpg(_kernel_pgid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(PARENT_GONE)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def _apply_spare_spec(spec: dict[str, Any]) -> None:
    """Become the execution's runner: its environment, then its working directory."""
    env = spec.get("env")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError("a spare's spec needs env, an object of strings")
    os.environ.clear()
    os.environ.update(env)
    os.chdir(spec["cwd"])


def main(argv: list[str] | None = None) -> int:
    """Read the spec from stdin, set up logging and the event pipe, run.

    Returns only for a bad spec (2) or a spare whose stdin ended (0); after a run the
    process ends with ``os._exit`` (0 success, 1 failed)."""
    global _events, _prestarted
    watch_parent(os.getppid())
    args = sys.argv[1:] if argv is None else argv
    spare = "--spare" in args
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if spare:
        warm_up()
        if "--kernel" in args:
            kernel = PrestartedKernel(args[args.index("--kernel") + 1])
            try:
                kernel.start()
                _prestarted = kernel
            except Exception as exc:  # the run starts its own kernel
                print(f"{_PREFIX}cannot pre-start the kernel: {exc}", flush=True)
                if kernel.km is not None:
                    kernel.shutdown()
    try:
        text = sys.stdin.read()
        if spare and not text:
            return 0
        spec = json.loads(text)
        events_fd = int(spec["events_fd"])
        for key in ("input", "output", "kernel_name", "cwd"):
            if not isinstance(spec.get(key), str):
                raise ValueError(f"missing {key}")
        if spare:
            _apply_spare_spec(spec)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"{_PREFIX}bad spec: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"{_PREFIX}cannot enter the working directory: {exc}", file=sys.stderr, flush=True)
        return 2
    _events = EventWriter(os.fdopen(events_fd, "w", buffering=1, encoding="utf-8"))

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_LogFormatter("%(message)s"))
    papermill_logger = logging.getLogger("papermill")
    papermill_logger.addHandler(handler)
    papermill_logger.setLevel(logging.INFO)
    papermill_logger.propagate = False
    code = run(spec)
    # papermill has returned: the output notebook is written and the kernel shut down.
    # The interpreter's teardown (modules, ZMQ, threads) would cost ~0.8 s more before
    # the executor sees the exit, and has nothing left to write.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
