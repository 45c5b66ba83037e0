"""The OpenAPI paths and schemas of notebooks (creation, records) and executions."""

from __future__ import annotations

from typing import Any

from ...catalog.parameters import MAX_SECRETS
from ...execution.notifications import CHANNELS, DELIVERY_FIELDS, DELIVERY_STATES
from ...execution.records import EXECUTION_FIELDS
from .common import (
    ACT_FOR,
    LIMITS,
    NOTIFY,
    PAGE,
    PAGE_FIELDS,
    REASONS,
    RETRIES,
    STATUSES,
    WHOSE,
    _body,
    _errors,
    _id_param,
    _json,
    _ref,
    fields,
    required,
)

SECRETS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "maxProperties": MAX_SECRETS,
    "description": "Secret parameters (a template's parameters marked secret, or any "
    "name): each value reaches the kernel through the run's environment and is set as "
    "that variable after the parameters; it is never written into the notebook, the "
    "output, the log, the database or MLflow. Not with retries (a later attempt would "
    "not have them).",
}


def schemas() -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    return {
        "CreateRequest": {
            "type": "object",
            "required": ["template_name"],
            "properties": {
                "template_name": {"type": "string", "example": "ml/automl_classification.ipynb"},
                "target_directory": {
                    "type": "string",
                    "description": "Folder relative to the server's root; created if missing.",
                    "example": "notebooks",
                },
                "new_name": {"type": "string", "example": "my_automl_run.ipynb"},
                "parameters": {"type": "object", "additionalProperties": True},
                "username": {"type": "string", "description": ACT_FOR},
                "allow_unknown": {"type": "boolean", "default": False},
                "overwrite": {"type": "boolean", "default": False},
                "version": {"type": "integer", "minimum": 1},
                "description": {"type": "string"},
            },
        },
        "CreateResult": {
            "type": "object",
            "required": [
                "status",
                "new_notebook_path",
                "parameters_applied",
                "notebook_url",
                "notebook_id",
            ],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "new_notebook_path": {"type": "string"},
                "parameters_applied": {"type": "object", "additionalProperties": True},
                "notebook_url": {"type": "string"},
                "notebook_id": {"type": "integer"},
                "username": {"type": "string"},
                "template_name": {"type": "string"},
                "template_version": {"type": "integer"},
            },
        },
        "Notebook": {
            "type": "object",
            "required": ["id", "username", "path", "source", "parameters", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "username": {"type": "string"},
                "path": {"type": "string"},
                "source": {"type": "string", "enum": ["template", "submitted"]},
                "template_name": nullable_str,
                "template_version": {"type": "integer", "nullable": True},
                "description": {"type": "string"},
                "parameters": {"type": "object", "additionalProperties": True},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
        "NotebookPage": {
            "type": "object",
            "required": ["notebooks", "total", "limit", "offset", "count", "next_offset"],
            "properties": {
                "notebooks": {"type": "array", "items": _ref("Notebook")},
                **PAGE_FIELDS,
            },
        },
        "ExecuteRequest": {
            "type": "object",
            "required": ["notebook_path"],
            "properties": {
                "notebook_path": {"type": "string", "example": "notebooks/my_automl_run.ipynb"},
                "username": {"type": "string", "description": ACT_FOR},
                "kernel_name": {"type": "string", "default": "mlflow_kernel"},
                "parameters": {"type": "object", "additionalProperties": True},
                "output_path": {
                    "type": "string",
                    "description": "Where the executed notebook goes (execute-notebook only); "
                    "default '<name>-run-<id>.ipynb' beside the input.",
                },
                "timeout": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "experiment_name": {"type": "string"},
                "overwrite": {
                    "type": "boolean",
                    "default": False,
                    "description": "Replace a notebook already at output_path (409 otherwise).",
                },
                "retries": RETRIES,
                "notify": NOTIFY,
                "secrets": SECRETS,
                "limits": LIMITS,
            },
        },
        "RerunRequest": {
            "type": "object",
            "properties": {
                "parameters": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Parameters to change; the others are the run's own.",
                },
                "timeout": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "output_path": {
                    "type": "string",
                    "description": "Where the executed notebook goes; default "
                    "'<name>-run-<id>.ipynb' beside the input (in place for a run in place).",
                },
                "overwrite": {"type": "boolean", "default": False},
                "retries": RETRIES,
                "notify": NOTIFY,
                "secrets": SECRETS,
                "limits": {**LIMITS, "description": "Default: the run's own."},
            },
        },
        "Execution": {
            "type": "object",
            "required": required(
                EXECUTION_FIELDS,
                optional=(
                    "username",
                    "server_name",
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
                    "log_url",
                ),
            ),
            # notebook_url: added by the handlers (Executions.urls)
            "properties": fields(
                (*EXECUTION_FIELDS, "notebook_url"),
                {
                    "execution_id": {"type": "integer"},
                    "status": {"type": "string", "enum": STATUSES},
                    "notebook_path": {"type": "string"},
                    "start_time": {"type": "string", "format": "date-time"},
                    "end_time": {"type": "string", "format": "date-time", "nullable": True},
                    "duration": {"type": "string", "nullable": True, "example": "5m 30s"},
                    "username": {"type": "string"},
                    "server_name": {
                        "type": "string",
                        "description": "The user's server that runs it: empty for the "
                        "default one, else the named run server (Executions.run_server).",
                    },
                    "output_path": {"type": "string"},
                    "in_place": {"type": "boolean"},
                    "template_name": nullable_str,
                    "template_version": {
                        "type": "integer",
                        "nullable": True,
                        "description": "The template version the notebook was created from.",
                    },
                    "kernel_name": {"type": "string"},
                    "parameters": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "The parameters the notebook was created with, and "
                        "the run's own over them: what a rerun runs with.",
                    },
                    "timeout": {"type": "number", "nullable": True},
                    "limits": {
                        **LIMITS,
                        "nullable": True,
                        "description": "The kernel's limits it asked for, which a retry "
                        "and a rerun ask again; null: the service's "
                        "(Executions.memory_limit, cpu_limit).",
                    },
                    "rerun_of": {
                        "type": "integer",
                        "nullable": True,
                        "description": "The execution this one runs again.",
                    },
                    "attempt": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "1 for a run asked for, one more for each retry.",
                    },
                    "retry_of": {
                        "type": "integer",
                        "nullable": True,
                        "description": "The failed attempt this retry repeats.",
                    },
                    "retries": RETRIES,
                    "notify": NOTIFY,
                    "secrets": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The names of the secrets the run was given (their "
                        "values are never stored: a rerun gives them again).",
                    },
                    "retry_at": {
                        "type": "string",
                        "format": "date-time",
                        "nullable": True,
                        "description": "When this failed run's next attempt starts; null "
                        "when it gets none (or it has been made).",
                    },
                    "started_running": {"type": "string", "format": "date-time", "nullable": True},
                    "progress": {
                        "type": "object",
                        "required": ["cells_done", "cells_total"],
                        "properties": {
                            "cells_done": {"type": "integer"},
                            "cells_total": {"type": "integer"},
                            "current_cell": {"type": "integer", "nullable": True},
                            "percent": {"type": "number"},
                        },
                    },
                    "error": {
                        "type": "object",
                        "nullable": True,
                        "required": ["reason"],
                        "properties": {
                            "reason": {"type": "string", "enum": REASONS},
                            "name": nullable_str,
                            "message": nullable_str,
                            "cell_index": {"type": "integer", "nullable": True},
                        },
                    },
                    "mlflow": {
                        "type": "object",
                        "properties": {
                            "experiment_name": nullable_str,
                            "runs": {"type": "array", "items": _ref("MLflowRun")},
                            "pending": {
                                "type": "boolean",
                                "description": "The run has ended and its MLflow runs "
                                "are still being looked up (runs may be empty until then).",
                            },
                        },
                    },
                    "status_url": {"type": "string"},
                    "log_url": {"type": "string"},
                    "notebook_url": {"type": "string"},
                },
            ),
        },
        "MLflowRun": {
            "type": "object",
            "required": ["run_id", "experiment_id", "metrics", "url"],
            "properties": {
                "run_id": {"type": "string"},
                "run_name": nullable_str,
                "experiment_id": {"type": "string"},
                "experiment_name": nullable_str,
                "status": nullable_str,
                "start_time": nullable_str,
                "end_time": nullable_str,
                "metrics": {
                    "type": "object",
                    "description": "Latest value per metric; null when not finite (NaN).",
                    "additionalProperties": {"type": "number", "nullable": True},
                },
                "parent_run_id": nullable_str,
                "url": {"type": "string"},
            },
        },
        "ExecutionStarted": {
            "type": "object",
            "required": ["status", "execution_id", "notebook_url", "status_url", "output_path"],
            "properties": {
                "status": {"type": "string", "enum": STATUSES},
                "execution_id": {"type": "integer"},
                "notebook_url": {"type": "string"},
                "status_url": {"type": "string"},
                "output_path": {"type": "string"},
                "execution": _ref("Execution"),
            },
        },
        "ExecutionPage": {
            "type": "object",
            "required": ["executions", "total", "limit", "offset", "count", "next_offset"],
            "properties": {
                "executions": {"type": "array", "items": _ref("Execution")},
                **PAGE_FIELDS,
            },
        },
        "Notification": {
            "type": "object",
            "required": list(DELIVERY_FIELDS),
            "properties": {
                "id": {"type": "integer"},
                "channel": {"type": "string", "enum": list(CHANNELS)},
                "target": {
                    "type": "string",
                    "description": "The address (a webhook's scheme and host only).",
                },
                "state": {"type": "string", "enum": list(DELIVERY_STATES)},
                "attempts": {"type": "integer"},
                "status_code": {
                    "type": "integer",
                    "nullable": True,
                    "description": "The receiver's last answer (HTTP, or SMTP).",
                },
                "error": {"type": "string", "nullable": True},
                "next_attempt_at": {"type": "string", "format": "date-time", "nullable": True},
                "created_at": {"type": "string", "format": "date-time"},
                "delivered_at": {"type": "string", "format": "date-time", "nullable": True},
            },
        },
        "ExecutionLog": {
            "type": "object",
            "required": ["execution_id", "log", "offset", "next_offset"],
            "properties": {
                "execution_id": {"type": "integer"},
                "status": {"type": "string", "enum": STATUSES},
                "offset": {"type": "integer"},
                "next_offset": {"type": "integer"},
                "log": {"type": "string"},
                "truncated": {"type": "boolean"},
            },
        },
    }


def paths() -> dict[str, Any]:
    nb = _id_param("notebook")
    ex = _id_param("execution")
    return {
        "/create-from-template": {
            "post": {
                "summary": "Create a notebook from a template in a user's server",
                "description": "Checks the parameters against the template's, injects them "
                "(papermill), starts the user's server when stopped, and writes the notebook "
                "with the contents API.",
                "operationId": "createFromTemplate",
                "requestBody": _body(_ref("CreateRequest")),
                "responses": {
                    "201": _json(_ref("CreateResult"), "Created"),
                    **_errors(400, 403, 404, 409, 413, 502, 503),
                },
            }
        },
        "/execute-notebook": {
            "post": {
                "summary": "Run a notebook into a new notebook beside it",
                "description": "Answers once the first cell has run (or the run ended), or "
                "after 30 s (configurable).",
                "operationId": "executeNotebook",
                "requestBody": _body(_ref("ExecuteRequest")),
                "responses": {
                    "202": _json(_ref("ExecutionStarted"), "Dispatched"),
                    **_errors(400, 403, 404, 409, 413, 502, 503),
                },
            }
        },
        "/execute": {
            "post": {
                "summary": "Run a notebook in place; answer when it has ended",
                "operationId": "executeInPlace",
                "requestBody": _body(_ref("ExecuteRequest")),
                "responses": {
                    "200": _json(_ref("Execution"), "The run, ended"),
                    **_errors(400, 403, 404, 409, 413, 502, 503),
                },
            }
        },
        "/execution-status/{id}": {
            "get": {
                "summary": "An execution's status, progress, error and MLflow runs",
                "operationId": "executionStatus",
                "parameters": [ex],
                "responses": {
                    "200": _json(_ref("Execution"), "The execution"),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/executions": {
            "get": {
                "summary": "Your executions (admins: anyone's)",
                "operationId": "listExecutions",
                "parameters": [
                    *WHOSE,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": STATUSES},
                    },
                    *PAGE,
                ],
                "responses": {
                    "200": _json(_ref("ExecutionPage"), "A page of executions, newest first"),
                    **_errors(400, 403, 503),
                },
            }
        },
        "/execution/{id}/cancel": {
            "post": {
                "summary": "Cancel a pending or running execution",
                "operationId": "cancelExecution",
                "parameters": [ex],
                "responses": {
                    "200": _json(_ref("Execution"), "The execution, cancelled"),
                    **_errors(400, 403, 404, 409, 502, 503),
                },
            }
        },
        "/execution/{id}/rerun": {
            "post": {
                "summary": "Run an execution again, with the same or changed parameters",
                "description": "The same notebook, kernel, experiment, timeout and "
                "parameters (those in the body change some); the new execution's rerun_of "
                "names this one. Answers like /execute-notebook. Another user's run needs "
                "the right to reach their server.",
                "operationId": "rerunExecution",
                "parameters": [ex],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("RerunRequest")}},
                },
                "responses": {
                    "202": _json(_ref("ExecutionStarted"), "Dispatched"),
                    **_errors(400, 403, 404, 409, 413, 502, 503),
                },
            }
        },
        "/execution/{id}/log": {
            "get": {
                "summary": "The captured output of an execution (from the user's server "
                "while it has it, else the tail kept when the run ended)",
                "operationId": "executionLog",
                "parameters": [
                    ex,
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {
                    "200": _json(_ref("ExecutionLog"), "The log from offset"),
                    **_errors(400, 403, 404, 502, 503),
                },
            }
        },
        "/execution/{id}/notifications": {
            "get": {
                "summary": "The notifications of an execution's end, each delivery with its "
                "state and attempts",
                "operationId": "executionNotifications",
                "parameters": [ex],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["execution_id", "notifications"],
                            "properties": {
                                "execution_id": {"type": "integer"},
                                "notifications": {
                                    "type": "array",
                                    "items": _ref("Notification"),
                                },
                            },
                        },
                        "Oldest first",
                    ),
                    **_errors(400, 403, 404, 503),
                },
            }
        },
        "/submit-notebook": {
            "post": {
                "summary": "Record a notebook of your server (legacy)",
                "operationId": "submitNotebook",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["notebook_path"],
                        "properties": {
                            "notebook_path": {"type": "string"},
                            "username": {"type": "string", "description": ACT_FOR},
                            "parameters": {"type": "object", "additionalProperties": True},
                            "description": {"type": "string"},
                        },
                    }
                ),
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "required": ["status", "notebook_id", "notebook"],
                            "properties": {
                                "status": {"type": "string", "enum": ["success"]},
                                "notebook_id": {"type": "integer"},
                                "notebook": _ref("Notebook"),
                            },
                        },
                        "Recorded",
                    ),
                    **_errors(400, 403, 404, 413, 503),
                },
            }
        },
        "/notebooks": {
            "get": {
                "summary": "Your notebook records (legacy; admins: anyone's)",
                "operationId": "listNotebooks",
                "parameters": [*WHOSE, *PAGE],
                "responses": {
                    "200": _json(_ref("NotebookPage"), "A page of records, newest first"),
                    **_errors(400, 403, 503),
                },
            }
        },
        "/notebook/{id}": {
            "get": {
                "summary": "One notebook record (legacy)",
                "operationId": "getNotebook",
                "parameters": [nb],
                "responses": {
                    "200": _json(_ref("Notebook"), "The record"),
                    **_errors(400, 403, 404, 503),
                },
            },
            "put": {
                "summary": "Change a notebook record's path, description or parameters",
                "operationId": "updateNotebook",
                "parameters": [nb],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "notebook_path": {"type": "string"},
                            "description": {"type": "string"},
                            "parameters": {"type": "object", "additionalProperties": True},
                        },
                    }
                ),
                "responses": {
                    "200": _json(_ref("Notebook"), "The record"),
                    **_errors(400, 403, 404, 413, 503),
                },
            },
            "delete": {
                "summary": "Forget a notebook record (the file stays)",
                "operationId": "deleteNotebook",
                "parameters": [nb],
                "responses": {
                    "204": {"description": "Deleted"},
                    **_errors(400, 403, 404, 503),
                },
            },
        },
    }
