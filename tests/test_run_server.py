"""Runs that outlive the user's server: the run server (a JupyterHub named server the
service starts for each user's runs) and JupyterHub's real idle culler
(``jupyterhub-idle-culler``, run by the Hub as a service with a short timeout).

- Mode on: the user's default server, idle, is culled while a long run goes on in the
  run server; the run succeeds; once it has ended, the idle run server is culled in its
  turn, and the run's log can still be read.
- Mode off: a run in the default server keeps that server from being culled, even
  through a long cell that prints nothing; once it has ended, the server is culled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.hub import Hub, ServiceProcess, local_service_env, start_hub, stop_process
from notebooks import write_python_notebook

pytestmark = pytest.mark.e2e

RUN_SERVER = "templates-runs"
#: the culler stops servers idle this long (seconds), looking this often
CULL_TIMEOUT = 8
CULL_EVERY = 2
#: how often servers report activity to the Hub (and a run counts as activity)
ACTIVITY = 1
#: a silent cell well past the culler's timeout
SLEEP = 3 * CULL_TIMEOUT


@pytest.fixture(scope="module")
def culled_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = start_hub(
        tmp_path_factory.mktemp("run-server-hub"),
        external_service=True,
        extra_env={
            "JUPYTERHUB_TEMPLATES_CULL_TIMEOUT": str(CULL_TIMEOUT),
            "JUPYTERHUB_TEMPLATES_CULL_EVERY": str(CULL_EVERY),
            "TEMPLATES_TEST_ACTIVITY_INTERVAL": str(ACTIVITY),
        },
    )
    try:
        yield hub
    finally:
        stop_process(hub.proc)


def service(hub: Hub, workdir: Path, run_server: str) -> ServiceProcess:
    env = local_service_env(workdir)
    env["JUPYTERHUB_TEMPLATES_RUN_SERVER"] = run_server
    svc = ServiceProcess(hub, env, workdir)
    svc.start()
    return svc


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> float:
    """Wait (bounded) until ``condition()`` holds; the time.monotonic() it did."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.25)
    return time.monotonic()


def long_run(hub: Hub, user: str, name: str) -> str:
    path = f"cull/{name}.ipynb"
    write_python_notebook(
        hub.user_dir(user) / path,
        "print('started', flush=True)",
        f"import time; time.sleep({SLEEP})",
        "print('finished')",
    )
    return path


def status(svc: ServiceProcess, execution_id: int, user: str) -> dict:
    r = svc.request("GET", f"execution-status/{execution_id}", user)
    assert r.status_code == 200, r.text
    return r.json()


def test_run_server_survives_the_default_servers_culling_and_is_culled_once_idle(
    culled_hub: Hub, tmp_path: Path
) -> None:
    hub = culled_hub
    user = "cull-on"
    hub.add_user(user)
    svc = service(hub, tmp_path, RUN_SERVER)
    try:
        hub.start_server(user)  # the default server: nobody uses it, it goes idle
        path = long_run(hub, user, "long")
        execution_id = svc.execute_notebook(user, path)
        assert status(svc, execution_id, user)["server_name"] == RUN_SERVER
        assert RUN_SERVER in hub.servers(user)

        # the idle default server is culled while the run goes on in the run server
        wait_until("the default server culled", lambda: "" not in hub.servers(user), 4 * SLEEP)
        during = status(svc, execution_id, user)
        assert during["status"] == "running", during

        final = svc.wait_final(execution_id, user, timeout=4 * SLEEP)
        ended = time.monotonic()
        assert final["status"] == "success", final
        assert final["server_name"] == RUN_SERVER

        # then the run server, idle since the run ended, is culled too; not before its
        # timeout has passed since the end
        culled = wait_until(
            "the run server culled", lambda: RUN_SERVER not in hub.servers(user), 6 * CULL_TIMEOUT
        )
        assert culled - ended >= CULL_TIMEOUT - 2 * ACTIVITY, culled - ended

        # its log outlives it
        r = svc.request("GET", f"execution/{execution_id}/log", user)
        assert r.status_code == 200, r.text
        assert "finished" in r.json()["log"]
    finally:
        svc.stop()
        hub.delete_user(user)


def test_a_run_keeps_the_default_server_from_being_culled(culled_hub: Hub, tmp_path: Path) -> None:
    hub = culled_hub
    user = "cull-off"
    hub.add_user(user)
    svc = service(hub, tmp_path, "")
    try:
        path = long_run(hub, user, "silent")
        execution_id = svc.execute_notebook(user, path)
        assert status(svc, execution_id, user)["server_name"] == ""
        # a cell silent for three times the culler's timeout: the server stays
        final = svc.wait_final(execution_id, user, timeout=4 * SLEEP)
        assert final["status"] == "success", final
        assert "" in hub.servers(user)
        assert RUN_SERVER not in hub.servers(user)
        # idle once the run has ended: culled
        gone = lambda: "" not in hub.servers(user)  # noqa: E731
        wait_until("the default server culled", gone, 6 * CULL_TIMEOUT)
    finally:
        svc.stop()
        hub.delete_user(user)
