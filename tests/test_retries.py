"""Retries: a failed run is tried again, after a backoff, when it failed for a reason
that can pass (its kernel died, its server stopped; a timeout when asked), at most as
often as asked, each attempt an execution of its own naming the one it repeats.

The policy and the bookkeeping on their own (a SQLite database), then through the Hub
service with a real JupyterHub, users' real servers and kernels: a kernel that dies on
the first attempt only, timeouts with and without ``on_timeout``, a cell error, a job's
run, and bad input.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.hub import Hub, ServiceProcess, local_service_env
from notebooks import make_notebook, write_python_notebook
from openapi_check import check_response
from records import new_execution

from jupyterhub_templates.db import Database
from jupyterhub_templates.errors import InvalidInput
from jupyterhub_templates.execution.records import ExecutionRecords
from jupyterhub_templates.execution.retries import MAX_DELAY, RetryPolicy, check_retries
from jupyterhub_templates.statuses import FINAL

# -- the policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        ("twice", "must be an object"),
        ({"backoff": 3}, "retries.max"),
        ({"max": 6}, "from 0 to 5"),
        ({"max": -1}, "from 0 to 5"),
        ({"max": True}, "retries.max"),
        ({"max": 1, "backoff": -1}, "retries.backoff"),
        ({"max": 1, "backoff": float("nan")}, "retries.backoff"),
        ({"max": 1, "backoff": MAX_DELAY + 1}, "retries.backoff"),
        ({"max": 1, "on_timeout": "yes"}, "on_timeout"),
        ({"max": 1, "every": 3}, "unknown field 'every'"),
    ],
)
def test_bad_policies_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_retries(value, cap=5, default_backoff=30)


def test_the_policy_retries_what_can_pass_with_a_growing_backoff() -> None:
    assert check_retries(None, cap=5, default_backoff=30) is None
    assert check_retries({"max": 0}, cap=5, default_backoff=30) is None
    policy = check_retries({"max": 2}, cap=5, default_backoff=30)
    assert policy == RetryPolicy(2, 30.0, False)
    assert RetryPolicy.from_json(policy.to_json()) == policy
    assert policy.retries("kernel died", 1) and policy.retries("server stopped", 2)
    assert not policy.retries("kernel died", 3)  # two retries made: no third
    assert not policy.retries("cell error", 1) and not policy.retries("timeout", 1)
    assert RetryPolicy(1, 1, on_timeout=True).retries("timeout", 1)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert RetryPolicy(9, 3000).delay(5).total_seconds() == MAX_DELAY


@pytest.fixture
def records(tmp_path: Path) -> Iterator[ExecutionRecords]:
    db = Database(f"sqlite:///{tmp_path / 'retries.sqlite'}")
    db.upgrade()
    yield ExecutionRecords(db)
    db.dispose()


def _run(records: ExecutionRecords, retries: dict | None, attempt: int = 1) -> tuple[int, str]:
    return new_execution(records, "alice", retries=retries, attempt=attempt)


def _fail(records: ExecutionRecords, remote: str, reason: str) -> dict[str, Any]:
    model = {"id": remote, "status": "failed", "error": {"reason": reason}}
    result = records.apply_remote("alice", model, "boot")
    assert result is not None
    return result[1]


def test_the_next_attempt_is_due_with_the_failure_and_made_once(records) -> None:
    policy = {"max": 1, "backoff": 0, "on_timeout": False}
    died, remote = _run(records, policy)
    before = datetime.datetime.now(datetime.timezone.utc)
    ended = _fail(records, remote, "kernel died")
    assert ended["retry_at"] is not None and ended["attempt"] == 1
    assert datetime.datetime.fromisoformat(ended["retry_at"]) >= before - datetime.timedelta(1)
    assert records.retries_due() == [died]
    # the other failures get none: a cell error, a timeout not asked for, a last attempt
    for reason, attempt in (("cell error", 1), ("timeout", 1), ("kernel died", 2)):
        _, remote = _run(records, policy, attempt)
        assert _fail(records, remote, reason)["retry_at"] is None, reason
    _, remote = _run(records, None)
    assert _fail(records, remote, "kernel died")["retry_at"] is None
    # a cancelled run is not retried either
    cancelled, _ = _run(records, policy)
    assert records.finish(cancelled, "cancelled")["retry_at"] is None
    stopped, _ = _run(records, policy)
    assert records.finish(stopped, "failed", "server stopped")["retry_at"] is not None
    assert sorted(records.retries_due()) == [died, stopped]
    # made: no longer due; the plan of a made retry names it
    description, made = records.retry_plan(died)
    assert description["execution_id"] == died and made is None
    attempt, _ = _run(records, policy, 2)
    records.retried(died, attempt)
    assert records.retries_due() == [stopped]
    assert records.retry_plan(died) == (None, None)
    records.retried(stopped, None)  # given up
    assert records.retries_due() == []


# -- through the service -----------------------------------------------------------------


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("retries")
    service = ServiceProcess(hub, local_service_env(workdir), workdir)
    service.start(["--JobScheduler.tick=0.3", "--Executions.first_cell_timeout=5"])
    yield service
    service.stop()


def _status(svc: ServiceProcess, execution_id: int) -> dict[str, Any]:
    r = svc.request("GET", f"execution-status/{execution_id}", "alice")
    assert r.status_code == 200, r.text
    check_response("/execution-status/{id}", r)
    return r.json()


def _final(svc: ServiceProcess, execution_id: int) -> dict[str, Any]:
    return svc.wait_final(execution_id)


def _attempts(svc: ServiceProcess, first: int, count: int, timeout: float = 120) -> list[dict]:
    """The chain of attempts from ``first``, once it has ``count`` ended ones."""
    deadline = time.monotonic() + timeout
    while True:
        r = svc.request("GET", "executions", "alice", params={"limit": 500})
        assert r.status_code == 200, r.text
        by_retry_of = {e["retry_of"]: e for e in r.json()["executions"] if e["retry_of"]}
        chain = [_status(svc, first)]
        while chain[-1]["execution_id"] in by_retry_of and len(chain) < count:
            chain.append(by_retry_of[chain[-1]["execution_id"]])
        if len(chain) == count and all(e["status"] in FINAL for e in chain):
            return [_status(svc, e["execution_id"]) for e in chain]
        assert time.monotonic() < deadline, [(e["execution_id"], e["status"]) for e in chain]
        time.sleep(0.3)


def _submit(svc: ServiceProcess, path: str, **body: Any) -> int:
    return svc.execute_notebook("alice", path, **body)


def _dies_once(marker: Path) -> str:
    return (
        "import os, pathlib\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text('died once')\n"
        "    os._exit(1)\n"
        "print('second time lucky')"
    )


def test_a_kernel_that_died_is_tried_again(svc: ServiceProcess, hub: Hub, tmp_path) -> None:
    path = "retries/dies-once.ipynb"
    write_python_notebook(
        hub.user_dir("alice") / path,
        _dies_once(tmp_path / "marker"),
        "import resource; print('limit', resource.getrlimit(resource.RLIMIT_AS)[0])",
    )
    # with limits of its own (this service has none): each attempt runs with them
    limits = {"memory_mb": 2048}
    first = _submit(svc, path, retries={"max": 2, "backoff": 0.5}, limits=limits)
    died, again = _attempts(svc, first, 2)
    assert died["status"] == "failed" and died["error"]["reason"] == "kernel died", died
    assert died["attempt"] == 1 and died["retry_at"] is None  # made
    assert died["retries"] == {"max": 2, "backoff": 0.5, "on_timeout": False}
    assert again["status"] == "success", again
    assert again["attempt"] == 2 and again["retry_of"] == first and again["retry_at"] is None
    assert again["retries"] == died["retries"] and again["notebook_path"] == path
    # each attempt has its own output, the failed one's kept
    assert again["output_path"] != died["output_path"]
    printed = (hub.user_dir("alice") / again["output_path"]).read_text()
    assert "second time lucky" in printed
    assert died["limits"] == again["limits"] == limits
    assert f"limit {2048 * 1024 * 1024}" in printed
    # and so does a rerun of it that asks nothing else
    r = svc.request("POST", f"execution/{again['execution_id']}/rerun", "alice", json={})
    assert r.status_code == 202, r.text
    rerun = _final(svc, r.json()["execution_id"])
    assert rerun["status"] == "success" and rerun["limits"] == limits, rerun
    assert (
        f"limit {2048 * 1024 * 1024}" in (hub.user_dir("alice") / rerun["output_path"]).read_text()
    )


def test_timeouts_are_retried_only_when_asked(svc: ServiceProcess, hub: Hub) -> None:
    path = "retries/slow.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, "import time; time.sleep(60)")
    asked = _submit(svc, path, timeout=2, retries={"max": 1, "backoff": 0, "on_timeout": True})
    not_asked = _submit(svc, path, timeout=2, retries={"max": 3, "backoff": 0})
    fails = "retries/fails.ipynb"
    write_python_notebook(hub.user_dir("alice") / fails, "1/0")
    cell_error = _submit(svc, fails, retries={"max": 3, "backoff": 0})
    # once as asked, then no more: the last attempt is due no retry
    one, two = _attempts(svc, asked, 2)
    assert [a["error"]["reason"] for a in (one, two)] == ["timeout", "timeout"]
    assert two["attempt"] == 2 and two["retry_at"] is None
    # the others end without a next attempt (decided with their end, nothing to wait for)
    for execution_id, reason in ((not_asked, "timeout"), (cell_error, "cell error")):
        final = _final(svc, execution_id)
        assert final["error"]["reason"] == reason and final["retry_at"] is None, final
    r = svc.request("GET", "executions", "alice", params={"limit": 500})
    retried = {e["retry_of"] for e in r.json()["executions"]}
    assert not_asked not in retried and cell_error not in retried


def test_a_jobs_run_follows_its_retry(svc: ServiceProcess, hub: Hub, tmp_path) -> None:
    svc.publish(
        "retries/dies-once.ipynb",
        make_notebook(parameters="marker_path = ''", body=_dies_once(tmp_path / "job-marker")),
    )
    body = {
        "name": "dies once",
        "template_name": "retries/dies-once.ipynb",
        "target_directory": "retries-jobs",
        "kernel_name": "python3",
        "retries": {"max": 1, "backoff": 0.5},
    }
    r = svc.request("POST", "jobs", "alice", json=body)
    assert r.status_code == 201, r.text
    check_response("/jobs", r)
    job = r.json()
    assert job["retries"] == {"max": 1, "backoff": 0.5, "on_timeout": False}
    r = svc.request("POST", f"jobs/{job['id']}/run", "alice")
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 120
    while True:
        r = svc.request("GET", f"jobs/{job['id']}/runs", "alice")
        assert r.status_code == 200, r.text
        check_response("/jobs/{id}/runs", r)
        (run,) = r.json()["runs"]
        execution = run.get("execution") or {}
        if execution.get("status") in FINAL and execution.get("retry_at") is None:
            if execution["attempt"] == 2:
                break
        assert time.monotonic() < deadline, run
        time.sleep(0.3)
    # the run's execution is its last attempt; the first is in the history
    assert execution["status"] == "success", execution
    first = _status(svc, execution["retry_of"])
    assert first["error"]["reason"] == "kernel died" and first["attempt"] == 1
    assert first["notebook_path"] == execution["notebook_path"] == run["notebook_path"]


@pytest.mark.parametrize(
    "retries",
    ["twice", {"max": 99}, {"max": 1, "backoff": -5}, {"max": 1, "then": "stop"}],
)
def test_bad_retries_are_refused_and_nothing_is_recorded(
    svc: ServiceProcess, hub: Hub, retries: Any
) -> None:
    path = "retries/fine.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, "print('fine')")
    before = svc.request("GET", "executions", "alice").json()["total"]
    for route in ("execute-notebook", "execute"):
        r = svc.request(
            "POST",
            route,
            "alice",
            json={"notebook_path": path, "kernel_name": "python3", "retries": retries},
        )
        assert r.status_code == 400, r.text
        assert "retries" in r.json()["message"], r.text
    r = svc.request(
        "POST",
        "jobs",
        "alice",
        json={"name": "x", "template_name": "a/b.ipynb", "retries": retries},
    )
    assert r.status_code == 400 and "retries" in r.json()["message"], r.text
    assert svc.request("GET", "executions", "alice").json()["total"] == before
