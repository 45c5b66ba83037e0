"""Per-run limits for the kernel: address space (``RLIMIT_AS``) and CPU time
(``RLIMIT_CPU``), the service's defaults and caps and a request's own below them, and
the reasons a run fails with (``memory limit``, ``cpu limit``).

With a real JupyterHub and users' real servers and python3 kernels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.hub import Hub, ServiceProcess, local_service_env
from notebooks import write_python_notebook

#: the service's caps (and defaults): generous enough for a kernel to start and work
MEMORY_MB = 2048
CPU_SECONDS = 60


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("resource-limits")
    service = ServiceProcess(hub, local_service_env(workdir), workdir)
    service.start(
        [f"--Executions.memory_limit={MEMORY_MB}", f"--Executions.cpu_limit={CPU_SECONDS}"]
    )
    yield service
    service.stop()


def _run(svc: ServiceProcess, hub: Hub, name: str, source: str, **body: Any) -> dict:
    path = f"limits/{name}.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, source)
    return svc.wait_final(svc.execute_notebook("alice", path, **body))


def test_limits_fail_runs_with_their_reason_and_spare_the_others(
    svc: ServiceProcess, hub: Hub
) -> None:
    # within the limits: a run that does real work succeeds, and its kernel is limited
    fine = _run(
        svc,
        hub,
        "fine",
        "import resource\n"
        "data = bytearray(100 * 1024 * 1024)\n"
        "print('limits', resource.getrlimit(resource.RLIMIT_AS)[0],"
        " resource.getrlimit(resource.RLIMIT_CPU)[0] > 0)",
    )
    assert fine["status"] == "success", fine
    printed = (hub.user_dir("alice") / fine["output_path"]).read_text()
    assert f"limits {MEMORY_MB * 1024 * 1024} True" in printed
    # the service's memory limit applies by default: 256 MiB past it (well within this
    # machine's memory, so only the limit refuses it)
    memory = _run(
        svc,
        hub,
        "memory",
        "import re\n"
        "vm = int(re.search(r'VmSize:\\s+(\\d+)', open('/proc/self/status').read())[1]) * 1024\n"
        f"data = bytearray({MEMORY_MB} * 1024 * 1024 - vm + 256 * 1024 * 1024)",
    )
    assert memory["status"] == "failed", memory
    assert memory["error"]["reason"] == "memory limit", memory["error"]
    assert memory["error"]["name"] == "MemoryError"
    # a request's own, lower CPU limit: a busy loop is stopped after about 2 s of CPU
    cpu = _run(svc, hub, "cpu", "while True:\n    pass", limits={"cpu_seconds": 2})
    assert cpu["status"] == "failed", cpu
    assert cpu["error"]["reason"] == "cpu limit", cpu["error"]
    assert cpu["error"]["cell_index"] is not None


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"memory_mb": MEMORY_MB + 1}, "at most"),
        ({"cpu_seconds": CPU_SECONDS * 2}, "at most"),
        ({"cpu_seconds": -1}, "positive"),
        ({"memory_mb": "lots"}, "positive"),
        ({"gpus": 1}, "limits must be an object"),
        ("1G", "limits must be an object"),
    ],
)
def test_bad_limits_are_refused(svc: ServiceProcess, hub: Hub, limits: Any, message: str) -> None:
    path = "limits/never.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, "print(1)")
    r = svc.request(
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": path, "kernel_name": "python3", "limits": limits},
    )
    assert r.status_code == 400 and message in r.json()["message"], r.text
