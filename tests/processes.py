"""Watching from the tests: is a pid alive, wait until pids are gone or a file is written;
stop a server the tests started."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

#: a notebook cell writing the kernel's pid and its parent's (the runner) to PIDS_FILE
PIDS_CELL = (
    "import os, pathlib\npathlib.Path(PIDS_FILE).write_text(f'{os.getpid()} {os.getppid()}')\n"
)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_gone(*pids: int, timeout: float = 10.0) -> list[int]:
    """Wait until none of ``pids`` is alive; returns the survivors (empty if none)."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def read_if_exists(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def wait_file(path: Path, timeout: float = 30.0) -> str:
    """The text of ``path`` once it exists and is not empty (read off the event loop)."""
    deadline = time.monotonic() + timeout
    while not (text := await asyncio.to_thread(read_if_exists, path)):
        assert time.monotonic() < deadline, f"{path} never written"
        await asyncio.sleep(0.05)
    return text


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process the tests started: SIGTERM, then SIGKILL if it is still there
    after `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
