"""What a job definition holds, how a request's fields are checked, and the answer
shapes of jobs and job runs. No database and no HTTP here.

A job makes a notebook from a template (a pinned version, or the current one at each
run) with its parameters in ``target_directory``, named by ``name_pattern``, and runs it
in place as its owner, when asked or on its cron ``schedule``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import string
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog.parameters import check_parameters
from ..errors import InvalidInput
from ..execution.limits import check_limits
from ..execution.notifications import describe_policy
from ..execution.retries import check_retries
from ..jsontext import isoformat
from ..notebooks.paths import clean_notebook_name, clean_path
from .schedule import check_schedule, check_timezone

#: what a slot still running does to the next: skip it, or queue it until the run ends
OVERLAP = ("skip", "queue")
#: slots missed while no replica could fire them: one run for them, or none
MISSED = ("once", "skip")
#: the placeholders of ``name_pattern``
PLACEHOLDERS = ("job", "date", "time", "datetime", "run")
DEFAULT_PATTERN = "{job}-{datetime}.ipynb"
MAX_NAME = 200

#: a job's fields in answers, in order: what :func:`describe_job` writes and the
#: OpenAPI ``Job`` lists
JOB_FIELDS = (
    "id",
    "name",
    "owner",
    "template_name",
    "template_version",
    "parameters",
    "target_directory",
    "name_pattern",
    "kernel_name",
    "timeout",
    "limits",
    "retries",
    "notify",
    "schedule",
    "timezone",
    "active",
    "overlap",
    "missed",
    "next_run_at",
    "last_run",
    "created_at",
    "updated_at",
)
#: a job run's fields in answers (:func:`describe_run`)
RUN_FIELDS = (
    "id",
    "job_id",
    "slot",
    "state",
    "message",
    "notebook_path",
    "execution_id",
    "execution",
    "created_at",
)


def _ts(value: datetime.datetime | None) -> str | None:
    return isoformat(value) if value is not None else None


def describe_run(run: Any, execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API model of a job run (:data:`RUN_FIELDS`); ``execution`` is its
    execution's description, when it has one (the field is absent otherwise)."""
    model = {
        "id": run.id,
        "job_id": run.job_id,
        "slot": _ts(run.slot),
        "state": run.state,
        "message": run.message,
        "notebook_path": run.notebook_path,
        "execution_id": run.execution_id,
        "execution": execution,
        "created_at": _ts(run.created_at),
    }
    if execution is None:
        del model["execution"]
    return model


def describe_job(job: Any, last_run: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API model of a job (:data:`JOB_FIELDS`); ``last_run`` is absent before the
    first run."""
    model = {
        "id": job.id,
        "name": job.name,
        "owner": job.owner,
        "template_name": job.template_name,
        "template_version": job.template_version,
        "parameters": job.parameters or {},
        "target_directory": job.target_directory,
        "name_pattern": job.name_pattern,
        "kernel_name": job.kernel_name,
        "timeout": job.timeout,
        "limits": job.limits or None,
        "retries": job.retries or None,
        "notify": describe_policy(job.notify),
        "schedule": job.schedule,
        "timezone": job.timezone,
        "active": job.active,
        "overlap": job.overlap,
        "missed": job.missed,
        "next_run_at": _ts(job.next_run_at),
        "last_run": last_run,
        "created_at": _ts(job.created_at),
        "updated_at": _ts(job.updated_at),
    }
    if last_run is None:
        del model["last_run"]
    return model


def _safe(text: str) -> str:
    """``text`` as a file-name part: letters, digits, ``._-``; others become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "job"


def notebook_name(pattern: str, job_name: str, when: datetime.datetime, run_id: int) -> str:
    """The name of a run's notebook: ``pattern`` with its placeholders filled from the
    job's name, the run's time (in the job's time zone) and the run's id."""
    values = {
        "job": _safe(job_name),
        "date": when.strftime("%Y-%m-%d"),
        "time": when.strftime("%H%M%S"),
        "datetime": when.strftime("%Y%m%d-%H%M%S"),
        "run": str(run_id),
    }
    return clean_notebook_name(pattern.format_map(values), "name_pattern")


def check_pattern(value: object) -> str:
    """A name pattern: a notebook name whose ``{...}`` are :data:`PLACEHOLDERS` only,
    with no format specification (``{job!r}``, ``{date:>9}`` and ``{job.x}`` are refused:
    ``str.format`` would reach into objects)."""
    if value is None:
        return DEFAULT_PATTERN
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidInput("name_pattern must be a notebook name, e.g. '{job}-{date}.ipynb'.")
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as e:
        raise InvalidInput(f"name_pattern: {e}.") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise InvalidInput(
                f"name_pattern may use {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
                "and nothing else inside braces."
            )
    sample = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    notebook_name(value, "job", sample, 1)
    return value


@dataclass
class JobSpec:
    """A job's checked settings (everything but its owner and bookkeeping)."""

    name: str
    template_name: str
    template_version: int | None
    parameters: dict[str, Any]
    target_directory: str
    name_pattern: str
    kernel_name: str | None
    timeout: float | None
    #: the kernel limits its runs ask (:func:`..execution.limits.check_limits`), or None
    limits: dict[str, float] | None
    #: the stored retry policy (:class:`..execution.retries.RetryPolicy`), or None
    retries: dict[str, Any] | None
    #: the stored notification policy, None, or :data:`KEEP` (a change leaves it)
    notify: Any
    schedule: str | None
    timezone: str
    overlap: str
    missed: str
    active: bool

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: a change that does not name ``notify`` keeps the stored one (answers show it redacted,
#: so the description cannot stand for it)
KEEP = object()

#: the fields a request may set (the rest is the service's)
SETTABLE = tuple(f.name for f in dataclasses.fields(JobSpec))


def check_spec(
    body: dict[str, Any],
    *,
    min_interval: float,
    max_timeout: float,
    before: dict[str, Any] | None = None,
    max_retries: int = 5,
    retry_backoff: float = 30.0,
    check_notify: Callable[[Any], Any] | None = None,
    memory_limit: float = 0,
    cpu_limit: float = 0,
) -> JobSpec:
    """The settings of a new job from ``body``, or of a changed one (``before`` is its
    description; ``body`` holds the changes). InvalidInput names the first bad field.
    The template's own parameters are checked by the caller, which can read it.
    ``max_retries`` and ``retry_backoff`` are the executions' limits on ``retries``,
    ``memory_limit`` and ``cpu_limit`` their caps on ``limits`` (0: none);
    ``check_notify`` is the notifier's check of ``notify`` (None: notifications are
    refused)."""
    unknown = sorted(set(body) - set(SETTABLE) - {"username"})
    if unknown:
        raise InvalidInput(f"Unknown field(s): {', '.join(unknown)}.")
    merged = {**(before or {}), **body}

    def text(name: str, limit: int, *, required: bool = False) -> str | None:
        value = merged.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"{name} is required.")
            return None
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidInput(f"{name} must be a string of at most {limit} characters.")
        return value

    name = text("name", MAX_NAME, required=True) or ""
    template_name = text("template_name", 320, required=True) or ""
    version = merged.get("template_version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise InvalidInput("template_version must be a version number (or null: the latest).")
    parameters = merged.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise InvalidInput("parameters must be a JSON object.")
    parameters = check_parameters([], parameters, allow_unknown=True)
    directory = clean_path(
        merged.get("target_directory") or "", "target_directory", allow_root=True
    )
    kernel = text("kernel_name", 255)
    timeout = merged.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise InvalidInput("timeout must be a positive number of seconds.")
        if timeout > max_timeout:
            raise InvalidInput(f"timeout may be at most {max_timeout:.0f} seconds.")
    limits = check_limits(merged.get("limits"), memory_mb=memory_limit, cpu_seconds=cpu_limit)
    policy = check_retries(merged.get("retries"), cap=max_retries, default_backoff=retry_backoff)
    notify: Any = KEEP
    if before is None or "notify" in body:
        notify = None
        if body.get("notify") is not None:
            if check_notify is None:
                raise InvalidInput("Notifications are not enabled on this service.")
            policy_told = check_notify(body["notify"])
            notify = policy_told.to_json() if policy_told else None
    timezone = check_timezone(merged.get("timezone") or "UTC")
    schedule = merged.get("schedule")
    if schedule is not None and schedule != "":
        schedule = check_schedule(schedule, timezone, min_interval)
    else:
        schedule = None
    overlap = merged.get("overlap") or "skip"
    if overlap not in OVERLAP:
        raise InvalidInput(f"overlap must be one of {', '.join(OVERLAP)}.")
    missed = merged.get("missed") or "once"
    if missed not in MISSED:
        raise InvalidInput(f"missed must be one of {', '.join(MISSED)}.")
    active = merged.get("active", True)
    if not isinstance(active, bool):
        raise InvalidInput("active must be true or false.")
    return JobSpec(
        name=name,
        template_name=template_name,
        template_version=version,
        parameters=parameters,
        target_directory=directory,
        name_pattern=check_pattern(merged.get("name_pattern")),
        kernel_name=kernel,
        timeout=float(timeout) if timeout is not None else None,
        limits=limits,
        retries=policy.to_json() if policy else None,
        notify=notify,
        schedule=schedule,
        timezone=timezone,
        overlap=overlap,
        missed=missed,
        active=active,
    )


def local_time(when: datetime.datetime, timezone: str) -> datetime.datetime:
    """``when`` in the job's time zone (for its notebooks' names)."""
    return when.astimezone(zoneinfo.ZoneInfo(timezone))
