"""The ``notebook_executions`` table: one row per run, kept true to what the server
extension reports. Blocking; run in worker threads.

A record moves pending → running → success | failed | cancelled and never leaves a
final status: late or repeated reports are ignored, so several watchers (service
replicas, a restarted service) may apply the same report safely. Each write locks
the run's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes writers), so
two replicas applying one report at once record its transition once, and each sends the
run's id to every replica (:mod:`..db.notify`) as it commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import jsontext
from ..db import Database
from ..db.models import Execution, JobRun, utcnow
from ..db.notify import EXECUTIONS, notify
from ..errors import NotFound
from ..hub.client import server_key, split_key
from ..jsontext import isoformat
from ..statuses import ACTIVE, FINAL, REASONS, STATUSES, Reason, Status
from .notifications import describe_policy, plan_deliveries
from .retries import RetryPolicy


class RemoteRef(NamedTuple):
    """Where a run is: its user's server, and the ids that server knows it by."""

    username: str
    #: "" for the user's default server, else the named server's name
    server_name: str
    remote_id: str
    #: the server extension's boot id when the run was handed to it (None before)
    boot_id: str | None

    @property
    def key(self) -> str:
        return server_key(self.username, self.server_name)


def format_duration(seconds: float) -> str:
    """``"5m 30s"``, ``"1h 2m 3s"``, ``"45s"`` (the original API's format)."""
    total = round(max(seconds, 0.0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def _ts(value: datetime.datetime | None) -> str | None:
    return isoformat(value) if value is not None else None


def _parse_ts(value: Any) -> datetime.datetime | None:
    """An ISO 8601 time from a server's report (UTC when it names no zone), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


#: an execution's fields in answers, in order (the original API's first): what
#: :func:`describe_execution` writes and the OpenAPI ``Execution`` lists
EXECUTION_FIELDS = (
    "execution_id",
    "status",
    "notebook_path",
    "start_time",
    "end_time",
    "duration",
    "username",
    "server_name",
    "output_path",
    "in_place",
    "template_name",
    "template_version",
    "kernel_name",
    "parameters",
    "timeout",
    "limits",
    "rerun_of",
    "attempt",
    "retry_of",
    "retries",
    "retry_at",
    "notify",
    "secrets",
    "started_running",
    "progress",
    "error",
    "mlflow",
    "status_url",
    "log_url",
)


def describe_execution(e: Execution, base_url: str = "") -> dict[str, Any]:
    """The API model of an execution (:data:`EXECUTION_FIELDS`)."""
    duration = None
    if e.end_time is not None:
        duration = format_duration((e.end_time - e.created_at).total_seconds())
    error = None
    if e.status == Status.FAILED or e.reason:
        error = {
            "reason": e.reason or Reason.ERROR.value,
            "name": e.error_name,
            "message": e.error_message,
            "cell_index": e.error_cell,
        }
    total = e.cells_total or 0
    return {
        "execution_id": e.id,
        "status": e.status,
        "notebook_path": e.notebook_path,
        "start_time": _ts(e.created_at),
        "end_time": _ts(e.end_time),
        "duration": duration,
        "username": e.username,
        "server_name": e.server_name or "",
        "output_path": e.output_path,
        "in_place": e.output_path == e.notebook_path,
        "template_name": e.template_name,
        "template_version": e.template_version,
        "kernel_name": e.kernel_name,
        "parameters": e.parameters or {},
        "timeout": e.timeout,
        "limits": e.limits or None,
        "rerun_of": e.rerun_of,
        "attempt": e.attempt or 1,
        "retry_of": e.retry_of,
        "retries": e.retries or None,
        "retry_at": _ts(e.retry_at),
        "notify": describe_policy(e.notify),
        "secrets": e.secret_names or [],
        "started_running": _ts(e.start_time),
        "progress": {
            "cells_done": e.cells_done,
            "cells_total": total,
            "current_cell": e.current_cell,
            "percent": round(100.0 * e.cells_done / total, 1) if total else 0.0,
        },
        "error": error,
        "mlflow": {
            "experiment_name": e.experiment_name,
            "runs": e.mlflow_runs or [],
            "pending": bool(e.mlflow_pending),
        },
        "status_url": f"{base_url}execution-status/{e.id}",
        "log_url": f"{base_url}execution/{e.id}/log",
    }


class ExecutionRecords:
    """Reads and writes of execution records. ``username=None`` means any user's."""

    def __init__(self, db: Database, base_url: str = "") -> None:
        self.db = db
        self.base_url = base_url
        #: whether an ended run's MLflow runs are looked up (then its record says
        #: ``mlflow.pending`` from the moment it ends until the lookup is done)
        self.lookup_mlflow = False

    def describe(self, e: Execution) -> dict[str, Any]:
        return describe_execution(e, self.base_url)

    def create(
        self,
        *,
        username: str,
        notebook_path: str,
        output_path: Callable[[int], str],
        remote_id: Callable[[int], str],
        kernel_name: str,
        parameters: dict[str, Any],
        timeout: float | None,
        template_name: str | None,
        notebook_id: int | None,
        experiment_name: str | None,
        template_version: int | None = None,
        rerun_of: int | None = None,
        job_run_id: int | None = None,
        retries: dict[str, Any] | None = None,
        retry_of: int | None = None,
        attempt: int = 1,
        notify: dict[str, Any] | None = None,
        secret_names: list[str] | None = None,
        server_name: str = "",
        limits: dict[str, float] | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new ``pending`` record: ``(description, remote_id)``; output path and remote
        id may depend on its id."""
        with self.db.write_session() as session:
            e = Execution(
                remote_id="",
                username=username,
                server_name=server_name,
                notebook_path=notebook_path,
                output_path="",
                kernel_name=kernel_name,
                parameters=parameters,
                timeout=timeout,
                status=Status.PENDING.value,
                template_name=template_name,
                template_version=template_version,
                rerun_of=rerun_of,
                job_run_id=job_run_id,
                retries=retries,
                retry_of=retry_of,
                attempt=attempt,
                notify=notify,
                secret_names=secret_names or None,
                limits=limits or None,
                notebook_id=notebook_id,
                experiment_name=experiment_name,
                mlflow_runs=[],
            )
            session.add(e)
            session.flush()
            e.remote_id = remote_id(e.id)
            e.output_path = output_path(e.id)
            session.commit()
            return self.describe(e), e.remote_id

    def delete(self, execution_id: int) -> None:
        with self.db.write_session() as session:
            e = session.get(Execution, execution_id)
            if e is not None:
                session.delete(e)
                session.commit()

    def get(self, execution_id: int, username: str | None = None) -> dict[str, Any]:
        """NotFound when absent or (with ``username``) someone else's."""
        with self.db.session() as session:
            e = session.get(Execution, execution_id)
            if e is None or (username is not None and e.username != username):
                raise NotFound(f"No execution {execution_id}.")
            return self.describe(e)

    def remote_ref(self, execution_id: int) -> RemoteRef:
        """Where the run is and what its server knows it by."""
        with self.db.session() as session:
            e = session.get(Execution, execution_id)
            if e is None:
                raise NotFound(f"No execution {execution_id}.")
            return RemoteRef(e.username, e.server_name or "", e.remote_id, e.server_boot_id)

    def list_json(
        self,
        username: str | None,
        *,
        status: str | None,
        template: str | None,
        limit: int,
        offset: int,
        max_bytes: int,
        decorate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> str:
        """A page of executions, newest first, as JSON text of at most about
        ``max_bytes`` (:func:`jupyterhub_templates.jsontext.page`); ``decorate`` adds
        to each description (the notebook's URL)."""
        query = select(Execution)
        if username is not None:
            query = query.where(Execution.username == username)
        if status:
            query = query.where(Execution.status == status)
        if template:
            query = query.where(Execution.template_name == template)
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Execution.id.desc())
                .limit(limit)
                .offset(offset)
                .execution_options(yield_per=50)
            )
            described = (self.describe(e) for e in rows)
            return jsontext.page(
                "executions",
                (decorate(d) for d in described) if decorate else described,
                total=total,
                limit=limit,
                offset=offset,
                max_bytes=max_bytes,
            )

    def count_active(self) -> int:
        """How many executions are pending or running (every replica's)."""
        return self.db.query(
            lambda session: (
                session.scalar(
                    select(func.count()).select_from(Execution).where(Execution.status.in_(ACTIVE))
                )
                or 0
            )
        )

    def active_servers(self) -> list[str]:
        """The users' servers (:func:`~..hub.client.server_key`) with a pending or
        running execution."""
        with self.db.session() as session:
            rows = session.execute(
                select(Execution.username, Execution.server_name)
                .where(Execution.status.in_(ACTIVE))
                .distinct()
            ).all()
            return [server_key(username, name or "") for username, name in rows]

    def active_for(self, key: str) -> list[tuple[int, str, str | None, datetime.datetime]]:
        """``(id, remote_id, server_boot_id, created_at)`` of the active runs in one
        user's server (:func:`~..hub.client.server_key`)."""
        username, name = split_key(key)
        with self.db.session() as session:
            rows = session.execute(
                select(
                    Execution.id,
                    Execution.remote_id,
                    Execution.server_boot_id,
                    Execution.created_at,
                ).where(
                    Execution.username == username,
                    Execution.server_name == name,
                    Execution.status.in_(ACTIVE),
                )
            ).all()
            return [(r[0], r[1], r[2], r[3]) for r in rows]

    def apply_remote(
        self, username: str, model: dict[str, Any], boot_id: str | None = None
    ) -> tuple[int, dict[str, Any], bool] | None:
        """Apply a model that ``username``'s server reported for one of its runs.

        Returns ``(id, description, became_final)``, or None when that user has no
        record with the model's remote id. A server reports for its own user only: its
        code is the user's, so a model naming another user's run (remote ids are no
        secret: they are the ``templates.run_key`` tag in MLflow) changes nothing. A
        record that one incarnation of the server (``boot_id``) took is changed only by
        reports of that incarnation. A record already final is left as it is.
        """
        remote_id = str(model.get("id", ""))
        with self.db.write_session() as session:
            e = session.scalars(
                select(Execution)
                .where(Execution.remote_id == remote_id, Execution.username == username)
                .with_for_update()
            ).one_or_none()
            if e is None:
                return None
            if e.status in FINAL:
                return e.id, self.describe(e), False
            if boot_id and e.server_boot_id and boot_id != e.server_boot_id:
                return e.id, self.describe(e), False
            status = model.get("status")
            if status not in STATUSES:
                return e.id, self.describe(e), False
            if boot_id and not e.server_boot_id:
                e.server_boot_id = boot_id
            # the model comes from code the user controls: every field is checked
            progress = model.get("progress")
            progress = progress if isinstance(progress, dict) else {}
            e.cells_done = _count(progress.get("cells_done")) or 0
            e.cells_total = _count(progress.get("cells_total")) or 0
            e.current_cell = _count(progress.get("current_cell"))
            e.start_time = _parse_ts(model.get("started")) or e.start_time
            if isinstance(model.get("kernel_name"), str) and model["kernel_name"]:
                e.kernel_name = model["kernel_name"][:255]
            e.status = Status(status).value
            final = status in FINAL
            if final:
                e.end_time = _parse_ts(model.get("finished")) or utcnow()
                e.mlflow_pending = self.lookup_mlflow
                error = model.get("error") or None
                if not isinstance(error, dict):
                    error = None
                if status == Status.FAILED:
                    error = error or {"reason": Reason.ERROR.value, "ename": None, "evalue": None}
                if error:
                    reason = str(error.get("reason") or Reason.ERROR.value)
                    e.reason = reason if reason in REASONS else Reason.ERROR.value
                    e.error_name = _short(error.get("ename"), 255)
                    e.error_message = _short(error.get("evalue"), 4000)
                    e.error_cell = _count(error.get("cell_index"))
                self._plan_end(session, e)
            e.updated_at = utcnow()
            notify(session, EXECUTIONS, str(e.id))
            session.commit()
            return e.id, self.describe(e), final

    def finish(
        self,
        execution_id: int,
        status: str,
        reason: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any] | None:
        """Force a final status (server stopped, never dispatched, cancelled while the
        server was gone). Returns the description, or None when it was already final."""
        with self.db.write_session() as session:
            e = session.get(Execution, execution_id, with_for_update=True)
            if e is None or e.status in FINAL:
                return None
            # plain strings in the database, whatever the caller passed
            e.status = Status(status).value
            e.reason = Reason(reason).value if reason is not None else None
            e.error_message = _short(message, 4000)
            e.current_cell = None
            e.end_time = utcnow()
            e.mlflow_pending = self.lookup_mlflow
            e.updated_at = e.end_time
            self._plan_end(session, e)
            notify(session, EXECUTIONS, str(e.id))
            session.commit()
            return self.describe(e)

    def _plan_end(self, session: Session, e: Execution) -> None:
        """With its end: when a failed run's next attempt is due, if it gets one; else
        the notifications it asked for."""
        policy = RetryPolicy.from_json(e.retries)
        if e.status == Status.FAILED and policy and policy.retries(e.reason, e.attempt or 1):
            e.retry_at = self.db.now(session) + policy.delay(e.attempt or 1)
        elif e.notify:
            session.add_all(plan_deliveries(e, self.db.now(session)))

    def retries_due(self, limit: int = 100) -> list[int]:
        """Failed runs whose next attempt is due now, the longest due first."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Execution.id)
                    .where(Execution.retry_at.is_not(None), Execution.retry_at <= self.db.clock())
                    .order_by(Execution.retry_at)
                    .limit(limit)
                )
            )

    def retry_plan(self, execution_id: int) -> tuple[dict[str, Any] | None, int | None]:
        """``(description, attempt already made)`` of a run whose retry is due, or
        ``(None, None)`` when none is (any more)."""
        with self.db.session() as session:
            e = session.get(Execution, execution_id)
            if e is None or e.retry_at is None:
                return None, None
            made = session.scalar(select(Execution.id).where(Execution.retry_of == e.id))
            # for the next attempt: the notifications as asked, not as answers show them
            return {**self.describe(e), "notify": e.notify}, made

    def retried(self, execution_id: int, attempt_id: int | None) -> None:
        """The retry of ``execution_id`` is made (``attempt_id``) or given up (None): it
        is no longer due; a job run it belonged to follows its new attempt."""
        with self.db.write_session() as session:
            e = session.get(Execution, execution_id, with_for_update=True)
            if e is None or e.retry_at is None:  # done already
                return
            e.retry_at = None
            if attempt_id is None:  # its end stands: told now
                session.add_all(plan_deliveries(e, self.db.now(session)))
            else:
                session.execute(
                    update(JobRun)
                    .where(JobRun.execution_id == execution_id)
                    .values(execution_id=attempt_id, updated_at=utcnow())
                )
            notify(session, EXECUTIONS, str(e.id))
            session.commit()

    def set_runs(self, execution_id: int, runs: list[dict[str, Any]] | None) -> None:
        """The MLflow lookup of a run is done: its runs (None: none could be found, the
        runs stay as they are)."""
        with self.db.write_session() as session:
            e = session.get(Execution, execution_id, with_for_update=True)
            if e is not None:
                if runs is not None:
                    e.mlflow_runs = runs
                e.mlflow_pending = False
                e.updated_at = utcnow()
                notify(session, EXECUTIONS, str(e.id))
                session.commit()

    def set_log_tail(self, execution_id: int, text: str, offset: int) -> None:
        """Keep the end of an ended run's log: ``text`` starting at absolute byte
        ``offset`` of the whole log."""
        with self.db.write_session() as session:
            e = session.get(Execution, execution_id, with_for_update=True)
            if e is not None:
                e.log_tail = text
                e.log_tail_offset = offset
                session.commit()

    def stored_log(self, execution_id: int) -> tuple[str, int] | None:
        """``(tail, offset)`` kept by :meth:`set_log_tail`, or None."""
        with self.db.session() as session:
            row = session.execute(
                select(Execution.log_tail, Execution.log_tail_offset).where(
                    Execution.id == execution_id
                )
            ).first()
            if row is None or row[0] is None:
                return None
            return row[0], int(row[1] or 0)

    def pending_lookups(self) -> list[tuple[int, dict[str, Any]]]:
        """Ended runs whose MLflow lookup was interrupted (the service stopped)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Execution).where(Execution.mlflow_pending.is_(True)).limit(1000)
            )
            return [(e.id, self.describe(e)) for e in rows]


def _count(value: Any) -> int | None:
    """``value`` when it is an integer a database column holds (0 to 2**31 - 1)."""
    if type(value) is int and 0 <= value < 2**31:
        return value
    return None


def _short(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
