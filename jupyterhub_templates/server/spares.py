"""Spare runners: pre-started ``runner --spare`` processes that have imported papermill
(and, with ``prestart_kernels``, started the default kernel) and wait for a spec.

An execution takes one spare (never shared, never reused) and a replacement starts at
once. Spares count against no limit, are replaced when they die (after a growing pause
when they die young, so a broken environment does not fork in a loop), and end with the
server: killed at shutdown, and a spare whose stdin reaches EOF exits by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from .requests import ExecutorConfig

RUNNER_MODULE = "jupyterhub_templates.server.runner"

# a spare that dies within this many seconds of its start is replaced only after a pause,
# growing up to the maximum, so that a broken environment does not fork in a loop
_SPARE_MIN_LIFE = 10.0
_SPARE_MAX_BACKOFF = 60.0


@dataclass
class Spare:
    """A pre-started runner waiting for its spec."""

    process: asyncio.subprocess.Process
    events_read_fd: int
    events_fd: int  # the number of the pipe's write end inside the child
    started_mono: float
    watch_task: asyncio.Task[None] | None = None


def runner_argv(spare: bool = False, kernel_name: str | None = None) -> list[str]:
    """The command line of a runner (a spare pre-starting ``kernel_name`` if given)."""
    argv = [sys.executable]
    if sys.version_info >= (3, 11):
        # -P: the notebook's folder (our cwd) must not shadow our own modules
        argv.append("-P")
    argv += ["-m", RUNNER_MODULE]
    if spare:
        argv.append("--spare")
        if kernel_name:
            argv += ["--kernel", kernel_name]
    return argv


async def spawn_runner(
    cwd: str, env: dict[str, str], spare: bool = False, kernel_name: str | None = None
) -> tuple[asyncio.subprocess.Process, int, int]:
    """Start a runner in a new session; returns it, the events pipe's read end, and the
    number of its write end in the child. Raises OSError (nothing left open)."""
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *runner_argv(spare, kernel_name),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return process, read_fd, write_fd


def killpg(pgid: int | None, sig: int) -> None:
    """Send ``sig`` to the process group ``pgid``; gone or foreign groups are left alone."""
    if pgid is None or pgid <= 1:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class SparePool:
    """The spares of one executor; every method runs on the server's loop."""

    def __init__(self, root_dir: str, config: ExecutorConfig, log: logging.Logger) -> None:
        self.root_dir = root_dir
        self.config = config
        self.log = log
        #: no new spare starts once set (the server is stopping)
        self.closing = False
        self._waiting: list[Spare] = []
        self._starting = 0
        self._backoff = 0.0
        self.started = 0  # for tests and benchmarks

    def top_up(self) -> None:
        """Top the pool of spare runners up to ``prestart_runners`` (needs a running loop)."""
        missing = self.config.prestart_runners - len(self._waiting) - self._starting
        for _ in range(max(0, missing)):
            if self.closing:
                return
            self._starting += 1
            asyncio.get_running_loop().create_task(self._start_one())

    async def _start_one(self) -> None:
        try:
            if self._backoff:
                await asyncio.sleep(self._backoff)
            if self.closing:
                return
            # the spare's cwd is replaced by the execution's; the root is a folder that exists
            kernel = self.config.default_kernel_name if self.config.prestart_kernels else None
            process, read_fd, events_fd = await spawn_runner(
                self.root_dir, dict(os.environ), spare=True, kernel_name=kernel
            )
        except Exception:
            self.log.exception("cannot start a spare runner")
            self._backoff = min(_SPARE_MAX_BACKOFF, max(1.0, self._backoff * 2))
            return
        finally:
            self._starting -= 1
        spare = Spare(process, read_fd, events_fd, time.monotonic())
        if self.closing:
            self.discard(spare)
            return
        self.started += 1
        spare.watch_task = asyncio.create_task(self._watch(spare))
        self._waiting.append(spare)
        self.top_up()  # the pool may have been emptied meanwhile

    async def _watch(self, spare: Spare) -> None:
        """Replace a spare that dies while waiting (not one handed to an execution)."""
        returncode = await spare.process.wait()
        if spare not in self._waiting:
            return
        self._waiting.remove(spare)
        with contextlib.suppress(OSError):
            os.close(spare.events_read_fd)
        lived = time.monotonic() - spare.started_mono
        self.log.warning(
            "spare runner %s exited (code %s); replacing it", spare.process.pid, returncode
        )
        if lived < _SPARE_MIN_LIFE:
            self._backoff = min(_SPARE_MAX_BACKOFF, max(1.0, self._backoff * 2))
        else:
            self._backoff = 0.0
        self.top_up()

    def take(self) -> Spare | None:
        """A live spare for one execution, removed from the pool (a replacement starts)."""
        while self._waiting:
            spare = self._waiting.pop(0)
            if spare.process.returncode is None:
                if spare.watch_task is not None:
                    spare.watch_task.cancel()
                if time.monotonic() - spare.started_mono >= _SPARE_MIN_LIFE:
                    self._backoff = 0.0
                self.top_up()
                return spare
            self.discard(spare)
        self.top_up()
        return None

    def discard(self, spare: Spare) -> None:
        if spare.watch_task is not None:
            spare.watch_task.cancel()
        killpg(spare.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(spare.events_read_fd)

    def pids(self) -> list[int]:
        """The pids of the spares waiting now."""
        return [s.process.pid for s in self._waiting if s.process.returncode is None]

    async def close(self) -> None:
        """Kill every waiting spare and wait for them; none starts any more."""
        self.closing = True
        spares, self._waiting = self._waiting, []
        for spare in spares:
            self.discard(spare)
        await asyncio.gather(*(s.process.wait() for s in spares), return_exceptions=True)
