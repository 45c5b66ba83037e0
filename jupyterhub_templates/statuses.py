"""What an execution can be, why one fails, and what became of a job's run: the one
list every layer uses.

The service's records, its monitor and OpenAPI document, the server extension, the
runner child process, the tests and the benchmarks import these; the Lab's TypeScript
unions (``src/api/types.ts``) are checked against the served OpenAPI document by a test.
Adding a status or a reason is a change here (and in the TypeScript union), nowhere else.

Dependency-free on purpose: the runner imports it in users' servers before anything else.
Members are ``str``s, so they compare, hash and encode to JSON as their values; where a
value leaves Python (the database, JSON), ``.value`` is the plain string.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ACTIVE",
    "FINAL",
    "JOB_RUN_STATES",
    "REASONS",
    "STATUSES",
    "JobRunState",
    "Reason",
    "Status",
]


class Status(str, Enum):
    """An execution's status: ``pending`` (recorded, not yet started in the user's server),
    ``running``, then one of the final three."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Reason(str, Enum):
    """Why a run ``failed``: what its ``error.reason`` says."""

    CELL_ERROR = "cell error"
    KERNEL_DIED = "kernel died"
    TIMEOUT = "timeout"
    KERNEL_NOT_FOUND = "kernel not found"
    SERVER_STOPPED = "server stopped"
    #: the run's memory limit was reached (a MemoryError, or the kernel crashed)
    MEMORY_LIMIT = "memory limit"
    #: the run's CPU-time limit was reached (the kernel was killed)
    CPU_LIMIT = "cpu limit"
    #: anything else (the runner could not start, a failure without an error object)
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class JobRunState(str, Enum):
    """What became of one firing of a job (its execution, once there is one, has a
    :class:`Status` of its own)."""

    #: waiting for the job's previous run to end (overlap policy ``queue``)
    QUEUED = "queued"
    #: being turned into a notebook and an execution
    DISPATCHING = "dispatching"
    #: its execution exists (``execution_id``)
    DISPATCHED = "dispatched"
    #: not run: the job's previous run still ran (overlap policy ``skip``)
    SKIPPED = "skipped"
    #: could not be dispatched (the template is gone, the server did not start, ...)
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: every job run state (the OpenAPI enum's order)
JOB_RUN_STATES: tuple[str, ...] = tuple(s.value for s in JobRunState)
#: every status, in the order a run goes through them (the OpenAPI enum's order)
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: statuses a run ends in; it never leaves them
FINAL: frozenset[str] = frozenset(
    {Status.SUCCESS.value, Status.FAILED.value, Status.CANCELLED.value}
)
#: statuses of a run that is still to be followed
ACTIVE: tuple[str, ...] = tuple(s for s in STATUSES if s not in FINAL)
#: every failure reason (the OpenAPI enum's order)
REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
