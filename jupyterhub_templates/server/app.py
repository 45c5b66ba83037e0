"""The jupyter_server extension that runs template notebooks inside a user's server.

Enabled by ``jupyter-config/jupyter_server_config.d/jupyterhub_templates.json``; serves
the API of :mod:`jupyterhub_templates.server.handlers` under
``{base_url}templates/api/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Integer, Unicode, default

from ..redact import install_secrets_filter
from .executor import Executor, ExecutorConfig
from .handlers import EXECUTOR_SETTING, handlers
from .paths import answer_symlink_loops, refuse_writes_outside_root


class TemplatesExtensionApp(ExtensionApp):
    """Runs notebooks with papermill in child processes, queued, with progress and logs."""

    name = "jupyterhub_templates"
    load_other_extensions = True

    default_kernel_name = Unicode(
        "mlflow_kernel",
        help="Kernel spec used when an execution request gives no kernel_name.",
    ).tag(config=True)

    max_concurrent_executions = Integer(
        help=(
            "How many executions run at once in this server; the others wait in a FIFO "
            "queue. Defaults to the number of CPUs."
        ),
    ).tag(config=True)

    @default("max_concurrent_executions")
    def _default_max_concurrent(self) -> int:
        return os.cpu_count() or 1

    default_timeout = Float(
        3600.0,
        help="Wall-clock limit in seconds of an execution whose request gives no timeout.",
    ).tag(config=True)

    max_timeout = Float(
        86400.0,
        help="Largest timeout in seconds that a request may ask for (larger ones get 400).",
    ).tag(config=True)

    max_log_bytes = Integer(
        1024 * 1024,
        help="Bytes of output kept per execution: only the last ones are kept.",
    ).tag(config=True)

    keep_finished = Integer(
        500,
        help="Finished executions kept in memory; the oldest finished ones are dropped beyond.",
    ).tag(config=True)

    kill_grace = Float(
        2.0,
        help=(
            "Seconds between SIGTERM and SIGKILL of a runner that is cancelled, times out or "
            "is stopped before it has reported its kernel's pid (once it has, the runner's "
            "and the kernel's process groups are killed at once)."
        ),
    ).tag(config=True)

    prestart_runners = Integer(
        0,
        help=(
            "Runner processes kept started in advance, papermill already imported, each "
            "waiting for one execution (a replacement starts as soon as one is taken, or "
            "dies). Saves the ~2 s import of every execution's start for about 80 MB of "
            "memory per spare; 0 starts each runner on demand. Spares run nothing until "
            "an execution's cwd and environment are applied, are not counted in "
            "max_concurrent_executions, and end with the server."
        ),
    ).tag(config=True)

    prestart_kernels = Bool(
        False,
        help=(
            "Each spare runner (prestart_runners) also starts the default kernel "
            "(default_kernel_name) in advance. An execution on that kernel (Python only) "
            "then skips the kernel's start-up (~1 s): its first cell answers in a few "
            "hundred milliseconds. Before the run the kernel moves into the execution's "
            "working directory and environment (os.chdir and os.environ inside it); what "
            "it read while starting (its own start-up, sys.path, modules ipykernel "
            "imports) saw the server's root and environment, and the kernel process's "
            "own environment (/proc, C code) stays the server's. Costs one idle kernel's "
            "memory per spare. Executions on another kernel start theirs as usual."
        ),
    ).tag(config=True)

    confine_saves_to_root = Bool(
        True,
        help=(
            "Refuse (403) every contents-API save whose location, symbolic links resolved, "
            "lies outside the server's root folder; without it a link inside the root "
            "(e.g. to /etc) lets notebook creation write outside. Applies to every save "
            "in this server, JupyterLab's included. Also answers 400, not 500, for a "
            "contents-API path that goes round a symbolic link loop."
        ),
    ).tag(config=True)

    activity_interval = Float(
        5.0,
        help=(
            "While an execution is queued or running, the server counts as active every "
            "this many seconds (and once more when the last one ends): its kernels are the "
            "runners', not the server's, so without this JupyterHub would see an idle "
            "server and its idle culler would stop it mid-run. 0: never."
        ),
    ).tag(config=True)

    executor: Executor
    _activity_task: asyncio.Task[None] | None = None

    def initialize_settings(self) -> None:
        """Mask credentials in the server's log; create the executor on the contents
        manager's root folder."""
        assert self.serverapp is not None
        # Tornado's warning lines quote whole URLs (?token=...); the server's own token
        # is masked wherever it appears
        install_secrets_filter(
            [self.serverapp.log, self.log], [os.environ.get("JUPYTERHUB_API_TOKEN", "")]
        )
        contents_manager = self.serverapp.contents_manager
        if self.confine_saves_to_root:
            contents_manager.register_pre_save_hook(refuse_writes_outside_root)
            answer_symlink_loops(contents_manager)
        root_dir = getattr(contents_manager, "root_dir", None) or self.serverapp.root_dir
        self.executor = Executor(
            os.path.abspath(root_dir),
            ExecutorConfig(
                default_kernel_name=self.default_kernel_name,
                max_concurrent_executions=self.max_concurrent_executions,
                default_timeout=self.default_timeout,
                max_timeout=self.max_timeout,
                max_log_bytes=self.max_log_bytes,
                keep_finished=self.keep_finished,
                kill_grace=self.kill_grace,
                prestart_runners=max(0, self.prestart_runners),
                prestart_kernels=self.prestart_kernels,
            ),
            log=self.log,
        )
        self.settings[EXECUTOR_SETTING] = self.executor

    async def _start_jupyter_server_extension(self, serverapp: object) -> None:
        """Start the spare runners once the server's loop runs."""
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.spares.top_up()
            if self.activity_interval > 0:
                self._activity_task = asyncio.create_task(self._report_activity(executor))

    async def _report_activity(self, executor: Executor) -> None:
        """Keep the server's last activity current while it runs executions.

        jupyter_server takes the latest of every ``*_last_activity`` setting as the
        server's last activity, which jupyterhub-singleuser reports to the Hub.
        """
        assert self.serverapp is not None
        settings = self.serverapp.web_app.settings
        was_busy = False
        while True:
            busy = executor.busy
            if busy or was_busy:
                settings["jupyterhub_templates_last_activity"] = datetime.datetime.now(
                    datetime.timezone.utc
                )
            was_busy = busy
            await asyncio.sleep(self.activity_interval)

    def initialize_handlers(self) -> None:
        """Register the API under ``templates/api/``."""
        self.handlers.extend(handlers)

    async def stop_extension(self) -> None:
        """Kill every running execution (children and kernels) on server shutdown."""
        if self._activity_task is not None:
            self._activity_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._activity_task
        executor = getattr(self, "executor", None)
        if executor is not None:
            await executor.shutdown()
