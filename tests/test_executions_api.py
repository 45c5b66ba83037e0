"""Executions through the Hub service: dispatched to the server extension in users' real
single-user servers, followed to their end, cancelled, and kept true through a service
restart and a server stop. Notebooks run on the ``python3`` kernel here (fast); the
examples on ``mlflow_kernel`` run in the end-to-end tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from notebooks import make_notebook, write_python_notebook
from openapi_check import check_response
from processes import PIDS_CELL, wait_file, wait_gone

from jupyterhub_templates.statuses import FINAL


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("executions-api")
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    service.start(ARGS)
    yield service
    service.stop()


ARGS = ["--ExecutionMonitor.stopped_grace=10", "--Executions.first_cell_timeout=30"]


def write_notebook(hub: Hub, user: str, path: str, *sources: str) -> str:
    """A python3 notebook with a ``parameters`` cell, in the user's server root."""
    write_python_notebook(hub.user_dir(user) / path, *sources, params="greeting = 'hi'")
    return path


def execute(svc: ServiceProcess, user: str, path: str, **body: Any) -> requests.Response:
    body.setdefault("kernel_name", "python3")
    return svc.request("POST", "execute-notebook", user, json={"notebook_path": path, **body})


def status(svc: ServiceProcess, execution_id: int, user: str = "alice") -> dict[str, Any]:
    r = svc.request("GET", f"execution-status/{execution_id}", user)
    assert r.status_code == 200, r.text
    return r.json()


def wait_final(
    svc: ServiceProcess, execution_id: int, timeout: float = 90, user: str = "alice"
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = status(svc, execution_id, user)
        if current["status"] in FINAL:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.3)


def outputs(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def test_execute_notebook_runs_into_a_new_notebook(svc: ServiceProcess, hub: Hub) -> None:
    path = write_notebook(hub, "alice", "runs/hello.ipynb", "print(greeting * 2)", "x = 1")
    r = execute(svc, "alice", path, parameters={"greeting": "ho"})
    assert r.status_code == 202, r.text
    check_response("/execute-notebook", r)
    body = r.json()
    assert body["status"] in ("running", "success")
    execution_id = body["execution_id"]
    assert body["status_url"].endswith(f"execution-status/{execution_id}")
    assert body["output_path"] == f"runs/hello-run-{execution_id}.ipynb"
    assert body["notebook_url"].endswith(
        f"/user/alice/lab/tree/runs/hello-run-{execution_id}.ipynb"
    )
    # the answer came once the first cell had run
    assert body["execution"]["progress"]["cells_done"] >= 1 or body["status"] != "running"
    final = wait_final(svc, execution_id)
    r = svc.request("GET", f"execution-status/{execution_id}", "alice")
    check_response("/execution-status/{id}", r)
    assert final["status"] == "success", final
    assert final["error"] is None
    assert final["progress"]["cells_done"] == final["progress"]["cells_total"] >= 3
    assert final["end_time"] and final["duration"].endswith("s")
    assert final["parameters"] == {"greeting": "ho"}
    out = hub.user_dir("alice") / body["output_path"]
    assert "hoho" in outputs(out)
    # the input is left as it was
    assert outputs(hub.user_dir("alice") / path) == ""
    r = svc.request("GET", f"execution/{execution_id}/log", "alice")
    assert r.status_code == 200, r.text
    check_response("/execution/{id}/log", r)
    assert "hoho" in r.json()["log"]


def test_execute_in_place_answers_when_done(svc: ServiceProcess, hub: Hub) -> None:
    path = write_notebook(hub, "alice", "inplace.ipynb", "print('in place', greeting)")
    r = svc.request(
        "POST", "execute", "alice", json={"notebook_path": path, "kernel_name": "python3"}
    )
    assert r.status_code == 200, r.text
    check_response("/execute", r)
    assert r.json()["status"] == "success"
    assert r.json()["output_path"] == path
    assert "in place hi" in outputs(hub.user_dir("alice") / path)


@pytest.mark.parametrize(
    "source, kernel, reason, name",
    [
        ("1/0", "python3", "cell error", "ZeroDivisionError"),
        ("import os; os._exit(1)", "python3", "kernel died", None),
        ("print(1)", "no-such-kernel", "kernel not found", None),
    ],
)
def test_failures_carry_their_reason(
    svc: ServiceProcess, hub: Hub, source: str, kernel: str, reason: str, name: str | None
) -> None:
    path = write_notebook(hub, "alice", f"fail/{reason.replace(' ', '_')}.ipynb", "a = 1", source)
    r = execute(svc, "alice", path, kernel_name=kernel)
    assert r.status_code == 202, r.text
    final = wait_final(svc, r.json()["execution_id"])
    assert final["status"] == "failed"
    assert final["error"]["reason"] == reason, final
    if name:
        assert final["error"]["name"] == name
        assert final["error"]["cell_index"] is not None


def test_timeout_fails_the_run(svc: ServiceProcess, hub: Hub) -> None:
    path = write_notebook(hub, "alice", "slow.ipynb", "import time; time.sleep(60)")
    r = execute(svc, "alice", path, timeout=3)
    final = wait_final(svc, r.json()["execution_id"])
    assert final["status"] == "failed"
    assert final["error"]["reason"] == "timeout"


def test_cancel_and_owner_scoping(svc: ServiceProcess, hub: Hub) -> None:
    path = write_notebook(
        hub, "alice", "cancel-me.ipynb", "print('go')", "import time; time.sleep(60)"
    )
    r = execute(svc, "alice", path)
    execution_id = r.json()["execution_id"]
    # another user neither sees nor cancels it
    assert svc.request("GET", f"execution-status/{execution_id}", "bob").status_code == 404
    assert svc.request("POST", f"execution/{execution_id}/cancel", "bob").status_code == 404
    assert svc.request("GET", f"execution/{execution_id}/log", "bob").status_code == 404
    ids = [e["execution_id"] for e in svc.request("GET", "executions", "bob").json()["executions"]]
    assert execution_id not in ids
    assert status(svc, execution_id)["status"] == "running"
    # a templates admin sees it
    assert svc.request("GET", f"execution-status/{execution_id}", "carol").status_code == 200
    r = svc.request("POST", f"execution/{execution_id}/cancel", "alice")
    assert r.status_code == 200, r.text
    check_response("/execution/{id}/cancel", r)
    final = wait_final(svc, execution_id)
    assert final["status"] == "cancelled"
    r = svc.request("POST", f"execution/{execution_id}/cancel", "alice")
    assert r.status_code == 409


def test_listing_filters_and_pages(svc: ServiceProcess, hub: Hub) -> None:
    r = svc.request("GET", "executions", "alice", params={"limit": 2})
    assert r.status_code == 200
    check_response("/executions", r)
    page = r.json()
    assert len(page["executions"]) == 2 and page["total"] >= 5
    r = svc.request("GET", "executions", "alice", params={"status": "failed"})
    assert {e["status"] for e in r.json()["executions"]} == {"failed"}
    assert svc.request("GET", "executions", "alice", params={"status": "odd"}).status_code == 400
    assert (
        svc.request("GET", "executions", "alice", params={"all": "true"}).json()["total"]
        == (svc.request("GET", "executions", "alice").json()["total"])
    )
    assert svc.request("GET", "executions", "alice", params={"username": "bob"}).status_code == 403
    r = svc.request("GET", "executions", "admin", params={"username": "alice"})
    assert r.json()["total"] == page["total"]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"notebook_path": "../x.ipynb"}, 400),
        ({"notebook_path": "/etc/x.ipynb"}, 400),
        ({"notebook_path": "not-a-notebook.txt"}, 400),
        ({"notebook_path": "missing.ipynb"}, 404),
        ({"notebook_path": "p.ipynb", "timeout": -1}, 400),
        ({"notebook_path": "p.ipynb", "timeout": "soon"}, 400),
        ({"notebook_path": "p.ipynb", "parameters": {"a b": 1}}, 400),
        ({"notebook_path": "p.ipynb", "parameters": [1]}, 400),
        ({"notebook_path": "p.ipynb", "output_path": "../../out.ipynb"}, 400),
        ({"notebook_path": "p.ipynb", "username": "bob"}, 403),
        ({}, 400),
    ],
)
def test_bad_execute_requests_record_nothing(
    svc: ServiceProcess, hub: Hub, body: dict[str, Any], code: int
) -> None:
    write_notebook(hub, "alice", "p.ipynb", "print(1)")
    before = svc.request("GET", "executions", "alice").json()["total"]
    r = svc.request("POST", "execute-notebook", "alice", json={"kernel_name": "python3", **body})
    assert r.status_code == code, r.text
    assert r.json()["status"] == "error"
    assert svc.request("GET", "executions", "alice").json()["total"] == before


def rerun(svc: ServiceProcess, execution_id: int, user: str, **body: Any) -> requests.Response:
    return svc.request("POST", f"execution/{execution_id}/rerun", user, json=body)


def test_a_run_remembers_its_template_and_runs_again(svc: ServiceProcess, hub: Hub) -> None:
    svc.publish("reruns/again.ipynb", make_notebook(body="print('trees', n_estimators)"))
    r = svc.request(
        "POST",
        "create-from-template",
        "alice",
        json={
            "template_name": "reruns/again.ipynb",
            "target_directory": "reruns",
            "parameters": {"n_estimators": 250},
            "overwrite": True,
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    path = created["new_notebook_path"]
    first = execute(svc, "alice", path, parameters={"use_gpu": True}).json()["execution_id"]
    final = wait_final(svc, first)
    assert final["status"] == "success", final
    assert final["template_name"] == "reruns/again.ipynb"
    assert final["template_version"] == created["template_version"] >= 1
    assert final["parameters"] == {**created["parameters_applied"], "use_gpu": True}
    assert final["rerun_of"] is None

    r = rerun(svc, first, "alice")
    assert r.status_code == 202, r.text
    check_response("/execution/{id}/rerun", r)
    again = wait_final(svc, r.json()["execution_id"])
    assert again["status"] == "success", again
    assert again["rerun_of"] == first
    assert again["parameters"] == final["parameters"]
    assert again["output_path"] not in (final["output_path"], path)
    assert (again["template_version"], again["kernel_name"]) == (
        final["template_version"],
        final["kernel_name"],
    )
    assert "trees 250" in outputs(hub.user_dir("alice") / again["output_path"])

    r = rerun(svc, first, "alice", parameters={"n_estimators": 7})
    assert r.status_code == 202, r.text
    edited = wait_final(svc, r.json()["execution_id"])
    assert edited["parameters"] == {**final["parameters"], "n_estimators": 7}
    assert "trees 7" in outputs(hub.user_dir("alice") / edited["output_path"])

    before = svc.request("GET", "executions", "alice").json()["total"]
    # someone else's run: unknown to a user, and the admin scope alone does not run code
    # as its owner
    assert rerun(svc, first, "bob").status_code == 404
    assert rerun(svc, first, "carol").status_code == 403
    for body, code in [
        ({"parameters": [1]}, 400),
        ({"parameters": {"a b": 1}}, 400),
        ({"timeout": -1}, 400),
        ({"overwrite": "yes"}, 400),
        ({"output_path": "../out.ipynb"}, 400),
    ]:
        r = rerun(svc, first, "alice", **body)
        assert r.status_code == code, (body, r.text)
        assert r.json()["status"] == "error"
    assert svc.request("POST", "execution/999999/rerun", "alice").status_code == 404
    assert svc.request("POST", "execution/x/rerun", "alice").status_code == 400
    assert svc.request("GET", "executions", "alice").json()["total"] == before


def test_the_log_outlives_the_server(svc: ServiceProcess, hub: Hub) -> None:
    """The server keeps a run's log only while it runs; the end of it is kept with the
    record when the run ends."""
    marker = uuid.uuid4().hex
    path = write_notebook(hub, "bob", "logged.ipynb", f"print('{marker}')")
    execution_id = execute(svc, "bob", path).json()["execution_id"]
    assert wait_final(svc, execution_id, user="bob")["status"] == "success"
    live = svc.request("GET", f"execution/{execution_id}/log", "bob").json()
    hub.stop_server("bob")
    r = svc.request("GET", f"execution/{execution_id}/log", "bob")
    assert r.status_code == 200, r.text
    check_response("/execution/{id}/log", r)
    kept = r.json()
    assert marker in kept["log"]
    assert kept["next_offset"] == live["next_offset"]
    assert kept["log"] == live["log"][len(live["log"]) - len(kept["log"]) :]
    r = svc.request(
        "GET", f"execution/{execution_id}/log", "bob", params={"offset": kept["next_offset"]}
    )
    assert r.json()["log"] == ""
    assert svc.request("GET", f"execution/{execution_id}/log", "alice").status_code == 404


def test_a_service_restart_does_not_lose_a_run(svc: ServiceProcess, hub: Hub) -> None:
    path = write_notebook(
        hub,
        "alice",
        "survivor.ipynb",
        "print('start')",
        "import time; time.sleep(6)",
        "print('end')",
    )
    execution_id = execute(svc, "alice", path).json()["execution_id"]
    svc.stop()
    time.sleep(1)
    svc.start(ARGS)
    final = wait_final(svc, execution_id)
    assert final["status"] == "success", final


def test_a_stopped_server_fails_its_runs(svc: ServiceProcess, hub: Hub, tmp_path: Path) -> None:
    hub.start_server("bob")
    pids_file = tmp_path / "pids"
    path = write_notebook(
        hub,
        "bob",
        "long.ipynb",
        f"PIDS_FILE = {str(pids_file)!r}\n" + PIDS_CELL,
        "import time; time.sleep(120)",
    )
    execution_id = execute(svc, "bob", path).json()["execution_id"]
    assert status(svc, execution_id, "bob")["status"] == "running"
    kernel_pid, runner_pid = (int(p) for p in asyncio.run(wait_file(pids_file)).split())
    started = time.monotonic()
    hub.stop_server("bob")
    final = wait_final(svc, execution_id, timeout=60, user="bob")
    assert final["status"] == "failed"
    assert final["error"]["reason"] == "server stopped"
    assert time.monotonic() - started < 60
    # and the run really ended: JupyterHub stops a server with SIGINT, on which
    # jupyter_server exits without running extensions' shutdown; the runner (in a
    # session of its own) notices its parent is gone and takes its kernel with it
    assert not wait_gone(runner_pid, kernel_pid, timeout=15)


def test_a_probe_of_the_landing_page_is_refused_without_a_warning(svc: ServiceProcess) -> None:
    """JupyterHub checks every service's URL each service_check_interval, without
    credentials: a routine 403 that the service logs at debug level, not as a warning.
    A request that does send a (bad) token is still a warning."""
    probe, bad = uuid.uuid4().hex, uuid.uuid4().hex
    r = requests.get(f"{svc.direct_url}?probe={probe}", timeout=30)
    assert r.status_code == 403 and r.json()["status"] == "error"
    r = requests.get(
        f"{svc.direct_url}?probe={bad}", headers={"Authorization": "token nope"}, timeout=30
    )
    assert r.status_code == 403

    def lines(marker: str) -> list[str]:
        return [line for line in svc.log.read_text().splitlines() if marker in line]

    deadline = time.monotonic() + 30
    while not (lines(probe) and lines(bad)):  # the request log is written after the answer
        assert time.monotonic() < deadline, "the requests were not logged"
        time.sleep(0.1)
    assert all(line.startswith("[D") for line in lines(probe)), lines(probe)
    assert any(line.startswith("[W") for line in lines(bad)), lines(bad)
