"""The service's Prometheus metrics: every metric is defined here, and only here.

Naming follows Prometheus' guide, as JupyterHub's ``metrics.py`` does: the prefix
``jupyterhub_templates_``, then what is measured, then the unit (``_seconds``,
``_bytes``); counters end in ``_total``. A label takes values from a small, known set
(a handler class, a status code, an execution status or reason from :mod:`.statuses`,
the enums below), never a user name, a path or anything else a caller chooses: each
value is a time series.

The metrics live in :data:`REGISTRY`, the service's own (not the process-wide default),
so that two services in one test process do not collide and nothing is exported that
was not defined here; ``GET /metrics`` serves it. Components record through the
functions below rather than touching metric objects, so a metric can change shape in
one place. Each replica counts what it did; the gauges read from the database
(templates, active executions) are the same in every replica.
"""

from __future__ import annotations

import datetime
import time
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from tornado.web import RequestHandler

from .statuses import FINAL

__all__ = [
    "REGISTRY",
    "Action",
    "Outcome",
    "database_call",
    "execution_finished",
    "execution_started",
    "long_poll_failed",
    "mlflow_lookup",
    "notification_sent",
    "observe_request",
    "set_catalog_gauges",
    "store_call",
    "watchers",
]

REGISTRY = CollectorRegistry(auto_describe=True)


class Action(str, Enum):
    """What a request did, for :data:`ACTIONS` and the audit trail (a handler's
    ``actions`` maps its methods to one)."""

    UPLOAD = "upload"
    #: an upload that became a new version of an existing template (audit only)
    REPLACE = "replace"
    #: ``jupyterhub-templates sync`` (audit only)
    SYNC = "sync"
    DELETE = "delete"
    CREATE = "create"
    EXECUTE = "execute"
    #: running an execution again
    RERUN = "rerun"
    CANCEL = "cancel"
    JOB_CREATE = "job_create"
    JOB_UPDATE = "job_update"
    JOB_DELETE = "job_delete"
    JOB_PAUSE = "job_pause"
    JOB_RESUME = "job_resume"
    #: a job run asked for through the API
    JOB_RUN = "job_run"
    RECORD_CHANGE = "record_change"


class Outcome(str, Enum):
    """How an action or a lookup ended."""

    SUCCESS = "success"
    INVALID = "invalid"
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    #: an MLflow lookup that found no run
    NONE = "none"


_BY_STATUS = {
    400: Outcome.INVALID,
    403: Outcome.NOT_ALLOWED,
    404: Outcome.NOT_FOUND,
    409: Outcome.CONFLICT,
    413: Outcome.TOO_LARGE,
    502: Outcome.UNAVAILABLE,
    503: Outcome.UNAVAILABLE,
}


def outcome_of(status: int) -> Outcome:
    """The outcome an HTTP status code stands for."""
    if status < 400:
        return Outcome.SUCCESS
    return _BY_STATUS.get(status, Outcome.ERROR if status >= 500 else Outcome.INVALID)


REQUEST_DURATION_SECONDS = Histogram(
    "jupyterhub_templates_request_duration_seconds",
    "Time to answer a request to the service, by method, handler and status code",
    ["method", "handler", "code"],
    registry=REGISTRY,
)
ACTIONS = Counter(
    "jupyterhub_templates_actions",
    "Template uploads and deletes, notebook creates, executes, cancels and record "
    "changes asked of the service, by outcome",
    ["action", "outcome"],
    registry=REGISTRY,
)
EXECUTIONS_STARTED = Counter(
    "jupyterhub_templates_executions_started",
    "Executions handed to users' servers",
    registry=REGISTRY,
)
EXECUTIONS_FINISHED = Counter(
    "jupyterhub_templates_executions_finished",
    "Executions that ended, by status and failure reason ('' unless failed)",
    ["status", "reason"],
    registry=REGISTRY,
)
EXECUTION_DURATION_SECONDS = Histogram(
    "jupyterhub_templates_execution_duration_seconds",
    "How long executions ran (from their start in the user's server to their end)",
    ["status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)
EXECUTION_QUEUE_SECONDS = Histogram(
    "jupyterhub_templates_execution_queue_seconds",
    "How long executions waited between being recorded and starting to run",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
    registry=REGISTRY,
)
EXECUTIONS_ACTIVE = Gauge(
    "jupyterhub_templates_executions_active",
    "Executions pending or running (all replicas: read from the database)",
    registry=REGISTRY,
)
TEMPLATES = Gauge(
    "jupyterhub_templates_templates",
    "Templates in the catalog (read from the database)",
    registry=REGISTRY,
)
STORE_DURATION_SECONDS = Histogram(
    "jupyterhub_templates_store_duration_seconds",
    "Time of template store calls, by operation",
    ["operation"],
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "jupyterhub_templates_store_errors",
    "Template store calls that failed (store unavailable), by operation",
    ["operation"],
    registry=REGISTRY,
)
DATABASE_DURATION_SECONDS = Histogram(
    "jupyterhub_templates_database_duration_seconds",
    "Time of database transactions, by kind (read or write)",
    ["kind"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "jupyterhub_templates_database_errors",
    "Database transactions that failed because the database was unavailable, by kind",
    ["kind"],
    registry=REGISTRY,
)
MLFLOW_LOOKUPS = Counter(
    "jupyterhub_templates_mlflow_lookups",
    "Lookups of an ended execution's MLflow runs, by outcome",
    ["outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "jupyterhub_templates_notifications",
    "Notifications of a run's end sent (or tried), by channel (webhook, email) and "
    "outcome (success; unavailable: to be tried again; error: given up)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
MONITOR_WATCHERS = Gauge(
    "jupyterhub_templates_monitor_watchers",
    "Users' servers whose runs this replica follows (it holds their lease; one long poll each)",
    registry=REGISTRY,
)
LONG_POLL_ERRORS = Counter(
    "jupyterhub_templates_monitor_long_poll_errors",
    "Long polls of users' servers that failed (unreachable, refused, bad answers)",
    registry=REGISTRY,
)


def observe_request(handler: RequestHandler) -> None:
    """Record one answered request (called once per request, by the request log): its
    duration, and the action it stands for when the handler names one."""
    status = handler.get_status()
    REQUEST_DURATION_SECONDS.labels(
        method=handler.request.method or "",
        handler=type(handler).__name__,
        code=str(status),
    ).observe(handler.request.request_time())
    action = getattr(handler, "actions", {}).get(handler.request.method)
    if action is not None:
        ACTIONS.labels(action=action.value, outcome=outcome_of(status).value).inc()


class Timed:
    """One call to a dependency, timed from its creation: a context manager, or ended
    by hand with :meth:`done` (a store's listing ends when it has been read). Ending with
    one of ``unavailable`` counts as an error."""

    def __init__(self, duration: Any, errors: Any, unavailable: UnavailableErrors) -> None:
        self._duration = duration
        self._errors = errors
        self._unavailable = unavailable
        self._start = time.perf_counter()

    def done(self, error: BaseException | None = None) -> None:
        if error is not None and isinstance(error, self._unavailable):
            self._errors.inc()
        self._duration.observe(time.perf_counter() - self._start)

    def __enter__(self) -> Timed:
        return self

    def __exit__(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        self.done(value)


UnavailableErrors = type[BaseException] | tuple[type[BaseException], ...]


def store_call(operation: str, unavailable: UnavailableErrors) -> Timed:
    """Time one store call; count it as an error when it raises ``unavailable``."""
    return Timed(
        STORE_DURATION_SECONDS.labels(operation=operation),
        STORE_ERRORS.labels(operation=operation),
        unavailable,
    )


def database_call(kind: str, unavailable: UnavailableErrors) -> Timed:
    """Time one database transaction of ``kind`` (read, write); count it as an error
    when it raises one of ``unavailable``."""
    return Timed(
        DATABASE_DURATION_SECONDS.labels(kind=kind), DATABASE_ERRORS.labels(kind=kind), unavailable
    )


def execution_started() -> None:
    EXECUTIONS_STARTED.inc()


def _parse(ts: Any) -> datetime.datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def execution_finished(description: dict[str, Any]) -> None:
    """Record an execution that has just ended (its API description)."""
    status = description.get("status")
    if status not in FINAL:
        return
    reason = ""
    if status == "failed":
        reason = str((description.get("error") or {}).get("reason") or "")
    EXECUTIONS_FINISHED.labels(status=status, reason=reason).inc()
    created = _parse(description.get("start_time"))
    started = _parse(description.get("started_running"))
    ended = _parse(description.get("end_time"))
    if started is not None and ended is not None:
        EXECUTION_DURATION_SECONDS.labels(status=status).observe(
            max(0.0, (ended - started).total_seconds())
        )
    if created is not None and started is not None:
        EXECUTION_QUEUE_SECONDS.observe(max(0.0, (started - created).total_seconds()))


def mlflow_lookup(outcome: Outcome) -> None:
    MLFLOW_LOOKUPS.labels(outcome=outcome.value).inc()


def notification_sent(channel: str, outcome: Outcome) -> None:
    """``channel``: one of :data:`.execution.notifications.CHANNELS`."""
    NOTIFICATIONS.labels(channel=channel, outcome=outcome.value).inc()


def watchers(count: int) -> None:
    MONITOR_WATCHERS.set(count)


def long_poll_failed() -> None:
    LONG_POLL_ERRORS.inc()


def set_catalog_gauges(*, templates: int, active_executions: int) -> None:
    """The gauges read from the database, refreshed before each scrape."""
    TEMPLATES.set(templates)
    EXECUTIONS_ACTIVE.set(active_executions)
