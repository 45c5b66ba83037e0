"""Jobs through the Hub service, with a real JupyterHub and users' real servers: a job
made from a template runs when asked and on its schedule, each run a notebook in the
owner's server run in place; pause, change, delete; who may do what; bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from fixtures.hub import Hub, ServiceProcess
from notebooks import make_notebook
from openapi_check import check_response

from jupyterhub_templates.statuses import FINAL

TEMPLATE = "jobs/trees.ipynb"


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("jobs-api")
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    # schedules every two seconds: the shortest interval allowed is lowered for them
    service.start(["--JobScheduler.min_interval=1", "--JobScheduler.tick=0.5"])
    service.publish(TEMPLATE, make_notebook(body="print('trees', n_estimators)"))
    yield service
    service.stop()


def new_job(svc: ServiceProcess, user: str = "alice", **body: Any) -> dict[str, Any]:
    body = {
        "name": "nightly trees",
        "template_name": TEMPLATE,
        "parameters": {"n_estimators": 3},
        "target_directory": "jobs",
        "kernel_name": "python3",
        **body,
    }
    r = svc.request("POST", "jobs", user, json=body)
    assert r.status_code == 201, r.text
    check_response("/jobs", r)
    return r.json()


def runs(svc: ServiceProcess, job_id: int, user: str = "alice") -> list[dict[str, Any]]:
    r = svc.request("GET", f"jobs/{job_id}/runs", user, params={"limit": 500})
    assert r.status_code == 200, r.text
    check_response("/jobs/{id}/runs", r)
    return r.json()["runs"]


def wait_runs(svc: ServiceProcess, job_id: int, done: int, timeout: float = 120) -> list[dict]:
    """The job's runs once ``done`` of them have an execution that ended."""
    deadline = time.monotonic() + timeout
    while True:
        found = runs(svc, job_id)
        ended = [r for r in found if r.get("execution", {}).get("status") in FINAL]
        if len(ended) >= done:
            return found
        failed = [r for r in found if r["state"] == "failed"]
        assert not failed, failed
        assert time.monotonic() < deadline, found
        time.sleep(0.3)


def outputs(hub: Hub, user: str, path: str) -> str:
    nb = nbformat.read(str(hub.user_dir(user) / path), as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def test_a_job_runs_when_asked(svc: ServiceProcess, hub: Hub) -> None:
    job = new_job(svc, name_pattern="{job}-{run}.ipynb", limits={"memory_mb": 1536})
    assert job["owner"] == "alice" and job["schedule"] is None and job["next_run_at"] is None
    assert job["limits"] == {"memory_mb": 1536}
    r = svc.request("POST", f"jobs/{job['id']}/run", "alice")
    assert r.status_code == 202, r.text
    check_response("/jobs/{id}/run", r)
    run_id = r.json()["id"]
    (run,) = wait_runs(svc, job["id"], 1)
    assert run["id"] == run_id and run["slot"] is None
    assert run["state"] == "dispatched"
    assert run["notebook_path"] == f"jobs/nightly-trees-{run_id}.ipynb"
    execution = run["execution"]
    assert execution["status"] == "success", execution
    assert execution["in_place"] and execution["output_path"] == run["notebook_path"]
    assert execution["template_name"] == TEMPLATE and execution["template_version"] >= 1
    assert execution["parameters"]["n_estimators"] == 3
    # the job's limits are its runs' (a retry of one asks them again)
    assert execution["limits"] == {"memory_mb": 1536}
    assert "trees 3" in outputs(hub, "alice", run["notebook_path"])
    r = svc.request("GET", f"jobs/{job['id']}", "alice")
    check_response("/jobs/{id}", r)
    assert r.json()["last_run"]["id"] == run_id


def test_a_schedule_fires_each_slot_once_until_paused(svc: ServiceProcess, hub: Hub) -> None:
    job = new_job(svc, name="every two seconds")
    r = svc.request(
        "PATCH",
        f"jobs/{job['id']}",
        "alice",
        json={"schedule": "* * * * * */2", "overlap": "queue", "timezone": "Europe/Berlin"},
    )
    assert r.status_code == 200, r.text
    check_response("/jobs/{id}", r)
    assert r.json()["next_run_at"] is not None and r.json()["name"] == "every two seconds"
    found = wait_runs(svc, job["id"], 3)
    r = svc.request("POST", f"jobs/{job['id']}/pause", "alice")
    assert r.status_code == 200, r.text
    check_response("/jobs/{id}/pause", r)
    assert r.json()["active"] is False and r.json()["next_run_at"] is None
    slots = [run["slot"] for run in found]
    assert all(slots) and len(slots) == len(set(slots))
    executions = [run["execution_id"] for run in found if run["execution_id"]]
    assert len(executions) == len(set(executions))
    for run in found:
        if run.get("execution", {}).get("status") in FINAL:
            assert run["execution"]["status"] == "success", run
            # named in the job's time zone: Berlin is UTC+1 in December
            assert run["notebook_path"].startswith("jobs/every-two-seconds-")
    r = svc.request("POST", f"jobs/{job['id']}/resume", "alice")
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["next_run_at"]
    svc.request("POST", f"jobs/{job['id']}/pause", "alice")


def test_who_may_see_and_run_a_job(svc: ServiceProcess) -> None:
    job = new_job(svc, name="private")
    path = f"jobs/{job['id']}"
    assert svc.request("GET", path, "bob").status_code == 404
    assert svc.request("POST", f"{path}/run", "bob").status_code == 404
    assert svc.request("DELETE", path, "bob").status_code == 404
    ids = [j["id"] for j in svc.request("GET", "jobs", "bob").json()["jobs"]]
    assert job["id"] not in ids
    r = svc.request("GET", "jobs", "alice")
    check_response("/jobs", r)
    assert job["id"] in [j["id"] for j in r.json()["jobs"]]
    # the admin scope sees and pauses anyone's, but runs code as them only with access
    # to their server
    assert svc.request("GET", path, "carol").status_code == 200
    assert svc.request("POST", f"{path}/pause", "carol").status_code == 200
    assert svc.request("POST", f"{path}/run", "carol").status_code == 403
    assert svc.request("PATCH", path, "carol", json={"name": "mine"}).status_code == 403
    assert svc.request("GET", "jobs", "carol", params={"all": "true"}).json()["total"] >= 1
    r = svc.request("DELETE", path, "alice")
    assert r.status_code == 204
    assert svc.request("GET", path, "alice").status_code == 404


@pytest.mark.parametrize(
    "body, code",
    [
        ({"template_name": "jobs/missing.ipynb"}, 404),
        ({"parameters": {"no_such_parameter": 1}}, 400),
        ({"parameters": {"n_estimators": "many"}}, 400),
        ({"schedule": "every day"}, 400),
        ({"schedule": "* * * * * *", "timezone": "Nowhere/Land"}, 400),
        ({"name_pattern": "{job!r}.ipynb"}, 400),
        ({"name": ""}, 400),
        ({"limits": {"memory_mb": -1}}, 400),
        ({"limits": {"gpus": 1}}, 400),
        ({"username": "bob"}, 403),
    ],
)
def test_bad_jobs_are_refused_and_record_nothing(
    svc: ServiceProcess, body: dict[str, Any], code: int
) -> None:
    before = svc.request("GET", "jobs", "alice").json()["total"]
    base = {
        "name": "bad",
        "template_name": TEMPLATE,
        "parameters": {"n_estimators": 3},
        "kernel_name": "python3",
    }
    r = svc.request("POST", "jobs", "alice", json={**base, **body})
    assert r.status_code == code, r.text
    assert r.json()["status"] == "error"
    assert svc.request("GET", "jobs", "alice").json()["total"] == before
    assert svc.request("GET", "jobs/x", "alice").status_code == 400
    assert svc.request("GET", "jobs/99999", "alice").status_code == 404
