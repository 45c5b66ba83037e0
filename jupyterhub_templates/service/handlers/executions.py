"""Routes for executions: run a notebook in its owner's server, follow, cancel, log."""

from __future__ import annotations

from typing import Any

from ...errors import InvalidInput
from ...execution.executions import ExecuteRequest, Executions
from ...metrics import Action
from ...statuses import STATUSES
from .base import BaseHandler, audit_text, parse_id


class ExecutionBase(BaseHandler):
    @property
    def executions(self) -> Executions:
        return self.settings["executions"]

    def _id(self, raw: str) -> int:
        return parse_id(raw, "execution")

    async def _request(self, body: dict[str, Any], *, in_place: bool) -> ExecuteRequest:
        parameters = body.get("parameters")
        timeout = body.get("timeout")
        self.audit_target = audit_text(body.get("notebook_path"))
        return ExecuteRequest(
            username=await self.acting_for(body.get("username")),
            notebook_path=self.body_str(body, "notebook_path", required=True) or "",
            in_place=in_place,
            kernel_name=self.body_str(body, "kernel_name"),
            parameters=parameters if parameters is not None else {},
            output_path=self.body_str(body, "output_path"),
            timeout=timeout,
            experiment_name=self.body_str(body, "experiment_name"),
            overwrite=self.body_bool(body, "overwrite"),
            retries=body.get("retries"),
            notify=body.get("notify"),
            secrets=body.get("secrets"),
            limits=body.get("limits"),
        )

    def with_urls(self, description: dict[str, Any]) -> dict[str, Any]:
        return {**description, **self.executions.urls(description)}

    async def answer_started(self, record: dict[str, Any]) -> None:
        """Answer 202 for a dispatched run once its first cell has run (or it ended),
        or after ``Executions.first_cell_timeout``."""
        execution_id = record["execution_id"]
        self.audit_target = f"execution {execution_id}"
        current = await self.executions.wait_first_cell(
            execution_id, self.executions.first_cell_timeout
        )
        status = current["status"]
        await self.write_json_off_loop(
            {
                # the original API answers "running" (docs/api-compatibility.md); a run that
                # already ended says how
                "status": "running" if status == "pending" else status,
                "execution_id": execution_id,
                "notebook_url": self.executions.urls(current)["notebook_url"],
                "status_url": current["status_url"],
                "output_path": current["output_path"],
                "execution": self.with_urls(current),
            },
            202,
        )


class ExecuteNotebookHandler(ExecutionBase):
    """``POST /execute-notebook``: run into a new notebook beside the input; answer once
    the first cell has run (or the run ended), or after ``Executions.first_cell_timeout``."""

    actions = {"POST": Action.EXECUTE}

    async def post(self) -> None:
        body = await self.json_body()
        record = await self.executions.submit(await self._request(body, in_place=False))
        await self.answer_started(record)


class ExecuteInPlaceHandler(ExecutionBase):
    """``POST /execute``: run the notebook in place; answer when it has ended."""

    actions = {"POST": Action.EXECUTE}

    async def post(self) -> None:
        body = await self.json_body()
        request = await self._request(body, in_place=True)
        record = await self.executions.submit(request)
        self.audit_target = f"execution {record['execution_id']}"
        limit = (request.timeout or self.executions.max_timeout) + 120
        final = await self.executions.wait_final(record["execution_id"], limit)
        await self.write_json_off_loop(self.with_urls(final))


class ExecutionStatusHandler(ExecutionBase):
    """``GET /execution-status/{id}``."""

    async def get(self, raw_id: str) -> None:
        execution_id = self._id(raw_id)
        answer = await self.own_or_any(
            lambda owner: self.executions.status_json(execution_id, owner, self.with_urls)
        )
        await self.send(answer)


class ExecutionsHandler(ExecutionBase):
    """``GET /executions``: the caller's runs; admins may ask for one user's or all."""

    async def get(self) -> None:
        username: str | None = self.get_argument("username", None)
        if username:
            username = await self.may_read_for(username)
        elif await self.admin_listing():
            username = None
        else:
            username = self.username
        status = self.get_argument("status", None) or None
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}.")
        limit = self.int_argument("limit", 50, minimum=1)
        page = await self.in_thread(  # a large page takes the bulk lane as it grows
            self.executions.records.list_json,
            username or None,
            status=status,
            template=self.get_argument("template", None) or None,
            limit=min(limit, 500),
            offset=self.int_argument("offset", 0, minimum=0),
            max_bytes=self.settings["max_answer_bytes"],
            decorate=self.with_urls,
        )
        await self.send(page)


class CancelExecutionHandler(ExecutionBase):
    """``POST /execution/{id}/cancel``."""

    actions = {"POST": Action.CANCEL}

    async def post(self, raw_id: str) -> None:
        self.audit_target = f"execution {raw_id}"
        execution_id = self._id(raw_id)
        description = await self.own_or_any(
            lambda owner: self.executions.cancel(execution_id, owner)
        )
        await self.write_json_off_loop(self.with_urls(description))


class RerunExecutionHandler(ExecutionBase):
    """``POST /execution/{id}/rerun``: run an execution again (same notebook, kernel,
    experiment and parameters; ``parameters`` in the body change some), answered like
    ``POST /execute-notebook``. Running someone else's run again runs code as them: it
    needs the right to reach their server, as acting for them does."""

    actions = {"POST": Action.RERUN}

    async def post(self, raw_id: str) -> None:
        self.audit_target = f"execution {raw_id}"
        execution_id = self._id(raw_id)
        body = await self.json_body()
        before = await self.own_or_any(
            lambda owner: self.in_thread(self.executions.records.get, execution_id, owner)
        )
        owner = await self.acting_for(before["username"])
        record = await self.executions.rerun(
            execution_id,
            owner,
            parameters=body.get("parameters"),
            timeout=body.get("timeout"),
            output_path=self.body_str(body, "output_path"),
            overwrite=self.body_bool(body, "overwrite"),
            retries=body.get("retries"),
            notify=body.get("notify"),
            secrets=body.get("secrets"),
            limits=body.get("limits"),
        )
        await self.answer_started(record)


class ExecutionNotificationsHandler(ExecutionBase):
    """``GET /execution/{id}/notifications``: the deliveries of the run's end."""

    async def get(self, raw_id: str) -> None:
        execution_id = self._id(raw_id)
        await self.own_or_any(
            lambda owner: self.in_thread(self.executions.records.get, execution_id, owner)
        )
        found = await self.in_thread(self.executions.notifier.deliveries, execution_id)
        await self.write_json_off_loop({"execution_id": execution_id, "notifications": found})


class ExecutionLogHandler(ExecutionBase):
    """``GET /execution/{id}/log?offset=``."""

    async def get(self, raw_id: str) -> None:
        offset = self.int_argument("offset", 0, minimum=0)
        execution_id = self._id(raw_id)
        log = await self.own_or_any(
            lambda owner: self.executions.read_log(execution_id, owner, offset)
        )
        await self.write_json_off_loop(log)


def routes() -> list[tuple[str, type]]:
    return [
        ("execute-notebook", ExecuteNotebookHandler),
        ("execute", ExecuteInPlaceHandler),
        (r"execution-status/([^/]+)", ExecutionStatusHandler),
        ("executions", ExecutionsHandler),
        (r"execution/([^/]+)/cancel", CancelExecutionHandler),
        (r"execution/([^/]+)/rerun", RerunExecutionHandler),
        (r"execution/([^/]+)/log", ExecutionLogHandler),
        (r"execution/([^/]+)/notifications", ExecutionNotificationsHandler),
    ]
