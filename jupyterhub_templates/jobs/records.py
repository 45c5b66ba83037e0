"""The ``jobs`` and ``job_runs`` tables. Blocking; run in worker threads.

Firing is one transaction per round: the due jobs' rows are locked (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), a run is inserted for each slot to fire and the job's next slot
written, together. The pair ``(job_id, slot)`` is unique, so even two schedulers firing
at once (only one should: :mod:`.scheduler` holds a lease) record a slot once.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from .. import jsontext
from ..db import Database
from ..db.models import Execution, Job, JobRun, utcnow
from ..errors import NotFound
from ..statuses import ACTIVE, JobRunState
from .definitions import KEEP, JobSpec, describe_job, describe_run
from .schedule import due_slots, next_slot

Describe = Callable[[Execution], dict[str, Any]]


class JobRecords:
    """Reads and writes of jobs and their runs. ``owner=None`` means anyone's.

    ``describe_execution`` turns an execution row into its API model (the execution
    records' own, so that a job's history shows runs as ``/executions`` does).
    """

    def __init__(self, db: Database, describe_execution: Describe) -> None:
        self.db = db
        self.describe_execution = describe_execution

    # -- definitions -------------------------------------------------------------

    def _job(self, session: Session, job_id: int, owner: str | None, *, lock: bool = False) -> Job:
        job = session.get(Job, job_id, with_for_update=lock or None)
        if job is None or (owner is not None and job.owner != owner):
            raise NotFound(f"No job {job_id}.")
        return job

    def _last_run(self, session: Session, job_id: int) -> dict[str, Any] | None:
        run = session.scalars(
            select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id.desc()).limit(1)
        ).first()
        return self._describe_run(session, run) if run is not None else None

    def _describe_run(self, session: Session, run: JobRun) -> dict[str, Any]:
        execution = None
        if run.execution_id is not None:
            e = session.get(Execution, run.execution_id)
            execution = self.describe_execution(e) if e is not None else None
        return describe_run(run, execution)

    def _describe(self, session: Session, job: Job) -> dict[str, Any]:
        return describe_job(job, self._last_run(session, job.id))

    @staticmethod
    def _schedule_next(job: Job, now: datetime.datetime) -> None:
        job.next_run_at = (
            next_slot(job.schedule, job.timezone, now) if job.schedule and job.active else None
        )

    def create(self, owner: str, spec: JobSpec) -> dict[str, Any]:
        now = utcnow()
        with self.db.write_session() as session:
            job = Job(owner=owner, created_at=now, updated_at=now, **spec.fields())
            self._schedule_next(job, now)
            session.add(job)
            session.commit()
            return describe_job(job)

    def get(self, job_id: int, owner: str | None = None) -> dict[str, Any]:
        """NotFound when absent or (with ``owner``) someone else's."""
        with self.db.session() as session:
            return self._describe(session, self._job(session, job_id, owner))

    def update(self, job_id: int, owner: str | None, spec: JobSpec) -> dict[str, Any]:
        """Replace the job's settings; its next slot is computed afresh from now."""
        now = utcnow()
        with self.db.write_session() as session:
            job = self._job(session, job_id, owner, lock=True)
            schedule_changed = (job.schedule, job.timezone, job.active) != (
                spec.schedule,
                spec.timezone,
                spec.active,
            )
            for name, value in spec.fields().items():
                if value is not KEEP:
                    setattr(job, name, value)
            if schedule_changed:
                self._schedule_next(job, now)
            job.updated_at = now
            session.commit()
            return self._describe(session, job)

    def set_active(self, job_id: int, owner: str | None, active: bool) -> dict[str, Any]:
        """Pause (no slot fires, and none is caught up on resume) or resume."""
        now = utcnow()
        with self.db.write_session() as session:
            job = self._job(session, job_id, owner, lock=True)
            if job.active != active:
                job.active = active
                self._schedule_next(job, now)
                job.updated_at = now
            session.commit()
            return self._describe(session, job)

    def delete(self, job_id: int, owner: str | None) -> None:
        """Forget the job and its history (its notebooks and executions stay)."""
        with self.db.write_session() as session:
            session.delete(self._job(session, job_id, owner, lock=True))
            session.commit()

    @staticmethod
    def _page(
        session: Session,
        key: str,
        query: Any,
        newest_first: Any,
        describe: Callable[[Any], dict[str, Any]],
        *,
        limit: int,
        offset: int,
        max_bytes: int,
    ) -> str:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(newest_first).limit(limit).offset(offset)).all()
        return jsontext.page(
            key,
            (describe(row) for row in rows),
            total=total,
            limit=limit,
            offset=offset,
            max_bytes=max_bytes,
        )

    def list_json(self, owner: str | None, *, limit: int, offset: int, max_bytes: int) -> str:
        """A page of jobs, newest first (:func:`jupyterhub_templates.jsontext.page`)."""
        query = select(Job)
        if owner is not None:
            query = query.where(Job.owner == owner)
        with self.db.session() as session:
            return self._page(
                session,
                "jobs",
                query,
                Job.id.desc(),
                lambda job: self._describe(session, job),
                limit=limit,
                offset=offset,
                max_bytes=max_bytes,
            )

    # -- runs --------------------------------------------------------------------

    def runs_json(
        self, job_id: int, owner: str | None, *, limit: int, offset: int, max_bytes: int
    ) -> str:
        """A page of the job's runs, newest first, each with its execution."""
        with self.db.session() as session:
            self._job(session, job_id, owner)
            return self._page(
                session,
                "runs",
                select(JobRun).where(JobRun.job_id == job_id),
                JobRun.id.desc(),
                lambda run: self._describe_run(session, run),
                limit=limit,
                offset=offset,
                max_bytes=max_bytes,
            )

    def _busy(self, session: Session, job_id: int, *, queued: bool = True) -> bool:
        """Whether the job has a run not yet ended: dispatching, an execution still
        active or about to be retried, or (with ``queued``) waiting in the queue."""
        waiting = [JobRunState.DISPATCHING.value]
        if queued:
            waiting.append(JobRunState.QUEUED.value)
        # a failed run whose retry is due is not over either
        active_execution = exists().where(
            Execution.id == JobRun.execution_id,
            or_(Execution.status.in_(ACTIVE), Execution.retry_at.is_not(None)),
        )
        return bool(
            session.scalar(
                select(
                    exists().where(
                        JobRun.job_id == job_id,
                        or_(
                            JobRun.state.in_(waiting),
                            and_(JobRun.state == JobRunState.DISPATCHED.value, active_execution),
                        ),
                    )
                )
            )
        )

    def add_run(self, job_id: int, owner: str | None) -> dict[str, Any]:
        """A run asked for now (``dispatching``: the caller dispatches it)."""
        now = utcnow()
        with self.db.write_session() as session:
            self._job(session, job_id, owner)
            run = JobRun(
                job_id=job_id,
                slot=None,
                state=JobRunState.DISPATCHING.value,
                created_at=now,
                updated_at=now,
            )
            session.add(run)
            session.commit()
            return describe_run(run)

    def fire_due(self, *, grace: float) -> list[int]:
        """Record a run for every due slot of every active job and move each job to
        its next slot (see :func:`.schedule.due_slots`); promote the oldest queued run of
        each job that is no longer busy. Returns the runs to dispatch, oldest first.

        A read comes first: most rounds find nothing to do, and then take no row lock
        and write nothing."""
        if not self._anything_due():
            return []
        dispatch: list[int] = []
        with self.db.write_session() as session:
            now = self.db.now(session)
            jobs = session.scalars(
                select(Job)
                .where(Job.active.is_(True), Job.next_run_at.is_not(None), Job.next_run_at <= now)
                .order_by(Job.next_run_at)
                .limit(500)
                .with_for_update(skip_locked=True)
            ).all()
            for job in jobs:
                assert job.schedule and job.next_run_at
                due = due_slots(
                    job.schedule,
                    job.timezone,
                    job.next_run_at,
                    now,
                    grace=grace,
                    missed=job.missed,
                )
                for slot in due.fire:
                    if self._busy(session, job.id):
                        state = (
                            JobRunState.QUEUED if job.overlap == "queue" else JobRunState.SKIPPED
                        )
                    else:
                        state = JobRunState.DISPATCHING
                    run = JobRun(
                        job_id=job.id,
                        slot=slot,
                        state=state.value,
                        message="the previous run was still running"
                        if state == JobRunState.SKIPPED
                        else None,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(run)
                    session.flush()
                    if state == JobRunState.DISPATCHING:
                        dispatch.append(run.id)
                job.next_run_at = due.next_run_at
            dispatch += self._promote_queued(session, now)
            session.commit()
        return dispatch

    def _anything_due(self) -> bool:
        """Whether a slot is due or a run waits in the queue (one read, no lock)."""
        with self.db.session() as session:
            due = exists().where(
                Job.active.is_(True),
                Job.next_run_at.is_not(None),
                Job.next_run_at <= self.db.clock(),
            )
            queued = exists().where(JobRun.state == JobRunState.QUEUED.value)
            return bool(session.scalar(select(or_(due, queued))))

    def _promote_queued(self, session: Session, now: datetime.datetime) -> list[int]:
        promoted: list[int] = []
        job_ids = session.scalars(
            select(JobRun.job_id).where(JobRun.state == JobRunState.QUEUED.value).distinct()
        ).all()
        for job_id in job_ids:
            if session.get(Job, job_id, with_for_update={"skip_locked": True}) is None:
                continue  # another transaction holds it
            if self._busy(session, job_id, queued=False):
                continue
            oldest = session.scalars(
                select(JobRun)
                .where(JobRun.job_id == job_id, JobRun.state == JobRunState.QUEUED.value)
                .order_by(JobRun.id)
                .limit(1)
            ).first()
            if oldest is not None:
                oldest.state = JobRunState.DISPATCHING.value
                oldest.updated_at = now
                promoted.append(oldest.id)
        return promoted

    def dispatching(self) -> list[int]:
        """Runs left ``dispatching`` (by a scheduler that stopped or died mid-way)."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(JobRun.id)
                    .where(JobRun.state == JobRunState.DISPATCHING.value)
                    .order_by(JobRun.id)
                )
            )

    def dispatch_plan(self, run_id: int) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        """``(job, run, execution_id)`` for dispatching ``run_id``: the job's settings,
        the run, and the execution already made for it (a dispatch cut short after the
        execution was recorded), if any."""
        with self.db.session() as session:
            run = session.get(JobRun, run_id)
            if run is None:
                raise NotFound(f"No job run {run_id}.")
            job = self._job(session, run.job_id, None)
            made = session.scalar(select(Execution.id).where(Execution.job_run_id == run_id))
            # the notifications as asked for the run, not as answers show them
            return {**describe_job(job), "notify": job.notify}, describe_run(run), made

    def note_notebook(self, run_id: int, path: str) -> None:
        """The notebook a dispatch is about to write (a repeated dispatch of the run
        may then replace it)."""
        with self.db.write_session() as session:
            run = session.get(JobRun, run_id, with_for_update=True)
            if run is not None:
                run.notebook_path = path
                session.commit()

    def end_dispatch(
        self,
        run_id: int,
        *,
        execution_id: int | None = None,
        notebook_path: str | None = None,
        message: str | None = None,
    ) -> None:
        """A dispatch ended: ``dispatched`` with its execution, else ``failed``."""
        with self.db.write_session() as session:
            run = session.get(JobRun, run_id, with_for_update=True)
            if run is None or run.state != JobRunState.DISPATCHING.value:
                return
            if execution_id is not None:
                run.state = JobRunState.DISPATCHED.value
                run.execution_id = execution_id
            else:
                run.state = JobRunState.FAILED.value
                run.message = (message or "error")[:4000]
            run.notebook_path = notebook_path or run.notebook_path
            run.updated_at = utcnow()
            session.commit()
