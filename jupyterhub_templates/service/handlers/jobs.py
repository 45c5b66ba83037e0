"""Routes for jobs: define, change, pause, resume, run now, delete, history.

Owners see and manage their own jobs; holders of the admin scope see, pause, resume and
delete anyone's. Changing a job or running it runs code as its owner, so for someone
else's job that needs the right to reach their server, as acting for them does.
"""

from __future__ import annotations

from typing import Any

from ...jobs.definitions import check_spec
from ...jobs.records import JobRecords
from ...jobs.scheduler import JobScheduler
from ...metrics import Action
from .base import BaseHandler, audit_text, parse_id


class JobBase(BaseHandler):
    @property
    def scheduler(self) -> JobScheduler:
        return self.settings["jobs"]

    @property
    def records(self) -> JobRecords:
        return self.scheduler.records

    def _id(self, raw: str) -> int:
        self.audit_target = f"job {raw}"
        return parse_id(raw, "job")

    async def _find(self, job_id: int) -> dict[str, Any]:
        """The job, if the caller's (or anyone's, for the admin scope); else 404."""
        return await self.own_or_any(lambda owner: self.in_thread(self.records.get, job_id, owner))

    async def _spec(self, owner: str, body: dict[str, Any], before: dict[str, Any] | None = None):
        executions = self.settings["executions"]
        spec = await self.in_thread(
            check_spec,
            body,
            min_interval=self.scheduler.min_interval,
            max_timeout=executions.max_timeout,
            before=before,
            max_retries=executions.max_retries,
            retry_backoff=executions.retry_backoff,
            check_notify=executions.notifier.check,
            memory_limit=executions.memory_limit,
            cpu_limit=executions.cpu_limit,
        )
        await self.in_thread(self.scheduler.check, owner, spec)
        return spec


class JobsHandler(JobBase):
    """``GET /jobs`` (the caller's; admins ``?all=true`` or ``?username=``), ``POST
    /jobs``."""

    actions = {"POST": Action.JOB_CREATE}

    async def get(self) -> None:
        username: str | None = self.get_argument("username", None)
        if username:
            owner: str | None = await self.may_read_for(username)
        elif await self.admin_listing():
            owner = None
        else:
            owner = self.username
        page = await self.in_thread(
            self.records.list_json,
            owner,
            limit=min(self.int_argument("limit", 50, minimum=1), 500),
            offset=self.int_argument("offset", 0, minimum=0),
            max_bytes=self.settings["max_answer_bytes"],
        )
        await self.send(page)

    async def post(self) -> None:
        body = await self.json_body()
        self.audit_target = audit_text(body.get("template_name"))
        owner = await self.acting_for(body.get("username"))
        spec = await self._spec(owner, body)
        job = await self.in_thread(self.records.create, owner, spec)
        self.audit_target = f"job {job['id']}"
        self.set_header("Location", f"{self.settings['base_url']}jobs/{job['id']}")
        await self.write_json_off_loop(job, 201)


class JobHandler(JobBase):
    """``GET``, ``PATCH``, ``DELETE /jobs/{id}``."""

    actions = {"PATCH": Action.JOB_UPDATE, "DELETE": Action.JOB_DELETE}

    async def get(self, raw_id: str) -> None:
        await self.write_json_off_loop(await self._find(self._id(raw_id)))

    async def patch(self, raw_id: str) -> None:
        job_id = self._id(raw_id)
        body = await self.json_body()
        before = await self._find(job_id)
        owner = await self.acting_for(before["owner"])
        spec = await self._spec(owner, body, before)
        job = await self.in_thread(self.records.update, job_id, owner, spec)
        await self.write_json_off_loop(job)

    async def delete(self, raw_id: str) -> None:
        job_id = self._id(raw_id)
        job = await self._find(job_id)
        await self.in_thread(self.records.delete, job_id, job["owner"])
        self.set_status(204)
        await self.finish()


class PauseHandler(JobBase):
    """``POST /jobs/{id}/pause``: its schedule fires nothing until resumed."""

    actions = {"POST": Action.JOB_PAUSE}
    active = False

    async def post(self, raw_id: str) -> None:
        job_id = self._id(raw_id)
        job = await self._find(job_id)
        changed = await self.in_thread(self.records.set_active, job_id, job["owner"], self.active)
        await self.write_json_off_loop(changed)


class ResumeHandler(PauseHandler):
    """``POST /jobs/{id}/resume``: the schedule goes on from the next slot after now
    (slots passed while paused do not fire)."""

    actions = {"POST": Action.JOB_RESUME}
    active = True


class RunNowHandler(JobBase):
    """``POST /jobs/{id}/run``: a run now, whatever the schedule; answers 202 with the
    job run, which the scheduler dispatches within a second or so."""

    actions = {"POST": Action.JOB_RUN}

    async def post(self, raw_id: str) -> None:
        job_id = self._id(raw_id)
        job = await self._find(job_id)
        owner = await self.acting_for(job["owner"])
        run = await self.in_thread(self.records.add_run, job_id, owner)
        self.scheduler.poke()
        await self.write_json_off_loop(run, 202)


class RunsHandler(JobBase):
    """``GET /jobs/{id}/runs``: the job's runs, newest first, with their executions."""

    async def get(self, raw_id: str) -> None:
        job_id = self._id(raw_id)
        job = await self._find(job_id)
        page = await self.in_thread(
            self.records.runs_json,
            job_id,
            job["owner"],
            limit=min(self.int_argument("limit", 50, minimum=1), 500),
            offset=self.int_argument("offset", 0, minimum=0),
            max_bytes=self.settings["max_answer_bytes"],
        )
        await self.send(page)


def routes() -> list[tuple[str, type]]:
    return [
        ("jobs", JobsHandler),
        (r"jobs/([^/]+)", JobHandler),
        (r"jobs/([^/]+)/pause", PauseHandler),
        (r"jobs/([^/]+)/resume", ResumeHandler),
        (r"jobs/([^/]+)/run", RunNowHandler),
        (r"jobs/([^/]+)/runs", RunsHandler),
    ]
