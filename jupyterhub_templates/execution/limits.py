"""Limits for a run's kernel: what a request or a job may ask (``limits``:
``{"memory_mb", "cpu_seconds"}``), below the service's caps, and what the server
extension is told (the address space and CPU time its runner sets on the kernel,
``RLIMIT_AS`` and ``RLIMIT_CPU``).

What was asked is kept with the execution (and the job), so that a retry or a rerun
runs with the same limits; the service's caps apply to whatever was not asked, at each
attempt.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidInput

#: the fields of ``limits``: (name, unit in bytes or seconds, the server's name)
FIELDS = (("memory_mb", 1024 * 1024, "memory_bytes"), ("cpu_seconds", 1, "cpu_seconds"))


def check_limits(value: Any, *, memory_mb: float, cpu_seconds: float) -> dict[str, float] | None:
    """A request's or a job's ``limits`` checked against the service's caps (0: none):
    what it asks, or None when it asks nothing. InvalidInput names the bad field."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {name for name, _, _ in FIELDS}:
        raise InvalidInput(
            'limits must be an object, e.g. {"memory_mb": 2048, "cpu_seconds": 600}.'
        )
    caps = {"memory_mb": memory_mb, "cpu_seconds": cpu_seconds}
    asked: dict[str, float] = {}
    for name, _, _ in FIELDS:
        given = value.get(name)
        if given is None:
            continue
        if (
            isinstance(given, bool)
            or not isinstance(given, int | float)
            or not given > 0
            or not math.isfinite(given)
        ):
            raise InvalidInput(f"limits.{name} must be a positive number.")
        if caps[name] and given > caps[name]:
            raise InvalidInput(f"limits.{name} may be at most {caps[name]:g}.")
        asked[name] = given
    return asked or None


def kernel_limits(
    asked: dict[str, float] | None, *, memory_mb: float, cpu_seconds: float
) -> dict[str, float]:
    """What the server extension is told: the asked limits, else the service's (none
    for a limit neither sets)."""
    chosen = {"memory_mb": memory_mb, "cpu_seconds": cpu_seconds, **(asked or {})}
    found: dict[str, float] = {}
    for name, unit, key in FIELDS:
        if chosen[name]:
            found[key] = int(chosen[name] * unit) if unit > 1 else float(chosen[name])
    return found
