"""The OpenAPI paths and schemas of jobs (``/jobs``)."""

from __future__ import annotations

from typing import Any

from ...jobs.definitions import DEFAULT_PATTERN, JOB_FIELDS, MISSED, OVERLAP, RUN_FIELDS
from ...statuses import JOB_RUN_STATES
from .common import (
    ACT_FOR,
    LIMITS,
    NOTIFY,
    PAGE,
    PAGE_FIELDS,
    RETRIES,
    WHOSE,
    _body,
    _errors,
    _id_param,
    _json,
    _ref,
    fields,
    required,
)

nullable_str = {"type": "string", "nullable": True}
nullable_time = {"type": "string", "format": "date-time", "nullable": True}


def _settings() -> dict[str, Any]:
    """The fields a request sets, with their schemas."""
    return {
        "name": {"type": "string", "maxLength": 200, "example": "nightly training"},
        "template_name": {"type": "string", "example": "ml/automl_classification.ipynb"},
        "template_version": {
            "type": "integer",
            "minimum": 1,
            "nullable": True,
            "description": "A pinned version; null: the template's current one at each run.",
        },
        "parameters": {"type": "object", "additionalProperties": True},
        "target_directory": {
            "type": "string",
            "description": "Folder of the runs' notebooks, relative to the server's root.",
        },
        "name_pattern": {
            "type": "string",
            "default": DEFAULT_PATTERN,
            "description": "Name of each run's notebook; placeholders {job}, {date} "
            "(YYYY-MM-DD), {time} (HHMMSS), {datetime} (YYYYMMDD-HHMMSS) in the job's "
            "time zone, {run} (the run's id).",
        },
        "kernel_name": {**nullable_str, "description": "Default: the service's kernel."},
        "timeout": {"type": "number", "nullable": True, "description": "Seconds (> 0)."},
        "limits": {
            **LIMITS,
            "nullable": True,
            "description": "The kernel's limits for each run; null: the service's.",
        },
        "retries": RETRIES,
        "notify": NOTIFY,
        "schedule": {
            **nullable_str,
            "example": "0 3 * * *",
            "description": "A cron expression (minute hour day month weekday; a sixth "
            "field gives seconds); null: runs only when asked.",
        },
        "timezone": {"type": "string", "default": "UTC", "example": "Europe/Berlin"},
        "active": {
            "type": "boolean",
            "default": True,
            "description": "false: paused, the schedule fires nothing.",
        },
        "overlap": {
            "type": "string",
            "enum": list(OVERLAP),
            "default": "skip",
            "description": "A slot while the previous run still runs: skipped, or queued "
            "until it ends.",
        },
        "missed": {
            "type": "string",
            "enum": list(MISSED),
            "default": "once",
            "description": "Slots missed while the service was down: one run for them, or none.",
        },
    }


def schemas() -> dict[str, Any]:
    settings = _settings()
    return {
        "JobRequest": {
            "type": "object",
            "properties": {
                **settings,
                "username": {"type": "string", "description": ACT_FOR},
            },
        },
        "Job": {
            "type": "object",
            "required": required(JOB_FIELDS, optional=("last_run",)),
            "properties": fields(
                JOB_FIELDS,
                {
                    **settings,
                    "id": {"type": "integer"},
                    "owner": {"type": "string"},
                    "next_run_at": {
                        **nullable_time,
                        "description": "The next slot; null when paused or unscheduled.",
                    },
                    "last_run": {
                        **_ref("JobRun"),
                        "description": "The newest run; absent before the first.",
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            ),
        },
        "JobRun": {
            "type": "object",
            "required": required(RUN_FIELDS, optional=("execution",)),
            "properties": fields(
                RUN_FIELDS,
                {
                    "id": {"type": "integer"},
                    "job_id": {"type": "integer"},
                    "slot": {**nullable_time, "description": "null: a run asked for."},
                    "state": {"type": "string", "enum": list(JOB_RUN_STATES)},
                    "message": {**nullable_str, "description": "Why it was skipped or failed."},
                    "notebook_path": nullable_str,
                    "execution_id": {"type": "integer", "nullable": True},
                    "execution": {
                        **_ref("Execution"),
                        "description": "The run's execution; absent until it has one.",
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                },
            ),
        },
        "JobPage": {
            "type": "object",
            "required": ["jobs", "total", "limit", "offset", "count", "next_offset"],
            "properties": {"jobs": {"type": "array", "items": _ref("Job")}, **PAGE_FIELDS},
        },
        "JobRunPage": {
            "type": "object",
            "required": ["runs", "total", "limit", "offset", "count", "next_offset"],
            "properties": {"runs": {"type": "array", "items": _ref("JobRun")}, **PAGE_FIELDS},
        },
    }


def paths() -> dict[str, Any]:
    job = _id_param("job")
    job_answer = _json(_ref("Job"), "The job")

    def action(summary: str, operation: str, answer: dict[str, Any], *codes: int) -> dict:
        return {
            "post": {
                "summary": summary,
                "operationId": operation,
                "parameters": [job],
                "responses": {**answer, **_errors(400, 403, 404, *codes, 503)},
            }
        }

    return {
        "/jobs": {
            "get": {
                "summary": "Your jobs (admins: anyone's)",
                "operationId": "listJobs",
                "parameters": [*WHOSE, *PAGE],
                "responses": {
                    "200": _json(_ref("JobPage"), "A page of jobs, newest first"),
                    **_errors(400, 403, 503),
                },
            },
            "post": {
                "summary": "Define a job: a template to make a notebook from and run, now "
                "or on a cron schedule",
                "operationId": "createJob",
                "requestBody": _body(_ref("JobRequest")),
                "responses": {
                    "201": _json(_ref("Job"), "Created"),
                    **_errors(400, 403, 404, 413, 503),
                },
            },
        },
        "/jobs/{id}": {
            "get": {
                "summary": "One job, with its next slot and last run",
                "operationId": "getJob",
                "parameters": [job],
                "responses": {"200": job_answer, **_errors(400, 403, 404, 503)},
            },
            "patch": {
                "summary": "Change a job's settings (the fields given)",
                "operationId": "updateJob",
                "parameters": [job],
                "requestBody": _body(_ref("JobRequest")),
                "responses": {"200": job_answer, **_errors(400, 403, 404, 413, 503)},
            },
            "delete": {
                "summary": "Delete a job and its history (its notebooks and executions stay)",
                "operationId": "deleteJob",
                "parameters": [job],
                "responses": {"204": {"description": "Deleted"}, **_errors(400, 403, 404, 503)},
            },
        },
        "/jobs/{id}/pause": action("Pause a job's schedule", "pauseJob", {"200": job_answer}),
        "/jobs/{id}/resume": action(
            "Resume a job's schedule from the next slot", "resumeJob", {"200": job_answer}
        ),
        "/jobs/{id}/run": action(
            "Run a job now",
            "runJob",
            {"202": _json(_ref("JobRun"), "The run, being dispatched")},
        ),
        "/jobs/{id}/runs": {
            "get": {
                "summary": "A job's runs, newest first, with their executions",
                "operationId": "listJobRuns",
                "parameters": [job, *PAGE],
                "responses": {
                    "200": _json(_ref("JobRunPage"), "A page of runs"),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
    }
