"""Retries: which failures are tried again, how often, and after how long.

A run asked with ``retries`` (a request's or a job's) that fails for a reason that can
pass (:data:`RETRYABLE`, and ``timeout`` when asked) gets its next attempt due after a
backoff that doubles each time. The attempt due is written with the failure itself
(:meth:`.records.ExecutionRecords` sets ``retry_at``), so that it survives the replica
that saw the failure; the replica firing schedules makes it (:mod:`..jobs.scheduler`),
once: an attempt names the one it repeats (``retry_of``, unique).
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidInput
from ..statuses import Reason

#: failures that may pass on their own: the kernel was killed (out of memory, a node
#: drained), the server was stopped (culled, restarted) under the run
RETRYABLE: frozenset[str] = frozenset({Reason.KERNEL_DIED.value, Reason.SERVER_STOPPED.value})

#: the longest wait between two attempts (seconds), however many came before
MAX_DELAY = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """``max`` attempts after the first; the first retry ``backoff`` seconds after the
    failure, each further one twice as late (at most :data:`MAX_DELAY`); a timeout is
    retried only with ``on_timeout``."""

    max: int
    backoff: float
    on_timeout: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> RetryPolicy | None:
        """The stored form back (None: no retries)."""
        if not value:
            return None
        return cls(int(value["max"]), float(value["backoff"]), bool(value.get("on_timeout")))

    def retries(self, reason: str | None, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1 for the first), failed for ``reason``,
        gets another."""
        if attempt > self.max:
            return False
        return reason in RETRYABLE or (self.on_timeout and reason == Reason.TIMEOUT.value)

    def delay(self, attempt: int) -> datetime.timedelta:
        """How long after attempt ``attempt`` failed the next one starts."""
        return datetime.timedelta(seconds=min(self.backoff * 2 ** (attempt - 1), MAX_DELAY))


def check_retries(value: Any, *, cap: int, default_backoff: float) -> RetryPolicy | None:
    """A request's ``retries`` (``{"max": N, "backoff": seconds, "on_timeout": bool}``,
    or null/absent for none) as a policy; InvalidInput when it is not one, or asks for
    more than ``cap`` retries."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput('retries must be an object, e.g. {"max": 2, "backoff": 30}.')
    unknown = sorted(set(value) - {"max", "backoff", "on_timeout"})
    if unknown:
        raise InvalidInput(f"retries: unknown field {unknown[0]!r} (max, backoff, on_timeout).")
    count = value.get("max")
    if type(count) is not int or not 0 <= count <= cap:
        raise InvalidInput(f"retries.max must be an integer from 0 to {cap}.")
    backoff = value.get("backoff", default_backoff)
    if (
        type(backoff) not in (int, float)
        or not backoff == backoff  # NaN
        or not 0 <= backoff <= MAX_DELAY
    ):
        raise InvalidInput(f"retries.backoff must be a number of seconds from 0 to {MAX_DELAY:g}.")
    on_timeout = value.get("on_timeout", False)
    if type(on_timeout) is not bool:
        raise InvalidInput("retries.on_timeout must be true or false.")
    if count == 0:
        return None
    return RetryPolicy(count, float(backoff), on_timeout)
