"""SQLAlchemy models. Schema changes go through a new Alembic migration in
``migrations/versions`` (the models and the migrations must agree: a test checks)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value

    def process_result_value(self, value: datetime.datetime | None, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Template(Base):
    """A template as the catalog lists it: its name and its current version's facts,
    copied from that version so that listing reads one table."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("name", name="uq_templates_name"),
        # a category's page in name order is a range of this index
        Index("ix_templates_category_name", "category", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``<category>/<file>.ipynb``, also the store key of the current version
    name: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    uploader: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TemplateVersion.version",
    )


#: The catalog's search is ``lower(name) LIKE '%q%' OR lower(description) LIKE '%q%'``:
#: on PostgreSQL, trigram indexes answer it without reading every row. They need the
#: pg_trgm extension, which migration 0003 creates when it can; SQLite scans.
for _column in ("name", "description"):
    Index(
        f"ix_templates_{_column}_trgm",
        func.lower(Template.__table__.c[_column]).label(f"lower_{_column}"),
        postgresql_using="gin",
        postgresql_ops={f"lower_{_column}": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


class TemplateVersion(Base):
    """One uploaded version of a template. Versions are immutable once written."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE", name="fk_versions_template"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    #: where this version's bytes are, e.g. ``.versions/ml/a.ipynb/3.ipynb``
    object_key: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    uploader: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)

    template: Mapped[Template] = relationship(back_populates="versions")


class Notebook(Base):
    """A notebook in a user's server that the system created from a template (or that
    was submitted through the legacy API). ``path`` is relative to the server's root."""

    __tablename__ = "notebooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    #: ``template`` (created from one) or ``submitted`` (legacy /submit-notebook)
    source: Mapped[str] = mapped_column(String(16), default="template")
    template_name: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)

    params: Mapped[list[NotebookParam]] = relationship(
        back_populates="notebook",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="NotebookParam.position",
    )


class NotebookParam(Base):
    """One parameter applied to a notebook, its value as JSON text."""

    __tablename__ = "notebook_params"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notebook_id: Mapped[int] = mapped_column(
        ForeignKey("notebooks.id", ondelete="CASCADE", name="fk_params_notebook"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)

    notebook: Mapped[Notebook] = relationship(back_populates="params")


class Execution(Base):
    """One run of a notebook in its owner's server, as the service follows it.

    ``remote_id`` is the id the server extension knows the run by; the record is updated
    from what the extension reports until the run ends.
    """

    __tablename__ = "notebook_executions"
    __table_args__ = (
        UniqueConstraint("remote_id", name="uq_executions_remote_id"),
        UniqueConstraint("job_run_id", name="uq_executions_job_run_id"),
        UniqueConstraint("retry_of", name="uq_executions_retry_of"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(255), index=True)
    #: the user's server that runs it: "" for the default one, else a named server's name
    server_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    notebook_id: Mapped[int | None] = mapped_column(
        ForeignKey("notebooks.id", ondelete="SET NULL", name="fk_executions_notebook"),
        nullable=True,
    )
    notebook_path: Mapped[str] = mapped_column(String(1024))
    output_path: Mapped[str] = mapped_column(String(1024))
    template_name: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    #: the template version the notebook was created from
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    #: the parameters the notebook was created with, and the run's own over them
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the job run that started it (at most one execution per job run)
    job_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL", name="fk_executions_job_run"),
        nullable=True,
    )
    #: the execution this one runs again
    rerun_of: Mapped[int | None] = mapped_column(
        ForeignKey("notebook_executions.id", ondelete="SET NULL", name="fk_executions_rerun_of"),
        nullable=True,
    )
    #: the failed attempt this one repeats (a failure is retried at most once)
    retry_of: Mapped[int | None] = mapped_column(
        ForeignKey("notebook_executions.id", ondelete="SET NULL", name="fk_executions_retry_of"),
        nullable=True,
    )
    #: 1 for a run asked for, one more for each retry
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: its retry policy (:class:`~jupyterhub_templates.execution.retries.RetryPolicy`)
    retries: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: when its next attempt is due (it failed, and may be retried); None otherwise
    retry_at: Mapped[datetime.datetime | None] = mapped_column(
        UTCDateTime, nullable=True, index=True
    )
    #: where its end is told (:class:`~jupyterhub_templates.execution.notifications.NotifyPolicy`)
    notify: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the names of the secrets it was given (their values are never stored)
    secret_names: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    timeout: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the kernel's limits it asked for (:func:`..execution.limits.check_limits`)
    limits: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    #: pending, running, success, failed, cancelled
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: why it failed: cell error, kernel died, timeout, kernel not found, server stopped, error
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_cell: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cells_done: Mapped[int] = mapped_column(Integer, default=0)
    cells_total: Mapped[int] = mapped_column(Integer, default=0)
    current_cell: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the extension's boot id when dispatched: another id later means the server restarted
    server_boot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    experiment_name: Mapped[str | None] = mapped_column(String(320), nullable=True)
    mlflow_runs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: the run has ended and its MLflow runs are still being looked up
    mlflow_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the end of the run's log, kept when it ended (the server keeps the whole log only
    #: while it runs), and the absolute offset of its first byte
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    start_time: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationDelivery(Base):
    """One notification of a run's end (:mod:`jupyterhub_templates.execution.notifications`):
    a webhook or an e-mail, pending until delivered or given up."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(
        ForeignKey("notebook_executions.id", ondelete="CASCADE", name="fk_deliveries_execution"),
        index=True,
    )
    #: webhook or email
    channel: Mapped[str] = mapped_column(String(16))
    #: the webhook's URL or the e-mail address
    target: Mapped[str] = mapped_column(String(2048))
    #: pending, delivered, failed
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, index=True)
    #: the receiver's last HTTP (or SMTP) status code
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: why the last attempt failed
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Job(Base):
    """A job definition (:mod:`jupyterhub_templates.jobs`): a template to make a notebook
    from and run, as its owner, now or on a cron schedule."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(255), index=True)
    template_name: Mapped[str] = mapped_column(String(320))
    #: None: the template's current version at each run
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    target_directory: Mapped[str] = mapped_column(String(1024), default="")
    name_pattern: Mapped[str] = mapped_column(String(255))
    kernel_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timeout: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: its runs' kernel limits (:func:`..execution.limits.check_limits`; None: the
    #: service's)
    limits: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    #: its runs' retry policy (None: none)
    retries: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: where its runs' ends are told (None: nowhere)
    notify: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: a cron expression (None: runs only when asked)
    schedule: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: False: paused, its schedule fires nothing
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: a slot while the previous run still runs: skip or queue
    overlap: Mapped[str] = mapped_column(String(16), default="skip")
    #: slots missed while no replica could fire them: once (one run for them) or skip
    missed: Mapped[str] = mapped_column(String(16), default="once")
    #: the next slot to fire (UTC); None when paused or unscheduled
    next_run_at: Mapped[datetime.datetime | None] = mapped_column(
        UTCDateTime, nullable=True, index=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRun(Base):
    """One firing of a job: a schedule's slot or a run asked for, and what became of it
    (:class:`~jupyterhub_templates.statuses.JobRunState`). A slot fires at most once: the
    pair ``(job_id, slot)`` is unique."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "slot", name="uq_job_runs_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_runs_job"), index=True
    )
    #: the schedule's slot (UTC); None for a run asked for
    slot: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    execution_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the notebook the run made
    notebook_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One state-changing request, allowed or refused: who, on whose behalf, what, on
    what, how it ended and why. Written by :mod:`jupyterhub_templates.audit`; never holds
    a secret or a parameter value."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: the caller (None: not authenticated)
    username: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    #: the user acted for, when not the caller
    on_behalf_of: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: what allowed it (a scope), or None when refused
    scope: Mapped[str | None] = mapped_column(String(320), nullable=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    #: a template (name, version), a notebook path, an execution id
    target: Mapped[str | None] = mapped_column(String(1100), nullable=True)
    #: success, or why not (not_allowed, invalid, conflict, ...)
    outcome: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int] = mapped_column(Integer)
    #: the refusal's message
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Lease(Base):
    """Work that one service replica at a time does (:mod:`.leases`): held by
    ``holder`` until ``expires_at`` unless renewed."""

    __tablename__ = "leases"

    #: what kind of work (``watch``: following a user's runs)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: which piece of it (a user name)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: the replica holding it (:func:`.leases.replica_id`)
    holder: Mapped[str] = mapped_column(String(255), index=True)
    #: since when the holder holds it
    taken_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime)
