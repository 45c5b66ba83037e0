"""Execution records made for the tests, straight in the database."""

from __future__ import annotations

from typing import Any

from jupyterhub_templates.execution.records import ExecutionRecords


def new_execution(
    records: ExecutionRecords,
    username: str,
    *,
    experiment_name: str | None = None,
    **fields: Any,
) -> tuple[int, str]:
    """A new pending record of ``a.ipynb`` on python3: ``(execution_id, remote_id)``;
    ``fields``: more of :meth:`ExecutionRecords.create`'s (``retries``, ``job_run_id``)."""
    record, remote_id = records.create(
        username=username,
        notebook_path="a.ipynb",
        output_path=lambda i: f"a-run-{i}.ipynb",
        remote_id=lambda i: f"{i}-abc",
        kernel_name="python3",
        parameters={},
        timeout=None,
        template_name=None,
        notebook_id=None,
        experiment_name=experiment_name,
        **fields,
    )
    return record["execution_id"], remote_id
