"""The audit trail against a real Hub and users' servers: every state-changing request,
allowed or refused, is a row (GET /audit, templates admins only) and a JSON log line;
``jupyterhub-templates sync`` records itself; old events are purged."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.hub import Hub, ServiceProcess, clean_env, local_service_env, running_service
from notebooks import make_notebook, write_python_notebook

from jupyterhub_templates.audit import AuditTrail
from jupyterhub_templates.db import Database
from jupyterhub_templates.db.models import AuditEvent

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("audit")
    with running_service(
        hub, local_service_env(workdir), workdir, ["--Executions.first_cell_timeout=30"]
    ) as service:
        yield service


def events(svc: ServiceProcess, **params: Any) -> list[dict[str, Any]]:
    r = svc.request("GET", "audit", "admin", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["events"]


def wait_events(svc: ServiceProcess, count: int, **params: Any) -> list[dict[str, Any]]:
    """The events once at least ``count`` match (rows are written after the answer)."""
    deadline = time.monotonic() + 30
    while len(found := events(svc, **params)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    return found


def upload(svc: ServiceProcess, user: str, name: str, **data: str) -> Any:
    return svc.request(
        "POST",
        "minio/upload-template",
        user,
        files={"file": (name, make_notebook("x = 1", body="print(x)"))},
        data={"category": "audit", **data},
    )


def test_every_change_and_every_refusal_is_recorded(svc: ServiceProcess, hub: Hub) -> None:
    assert upload(svc, "alice", "t1.ipynb").status_code == 403
    assert upload(svc, "admin", "t1.ipynb").status_code == 201
    assert upload(svc, "admin", "t1.ipynb", overwrite="true").status_code == 200
    r = svc.request(
        "POST",
        "create-from-template",
        "alice",
        json={"template_name": "audit/t1.ipynb", "target_directory": "audit", "new_name": "mine"},
    )
    assert r.status_code == 201, r.text
    created = r.json()["new_notebook_path"]
    r = svc.request(  # a Hub admin may reach alice's server: allowed, for alice
        "POST",
        "create-from-template",
        "admin",
        json={"template_name": "audit/t1.ipynb", "new_name": "for-alice", "username": "alice"},
    )
    assert r.status_code == 201, r.text
    r = svc.request(  # carol may not: refused, and recorded as an attempt for alice
        "POST",
        "create-from-template",
        "carol",
        json={"template_name": "audit/t1.ipynb", "new_name": "nope", "username": "alice"},
    )
    assert r.status_code == 403
    write_python_notebook(
        hub.user_dir("alice") / "audit/slow.ipynb", "import time; time.sleep(60)", params="x = 1"
    )
    r = svc.request(
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": "audit/slow.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    assert svc.request("POST", f"execution/{execution_id}/cancel", "alice").status_code == 200
    r = svc.request(
        "DELETE",
        "minio/delete-template/audit/t1.ipynb",
        "admin",
        headers={"X-Request-Id": "audit-delete-1"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-Id"] == "audit-delete-1"

    found = wait_events(svc, 9)
    by = {(e["action"], e["username"], e["status_code"]): e for e in found}
    refused = by[("upload", "alice", 403)]
    assert refused["outcome"] == "not_allowed" and refused["scope"] is None
    assert "custom:templates:admin" in refused["reason"]
    stored = by[("upload", "admin", 201)]
    assert stored["target"] == "audit/t1.ipynb@1"
    assert stored["scope"] == "custom:templates:admin" and stored["outcome"] == "success"
    assert by[("replace", "admin", 200)]["target"] == "audit/t1.ipynb@2"
    mine = by[("create", "alice", 201)]
    assert mine["target"] == created and mine["on_behalf_of"] is None
    assert mine["scope"] == "access:services!service=templates"
    for_alice = by[("create", "admin", 201)]
    assert for_alice["on_behalf_of"] == "alice"
    assert for_alice["scope"] == "access:servers!user=alice"
    attempt = by[("create", "carol", 403)]
    assert attempt["on_behalf_of"] == "alice" and attempt["scope"] is None
    assert by[("execute", "alice", 202)]["target"] == f"execution {execution_id}"
    assert by[("cancel", "alice", 200)]["target"] == f"execution {execution_id}"
    deleted = by[("delete", "admin", 200)]
    assert deleted["target"] == "audit/t1.ipynb"
    assert deleted["request_id"] == "audit-delete-1"
    assert all(e["client"] for e in found)
    # newest first
    times = [e["time"] for e in found]
    assert times == sorted(times, reverse=True)

    # filters
    mine_only = events(svc, username="alice", action="create")
    assert [e["target"] for e in mine_only] == [created]
    assert events(svc, target="audit/t1.ipynb", action="delete")[0]["username"] == "admin"
    future = (
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    ).isoformat()
    assert events(svc, since=future) == []
    assert svc.request("GET", "audit", "admin", params={"since": "yesterday"}).status_code == 400
    assert svc.request("GET", "audit", "admin", params={"action": "nope"}).status_code == 400
    # only templates admins read it
    r = svc.request("GET", "audit", "alice")
    assert r.status_code == 403

    # one JSON line per event in the service's log
    lines = [
        json.loads(line.split("] ", 1)[1])
        for line in svc.log.read_text().splitlines()
        if "jupyterhub_templates.audit]" in line
    ]
    assert len(lines) == len(found)
    assert {(e["action"], e["username"]) for e in lines} == {
        (e["action"], e["username"]) for e in found
    }


def test_sync_records_itself(svc: ServiceProcess, hub: Hub) -> None:
    env = clean_env()
    env.update(hub.service_env())
    env.update(svc.env)
    subprocess.run(
        [sys.executable, "-m", "jupyterhub_templates.service", "sync"],
        env=env,
        cwd=svc.workdir,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (sync,) = events(svc, action="sync")
    assert sync["outcome"] == "success" and sync["username"] is None
    assert sync["reason"].startswith("added ")


def test_old_events_are_purged(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite'}")
    db.upgrade()
    trail = AuditTrail(db, None, retention_days=30)
    now = datetime.datetime.now(datetime.timezone.utc)
    for days in (45, 31, 29, 0):
        trail.record_now(
            time=now - datetime.timedelta(days=days),
            username="alice",
            action="create",
            outcome="success",
            status_code=201,
            request_id=f"r{days}",
        )
    assert trail.purge(now) == 2
    with db.session() as session:
        kept = sorted(e.request_id for e in session.query(AuditEvent))
    assert kept == ["r0", "r29"]
    assert AuditTrail(db, None, retention_days=0).purge(now) == 0
    db.dispose()
