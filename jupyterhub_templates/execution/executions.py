"""Running notebooks in users' servers: dispatch, wait, cancel, log, MLflow runs.

The layer between the execution handlers and the outside world. It records a run as
``pending`` before anything happens, hands it to the user's server extension, and lets
the :class:`~.monitor.ExecutionMonitor` follow it. Nothing here knows Tornado's web
layer; errors are the project's (:mod:`jupyterhub_templates.errors`).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from traitlets import Dict, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from .. import jsontext, metrics
from ..catalog.parameters import check_parameters, check_secrets, refuse_secrets
from ..errors import Conflict, InvalidInput, NotFound, TemplatesError, Unavailable
from ..hub import ExtensionClient, HubClient, UserServer
from ..hub.client import ServerNotRunning
from ..logtail import read_from, tail_of
from ..notebooks.creator import notebook_url
from ..notebooks.paths import clean_notebook_path
from ..notebooks.records import NotebookRecords
from ..statuses import Status
from .limits import check_limits, kernel_limits
from .mlflow_runs import MLflowUnavailable, ensure_experiment, find_runs
from .monitor import ExecutionMonitor, is_final
from .notifications import Notifier
from .records import ExecutionRecords
from .retries import RetryPolicy, check_retries

log = logging.getLogger(__name__)

InThread = Callable[..., Awaitable[Any]]

#: the MLflow tag carrying the execution id on every run the notebook starts
EXECUTION_TAG = "templates.execution_id"
#: a tag unique across databases (the id the server knows the run by); runs are found by it
RUN_KEY_TAG = "templates.run_key"


@dataclass
class ExecuteRequest:
    """A request to run a notebook (already authorized for ``username``)."""

    username: str
    notebook_path: str
    in_place: bool = False
    kernel_name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    output_path: str | None = None
    timeout: float | None = None
    experiment_name: str | None = None
    #: replace an existing notebook at ``output_path`` (the default output is new)
    overwrite: bool = False
    #: the execution this request runs again
    rerun_of: int | None = None
    #: the job run this request dispatches (a job run has at most one execution)
    job_run_id: int | None = None
    #: ``{"max", "backoff", "on_timeout"}`` (:func:`.retries.check_retries`), or None
    retries: Any = None
    #: the failed attempt this request repeats, and so its attempt number
    retry_of: int | None = None
    attempt: int = 1
    #: ``{"on", "webhook", "email"}`` (:meth:`.notifications.Notifier.check`), or None
    notify: Any = None
    #: parameter names to secret values: given to the kernel through the run's
    #: environment, never written into a notebook, a record or a log
    secrets: Any = None
    #: ``{"memory_mb", "cpu_seconds"}`` for the kernel (:func:`.limits.check_limits`)
    limits: Any = None


def default_output_path(notebook_path: str, execution_id: int) -> str:
    """A new notebook beside the input: ``folder/name-run-<id>.ipynb``."""
    stem = notebook_path[: -len(".ipynb")] if notebook_path.endswith(".ipynb") else notebook_path
    return f"{stem}-run-{execution_id}.ipynb"


def _experiment_for(template: str | None, notebook_path: str) -> str:
    source = template or posixpath.basename(notebook_path)
    return source[: -len(".ipynb")] if source.endswith(".ipynb") else source


class Executions(LoggingConfigurable):
    """Dispatch and follow executions (the following is its :class:`ExecutionMonitor`'s,
    telling their ends its :class:`~.notifications.Notifier`'s, both created with
    ``parent=self``).

    Keyword arguments besides the collaborators: traits, ``parent``, ``log``.
    """

    mlflow_tracking_uri = Unicode(
        help="""MLflow tracking server given to executions (MLFLOW_TRACKING_URI), and
        searched for the runs they log. Empty: executions get none.

        Default: $JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI.
        """,
    ).tag(config=True)

    @default("mlflow_tracking_uri")
    def _default_mlflow_uri(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI", "")

    mlflow_ui_url = Unicode(
        help="""Base of the MLflow links on executions, as users' browsers reach the
        MLflow UI. Default: $JUPYTERHUB_TEMPLATES_MLFLOW_UI_URL, else the tracking URI.
        """,
    ).tag(config=True)

    @default("mlflow_ui_url")
    def _default_mlflow_ui(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_MLFLOW_UI_URL", "")

    first_cell_timeout = Float(
        30.0,
        help="POST /execute-notebook answers once the first cell has run, or after this "
        "many seconds.",
    ).tag(config=True)

    max_timeout = Float(
        86400.0, help="The longest timeout (seconds) a caller may give an execution."
    ).tag(config=True)

    memory_limit = Int(
        0,
        help="""The address space (MiB) a run's kernel may use, and the most a request's
        `limits.memory_mb` may ask; beyond it allocations fail and the run fails with
        reason `memory limit`. 0: no limit unless a request asks for one.""",
    ).tag(config=True)

    cpu_limit = Float(
        0.0,
        help="""The CPU time (seconds) a run's kernel may use, and the most a request's
        `limits.cpu_seconds` may ask; then the kernel is stopped and the run fails with
        reason `cpu limit`. 0: no limit unless a request asks for one.""",
    ).tag(config=True)

    run_server = Unicode(
        help="""The named server of each user that runs their executions (JupyterHub's
        allow_named_servers must be on), e.g. `templates-runs`: started by the service
        when a run needs it, with the user's identity and files, so that stopping or
        culling the user's default server leaves runs alone. Once its last run has
        ended it reports no activity, and JupyterHub's idle culler stops it. Empty: runs
        go to the user's default server, which their runs then keep from looking idle.

        Default: $JUPYTERHUB_TEMPLATES_RUN_SERVER, else empty.
        """,
    ).tag(config=True)

    @default("run_server")
    def _default_run_server(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_RUN_SERVER", "")

    @validate("run_server")
    def _check_run_server(self, proposal: Any) -> str:
        value = proposal["value"].strip()
        if "/" in value or len(value) > 255:
            raise TraitError("run_server must be a server name (no '/'), or empty")
        return value

    run_server_options = Dict(
        help="""The spawner's user_options when the service starts a run server, e.g.
        `{"profile": "templates-runs"}` to pick a KubeSpawner profile with the run
        server's own resources. Default: $JUPYTERHUB_TEMPLATES_RUN_SERVER_OPTIONS (JSON),
        else none.
        """,
    ).tag(config=True)

    @default("run_server_options")
    def _default_run_server_options(self) -> dict[str, Any]:
        text = os.environ.get("JUPYTERHUB_TEMPLATES_RUN_SERVER_OPTIONS", "")
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise TraitError("$JUPYTERHUB_TEMPLATES_RUN_SERVER_OPTIONS is not JSON") from None
        if not isinstance(value, dict):
            raise TraitError("$JUPYTERHUB_TEMPLATES_RUN_SERVER_OPTIONS must be a JSON object")
        return value

    max_retries = Int(
        5, help="The most retries a request or a job may ask for (its `retries.max`)."
    ).tag(config=True)

    retry_backoff = Float(
        30.0,
        help="""Seconds before the first retry when a request's `retries` names no
        `backoff`; each further retry waits twice as long.""",
    ).tag(config=True)

    log_tail_bytes = Int(
        65536,
        help="""How much of the end of a run's log (bytes) is kept in the database when
        the run ends, so that it can still be read once the user's server has stopped or
        forgotten the run. 0: none is kept.""",
    ).tag(config=True)

    def __init__(
        self,
        *,
        records: ExecutionRecords,
        notebooks: NotebookRecords,
        hub: HubClient,
        extension: ExtensionClient,
        in_thread: InThread,
        public_url: str,
        declared_parameters: Callable[[str, int | None], list[dict[str, Any]]] | None = None,
        **kwargs: Any,
    ) -> None:
        """``declared_parameters(template, version)``: what a template declares (blocking;
        the catalog's), so that a run cannot write a secret parameter into a notebook."""
        super().__init__(**kwargs)
        self.declared_parameters = declared_parameters
        self.records = records
        self.notebooks = notebooks
        self.hub = hub
        self.extension = extension
        self.in_thread = in_thread
        self.public_url = public_url
        records.lookup_mlflow = bool(self.mlflow_tracking_uri)
        #: MLflow experiments known to exist (see _ensure_experiment)
        self._experiments: set[str] = set()
        self.monitor = ExecutionMonitor(
            records=records,
            hub=hub,
            extension=extension,
            in_thread=in_thread,
            on_final=self._after_run,
            parent=self,
            log=self.log,
        )
        self.notifier = Notifier(
            db=records.db,
            describe=records.describe,
            urls=self.urls,
            in_thread=in_thread,
            parent=self,
            log=self.log,
        )

    async def start(self) -> None:
        await self.monitor.start()

    async def stop(self) -> None:
        await self.monitor.stop()

    # -- dispatch ----------------------------------------------------------------

    def check_limits(self, value: Any) -> dict[str, float] | None:
        """A request's or a job's ``limits`` checked against this service's caps: what it
        asks (:func:`.limits.check_limits`)."""
        return check_limits(value, memory_mb=self.memory_limit, cpu_seconds=self.cpu_limit)

    def check_retries(self, value: Any) -> RetryPolicy | None:
        """A request's or a job's ``retries`` checked against this service's limits."""
        return check_retries(value, cap=self.max_retries, default_backoff=self.retry_backoff)

    def _check(self, request: ExecuteRequest) -> tuple[str, str | None, dict[str, Any]]:
        path = clean_notebook_path(request.notebook_path)
        output = None
        if request.in_place:
            if request.output_path not in (None, "", path):
                raise InvalidInput("output_path cannot be set for an in-place execution.")
            output = path
        elif request.output_path not in (None, ""):
            output = clean_notebook_path(request.output_path, "output_path")
        if request.kernel_name is not None and (
            not isinstance(request.kernel_name, str)
            or not request.kernel_name.strip()
            or len(request.kernel_name) > 255
        ):
            raise InvalidInput("kernel_name must be a kernel's name.")
        if request.timeout is not None:
            if (
                isinstance(request.timeout, bool)
                or not isinstance(request.timeout, int | float)
                or not request.timeout > 0
            ):
                raise InvalidInput("timeout must be a positive number of seconds.")
            if request.timeout > self.max_timeout:
                raise InvalidInput(f"timeout may be at most {self.max_timeout:.0f} seconds.")
        if request.experiment_name is not None and (
            not isinstance(request.experiment_name, str) or not request.experiment_name.strip()
        ):
            raise InvalidInput("experiment_name must be a non-empty string.")
        parameters = check_parameters([], request.parameters, allow_unknown=True)
        return path, output, parameters

    async def submit(self, request: ExecuteRequest) -> dict[str, Any]:
        """Record the run (pending), hand it to the user's server, follow it.

        Returns the record's description. Nothing stays recorded when the server
        refuses the run (bad path, missing notebook, an existing output without
        ``overwrite``) or cannot be reached.
        """
        path, output, parameters = await self.in_thread(self._check, request)
        policy = self.check_retries(request.retries)
        told = self.notifier.check(request.notify)
        secret_values = check_secrets(request.secrets)
        asked_limits = self.check_limits(request.limits)
        if secret_values and policy:
            raise InvalidInput(
                "retries cannot be combined with secrets: secret values are never stored, "
                "so a later attempt would not have them."
            )
        found = await self.in_thread(self.notebooks.latest_at, request.username, path) or {}
        notebook_id, template = found.get("id"), found.get("template_name")
        if template and self.declared_parameters is not None:
            declared = await self.in_thread(
                self.declared_parameters, template, found.get("template_version")
            )
            refuse_secrets(declared, parameters)
        experiment = request.experiment_name or _experiment_for(template, path)
        server = await self.hub.ensure_running(
            request.username, name=self.run_server, options=self.run_server_options
        )
        await self._ensure_experiment(experiment)
        record, remote_id = await self.in_thread(
            self.records.create,
            username=request.username,
            server_name=server.name,
            notebook_path=path,
            output_path=lambda i: output or default_output_path(path, i),
            remote_id=lambda i: f"{i}-{secrets.token_hex(6)}",
            kernel_name=request.kernel_name or "",
            # what the notebook was made with, and the run's own over it: what a rerun
            # gives the run again
            parameters={**found.get("parameters", {}), **parameters},
            timeout=request.timeout,
            template_name=template,
            template_version=found.get("template_version"),
            rerun_of=request.rerun_of,
            job_run_id=request.job_run_id,
            retries=policy.to_json() if policy else None,
            retry_of=request.retry_of,
            attempt=request.attempt,
            notify=told.to_json() if told else None,
            secret_names=list(secret_values),
            limits=asked_limits,
            notebook_id=notebook_id,
            experiment_name=experiment,
        )
        execution_id = record["execution_id"]
        spec = {
            "id": remote_id,
            "input_path": path,
            "output_path": record["output_path"],
            "kernel_name": request.kernel_name,
            "parameters": parameters,
            "timeout": request.timeout,
            "overwrite": request.overwrite or request.in_place,
            "env": self._env(execution_id, remote_id, request.username, template, path, experiment),
            "secrets": secret_values,
            "limits": kernel_limits(
                asked_limits, memory_mb=self.memory_limit, cpu_seconds=self.cpu_limit
            ),
        }
        try:
            # which incarnation of the server takes the run: a later boot id means the
            # server restarted and lost it
            boot_id = (await self.extension.changes(server, ids=[remote_id])).get("boot_id")
            # parameters may be large: encoded off the event loop
            model = await self.extension.submit(server, await self.in_thread(jsontext.encode, spec))
        except BaseException:
            await self.in_thread(self.records.delete, execution_id)
            raise
        metrics.execution_started()
        self.monitor.watch(server.key)
        description = await self.monitor.apply(request.username, model, boot_id)
        return description or record

    async def rerun(
        self,
        execution_id: int,
        username: str | None,
        *,
        parameters: dict[str, Any] | None = None,
        timeout: float | None = None,
        output_path: str | None = None,
        overwrite: bool = False,
        retries: Any = None,
        notify: Any = None,
        secrets: Any = None,
        limits: Any = None,
    ) -> dict[str, Any]:
        """Run ``username``'s execution (anyone's for None) again: the same notebook,
        kernel, experiment and parameters, with ``parameters`` over those, and its
        timeout and limits unless ``timeout`` or ``limits`` are given. An in-place run
        runs in place again; another goes to a new notebook (or ``output_path``).
        Returns the new record."""
        before = await self.in_thread(self.records.get, execution_id, username)
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput("parameters must be an object.")
        request = self._again(before, parameters or {})
        request.timeout = timeout if timeout is not None else before["timeout"]
        request.output_path = output_path
        request.overwrite = overwrite
        request.rerun_of = execution_id
        request.retries = retries
        request.notify = notify
        request.secrets = secrets
        request.limits = limits if limits is not None else before["limits"]
        return await self.submit(request)

    async def retry(self, execution_id: int) -> int | None:
        """Make the next attempt of a failed run whose retry is due (once, whoever
        asks: an attempt names the one it repeats, and that is unique). Returns the
        attempt's id, or None when there is none to make or it could not be
        dispatched (the notebook is gone, the server does not start): the run then
        stays failed."""
        before, made = await self.in_thread(self.records.retry_plan, execution_id)
        if before is None:
            return None
        if made is None:
            request = self._again(before, {})
            request.retry_of = execution_id
            request.attempt = before["attempt"] + 1
            request.retries = before["retries"]
            request.notify = before["notify"]
            request.timeout = before["timeout"]
            request.limits = before["limits"]
            try:
                made = (await self.submit(request))["execution_id"]
            except IntegrityError:  # another replica made it first
                _, made = await self.in_thread(self.records.retry_plan, execution_id)
            except TemplatesError as e:
                log.info("execution %s not retried: %s", execution_id, e.message)
        await self.in_thread(self.records.retried, execution_id, made)
        if made is not None:
            log.info("execution %s retried as %s", execution_id, made)
        return made

    def _again(self, before: dict[str, Any], parameters: dict[str, Any]) -> ExecuteRequest:
        """A request running a recorded execution again, with ``parameters`` over its
        own (the caller sets what differs)."""
        return ExecuteRequest(
            username=before["username"],
            notebook_path=before["notebook_path"],
            in_place=before["in_place"],
            kernel_name=before["kernel_name"] or None,
            parameters={**before["parameters"], **parameters},
            experiment_name=before["mlflow"]["experiment_name"],
        )

    async def _ensure_experiment(self, name: str) -> None:
        """Have the run's MLflow experiment exist before the run starts (two first runs
        of a template would race to create it); a failure is logged, not fatal: the
        notebook may not use MLflow, or MLflow may be back by the time it does."""
        if not self.mlflow_tracking_uri or name in self._experiments:
            return
        try:
            await ensure_experiment(self.mlflow_tracking_uri, name)
        except MLflowUnavailable as e:
            log.warning("MLflow experiment %r: %s", name, e.message)
            return
        self._experiments.add(name)
        while len(self._experiments) > 10_000:
            self._experiments.pop()

    def _env(
        self,
        execution_id: int,
        remote_id: str,
        username: str,
        template: str | None,
        path: str,
        experiment: str,
    ) -> dict[str, str]:
        env = {
            "JUPYTERHUB_TEMPLATES_EXECUTION_ID": str(execution_id),
            "MLFLOW_EXPERIMENT_NAME": experiment,
            # tags MLflow adds to every run the notebook starts (autolog runs included)
            "MLFLOW_RUN_CONTEXT": json.dumps(
                {
                    EXECUTION_TAG: str(execution_id),
                    RUN_KEY_TAG: remote_id,
                    "templates.username": username,
                    "templates.template": template or "",
                    "templates.notebook_path": path,
                }
            ),
        }
        if self.mlflow_tracking_uri:
            env["MLFLOW_TRACKING_URI"] = self.mlflow_tracking_uri
        return env

    def urls(self, description: dict[str, Any]) -> dict[str, str]:
        """Where the output notebook opens in Lab."""
        server = UserServer(description["username"], "", False, None)
        return {"notebook_url": notebook_url(self.public_url, server, description["output_path"])}

    # -- waiting -----------------------------------------------------------------

    async def wait_first_cell(self, execution_id: int, timeout: float) -> dict[str, Any]:
        """The run once its first cell has run (or it ended), or as it is after
        ``timeout`` seconds."""
        found = await self.monitor.wait_for(
            execution_id,
            lambda d: is_final(d) or d["progress"]["cells_done"] >= 1,
            timeout,
        )
        return found or await self.in_thread(self.records.get, execution_id)

    async def wait_final(self, execution_id: int, timeout: float) -> dict[str, Any]:
        """The run once it has ended and its MLflow runs are looked up, or as it is after
        ``timeout`` seconds."""
        found = await self.monitor.wait_for(
            execution_id, lambda d: is_final(d) and not d["mlflow"]["pending"], timeout
        )
        return found or await self.in_thread(self.records.get, execution_id)

    async def status_json(
        self,
        execution_id: int,
        username: str | None,
        decorate: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> bytes:
        """The encoded description of ``username``'s run (anyone's for None), decorated.

        A run that has just ended is described once its MLflow runs are looked up, so
        that whoever sees the final status sees its runs too.
        """

        def read() -> tuple[dict[str, Any], bytes]:
            description = self.records.get(execution_id, username)
            return description, jsontext.encode(decorate(description))

        description, body = await self.in_thread(read)
        if is_final(description) and await self.monitor.settle(
            execution_id, description["username"]
        ):
            description, body = await self.in_thread(read)
        return body

    # -- cancel, log -------------------------------------------------------------

    async def cancel(self, execution_id: int, username: str | None) -> dict[str, Any]:
        """Cancel a pending or running execution (Conflict when it has ended)."""
        description = await self.in_thread(self.records.get, execution_id, username)
        if is_final(description):
            raise Conflict(f"Execution {execution_id} has already ended ({description['status']}).")
        ref = await self.in_thread(self.records.remote_ref, execution_id)
        try:
            server = await self.hub.get_server(ref.username, ref.server_name)
            if not server.running:
                raise ServerNotRunning("stopped")
            model = await self.extension.cancel(server, ref.remote_id)
        except (ServerNotRunning, NotFound):
            # Nothing runs any more: the record simply ends here.
            await self.monitor.force_final(
                execution_id,
                Status.CANCELLED,
                None,
                "Cancelled; the user's server was not running.",
            )
            return await self.in_thread(self.records.get, execution_id)
        except Conflict:
            # it ended meanwhile: report what it ended as
            model = await self.extension.get(server, ref.remote_id)
        updated = await self.monitor.apply(ref.username, model, ref.boot_id)
        return updated or await self.in_thread(self.records.get, execution_id)

    async def read_log(
        self, execution_id: int, username: str | None, offset: int
    ) -> dict[str, Any]:
        """The log from byte ``offset``: from the user's server while it has it, else
        the tail kept when the run ended."""
        description = await self.in_thread(self.records.get, execution_id, username)
        ref = await self.in_thread(self.records.remote_ref, execution_id)
        server = await self.hub.get_server(ref.username, ref.server_name)
        answer: dict[str, Any] | None = None
        if server.running:
            try:
                answer = await self.extension.log(server, ref.remote_id, offset)
            except NotFound:
                answer = None
        if answer is None:
            stored = await self.in_thread(self.records.stored_log, execution_id)
            if stored is None and not server.running:
                raise Unavailable(
                    "The log lives in the user's server, which is not running, and none was "
                    "kept for this run; start the server to read the log of a run it still "
                    "remembers."
                )
            if stored is None:
                raise NotFound(
                    f"The user's server no longer has the log of execution {execution_id}."
                )
            answer = read_from(stored[0].encode(), stored[1], offset)
        return {
            "execution_id": execution_id,
            "status": description["status"],
            **{k: answer.get(k) for k in ("offset", "next_offset", "log", "truncated")},
        }

    async def _keep_log_tail(self, execution_id: int) -> None:
        """Store the end of an ended run's log, read from the user's server that ran it
        (nothing when the server is gone: it took the log with it)."""
        if self.log_tail_bytes <= 0:
            return
        ref = await self.in_thread(self.records.remote_ref, execution_id)
        try:
            server = await self.hub.get_server(ref.username, ref.server_name)
            if not server.running:
                return
            answer = await self.extension.log(server, ref.remote_id, 0)
        except Exception as e:  # the log is a convenience: the run's record stands
            log.info("log of execution %s not kept: %s", execution_id, type(e).__name__)
            return
        text, offset = tail_of(
            str(answer.get("log") or ""), _count(answer.get("next_offset")), self.log_tail_bytes
        )
        await self.in_thread(self.records.set_log_tail, execution_id, text, offset)

    # -- after the run -----------------------------------------------------------

    async def _after_run(self, execution_id: int, description: dict[str, Any]) -> None:
        """Keep the end of the log; look up the MLflow runs the notebook started and
        store them on the record."""
        await self._keep_log_tail(execution_id)
        if not self.mlflow_tracking_uri:
            return
        experiment = (description.get("mlflow") or {}).get("experiment_name")
        ref = await self.in_thread(self.records.remote_ref, execution_id)
        try:
            runs = await find_runs(
                self.mlflow_tracking_uri,
                ref.remote_id,
                experiment_names=[experiment] if experiment else [],
                ui_url=self.mlflow_ui_url or self.mlflow_tracking_uri,
                tag=RUN_KEY_TAG,
            )
        except MLflowUnavailable as e:
            metrics.mlflow_lookup(metrics.Outcome.UNAVAILABLE)
            log.warning("MLflow runs of execution %s: %s", execution_id, e.message)
            runs = None
        else:
            metrics.mlflow_lookup(metrics.Outcome.SUCCESS if runs else metrics.Outcome.NONE)
        # the lookup is done either way: the record stops saying it is pending
        await self.in_thread(self.records.set_runs, execution_id, runs or None)
        await self.monitor.publish(execution_id)


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0
