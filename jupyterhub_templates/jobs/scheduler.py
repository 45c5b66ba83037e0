"""The job scheduler: fires schedules' slots and dispatches job runs, on one replica at
a time.

Each replica runs a :class:`JobScheduler`; the one holding the ``schedule`` lease
(:mod:`..db.leases`) is the scheduler, the others wait to take over. Every ``tick`` the
scheduler records the due slots (:meth:`.records.JobRecords.fire_due`, at most one run
per slot whatever happens) and dispatches every run left ``dispatching``: its own, a
run asked for through the API on any replica, and those a dead scheduler left
half-done. Dispatching a run makes its notebook from the job's template (the notebook
creator) and runs it in place as the job's owner (the executions layer); an execution
names its job run and a run has at most one, so a dispatch repeated after a crash finds
the execution instead of making a second.

The scheduler also makes the retries that are due (:mod:`..execution.retries`) and
sends the notifications that are (:mod:`..execution.notifications`), any run's, a job's
or not: time-driven work has this one place.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.exc import IntegrityError
from traitlets import Float, Int, TraitError, validate
from traitlets.config import LoggingConfigurable

from ..db.leases import Leases
from ..errors import TemplatesError
from ..execution.executions import ExecuteRequest, Executions
from ..notebooks.creator import CreateRequest, NotebookCreator
from ..notebooks.paths import join
from .definitions import JobSpec, local_time, notebook_name
from .records import JobRecords

log = logging.getLogger(__name__)

InThread = Callable[..., Awaitable[Any]]

#: the lease of firing schedules (one name: one scheduler for all jobs)
LEASE_KIND = "schedule"
LEASE_NAME = "jobs"


class JobScheduler(LoggingConfigurable):
    """Fires job schedules and dispatches job runs while this replica holds the
    ``schedule`` lease.

    Keyword arguments besides the collaborators: traits, ``parent``, ``log``.
    """

    tick = Float(1.0, help="How often (seconds) the scheduler looks for due slots and runs.").tag(
        config=True
    )

    lease_ttl = Float(
        12.0,
        help="""Seconds the scheduler's lease lasts unless renewed (it is renewed every
        third of it). Another replica takes over within about this long after the
        scheduler dies; slots it was late for fire then, each once.""",
    ).tag(config=True)

    misfire_grace = Float(
        60.0,
        help="""A slot this many seconds late still fires on its own (a replica taking
        over, a busy database); an older one was missed (the service was down) and the
        job's `missed` policy decides: one run for all missed slots, or none.""",
    ).tag(config=True)

    min_interval = Float(
        60.0,
        help="""The shortest time (seconds) between two slots of a schedule a job may
        have; a schedule firing more often is refused (400).""",
    ).tag(config=True)

    max_dispatching = Int(
        8, help="Job runs dispatched at once (each makes a notebook and starts a run)."
    ).tag(config=True)

    @validate("tick", "lease_ttl", "misfire_grace", "min_interval")
    def _positive(self, proposal: Any) -> float:
        if not proposal["value"] > 0:
            raise TraitError(f"{proposal['trait'].name} must be a positive number of seconds")
        return float(proposal["value"])

    def __init__(
        self,
        *,
        records: JobRecords,
        creator: NotebookCreator,
        executions: Executions,
        in_thread: InThread,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.records = records
        self.creator = creator
        self.executions = executions
        self.in_thread = in_thread
        self.leases = Leases(records.db)
        self.leading = False
        self._dispatching: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max(1, self.max_dispatching))
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- what requests use ---------------------------------------------------------

    def check(self, owner: str, spec: JobSpec) -> None:
        """Blocking: InvalidInput/NotFound unless ``spec``'s template exists and takes
        its parameters (checked as a notebook creation would)."""
        self.creator.check(
            CreateRequest(
                username=owner,
                template_name=spec.template_name,
                parameters=spec.parameters,
                version=spec.template_version,
            )
        )

    def poke(self) -> None:
        """Look for work now rather than at the next tick (a run was asked for)."""
        self._wake.set()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="job-scheduler")

    async def stop(self) -> None:
        """Stop firing; let dispatches in progress end (a few seconds at most), then
        give the lease back so that another replica takes over at once."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._dispatching:
            await asyncio.wait(list(self._dispatching.values()), timeout=10)
        if self.leading:
            try:
                await asyncio.wait_for(self.in_thread(self.leases.release_all), 5)
            except Exception:
                log.warning("could not give back the schedule lease; it expires by itself")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        renewed = -float("inf")
        while not self._stopping:
            try:
                if loop.time() - renewed >= self.lease_ttl / 3:
                    held = await self.in_thread(
                        self.leases.take, LEASE_KIND, LEASE_NAME, self.lease_ttl
                    )
                    renewed = loop.time()
                    if held != self.leading:
                        self.leading = held
                        log.info(
                            "job schedules: %s",
                            "this replica fires them" if held else "another replica fires them",
                        )
                if self.leading:
                    await self._round()
            except asyncio.CancelledError:
                raise
            except TemplatesError as e:  # the database is unavailable: try again later
                log.warning("job scheduler: %s", e.message)
            except Exception:
                log.exception("job scheduler round failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.tick)
            except asyncio.TimeoutError:
                pass

    async def _round(self) -> None:
        fired = await self.in_thread(self.records.fire_due, grace=self.misfire_grace)
        waiting = await self.in_thread(self.records.dispatching)
        for run_id in dict.fromkeys([*fired, *waiting]):
            self._start(("run", run_id), self._dispatch(run_id))
        for execution_id in await self.in_thread(self.executions.records.retries_due):
            self._start(("retry", execution_id), self._retry(execution_id))
        self._start(("notify", 0), self._notify())

    def _start(self, key: tuple[str, int], work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` unless the same work is under way already."""
        if key in self._dispatching:
            work.close()
            return
        task = asyncio.create_task(work, name=f"job-{key[0]}-{key[1]}")
        self._dispatching[key] = task
        task.add_done_callback(lambda _, k=key: self._dispatching.pop(k, None))

    async def _notify(self) -> None:
        try:
            await self.executions.notifier.deliver_due()
        except TemplatesError as e:  # the database: the next round tries again
            log.warning("notifications: %s", e.message)
        except Exception:
            log.exception("notifications failed")

    async def _retry(self, execution_id: int) -> None:
        async with self._slots:
            try:
                await self.executions.retry(execution_id)
            except TemplatesError as e:  # the database: the next round tries again
                log.warning("execution %s: retry: %s", execution_id, e.message)
            except Exception:
                log.exception("execution %s: retry failed", execution_id)

    # -- dispatching one run ---------------------------------------------------------

    async def _dispatch(self, run_id: int) -> None:
        async with self._slots:
            try:
                await self._dispatch_run(run_id)
            except TemplatesError as e:
                log.info("job run %s not dispatched: %s", run_id, e.message)
                await self._end(run_id, message=e.message)
            except Exception:
                log.exception("job run %s not dispatched", run_id)
                await self._end(run_id, message="The run could not be dispatched (error).")

    async def _end(self, run_id: int, **outcome: Any) -> None:
        try:
            await self.in_thread(self.records.end_dispatch, run_id, **outcome)
        except TemplatesError as e:  # stays dispatching: the next round tries again
            log.warning("job run %s: %s", run_id, e.message)

    async def _dispatch_run(self, run_id: int) -> None:
        job, run, made = await self.in_thread(self.records.dispatch_plan, run_id)
        if made is not None:  # an earlier dispatch got this far
            await self._end(run_id, execution_id=made)
            return
        when = run["slot"] or run["created_at"]
        name = notebook_name(
            job["name_pattern"],
            job["name"],
            local_time(datetime.datetime.fromisoformat(when), job["timezone"]),
            run_id,
        )
        path = join(job["target_directory"], name)
        # a dispatch cut short may have written the notebook already: only then is it
        # replaced; otherwise an existing notebook of that name is a failed run (409)
        again = run["notebook_path"] == path
        await self.in_thread(self.records.note_notebook, run_id, path)
        await self.creator.create(
            CreateRequest(
                username=job["owner"],
                template_name=job["template_name"],
                target_directory=job["target_directory"],
                new_name=name,
                parameters=job["parameters"],
                version=job["template_version"],
                overwrite=again,
                description=f"job {job['name']}",
            )
        )
        try:
            record = await self.executions.submit(
                ExecuteRequest(
                    username=job["owner"],
                    notebook_path=path,
                    in_place=True,
                    kernel_name=job["kernel_name"],
                    timeout=job["timeout"],
                    limits=job["limits"],
                    retries=job["retries"],
                    notify=job["notify"],
                    job_run_id=run_id,
                )
            )
        except IntegrityError:
            # another dispatch of this run recorded its execution first
            _, _, made = await self.in_thread(self.records.dispatch_plan, run_id)
            await self._end(run_id, execution_id=made, notebook_path=path)
            return
        await self._end(run_id, execution_id=record["execution_id"], notebook_path=path)
