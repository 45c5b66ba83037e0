"""The authorization matrix: every documented route by every kind of caller.

The table :data:`ROWS` holds, per route (method, path), what each caller gets and how
the request is made; the test is generated from the OpenAPI document's paths, so a new
route without a row fails. Callers:

- ``anon``: no token;
- ``alice``: user A, who owns the notebooks and executions the requests aim at;
- ``bob``: user B, who aims at alice's notebooks and executions (by id, or by acting
  for her with ``username``);
- ``carol``: a templates admin (group ``template-admins``), not a Hub admin: she manages
  templates and sees and cancels everyone's runs, but may not create or run notebooks
  as alice (that needs access to alice's server in the Hub, which she has not);
- ``admin``: a Hub admin, hence a templates admin with ``access:servers``: may do all;
- ``service``: the service's own Hub token. JupyterHub reports it as
  ``{"kind": "service", "name": "templates"}`` with the service role's scopes (read
  users and servers, start servers, mint tokens), which do not include
  ``access:services!service=templates``; ``BaseHandler.prepare`` runs
  ``check_hub_user``, which raises ``UserNotAllowed``, so every authenticated route
  answers 403 ("service templates may not use the templates service"). The service
  never calls itself; it reaches users' servers, not its own API.

Every refusal (403 or 404) is checked to have changed nothing: the template list,
alice's notebook records, alice's executions and jobs, and the files in alice's server root are
read before and after and compared. Cookie-authenticated writes without the XSRF token
are refused (the last tests).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from notebooks import make_notebook, write_python_notebook

from jupyterhub_templates.service.openapi import openapi_document
from jupyterhub_templates.statuses import FINAL

CALLERS = ["anon", "alice", "bob", "carol", "admin", "service"]
TEMPLATE = "authz/base.ipynb"
METHODS = ("get", "put", "post", "delete", "patch")


# -- the service and what the requests aim at ----------------------------------------


@dataclass
class World:
    svc: ServiceProcess
    hub: Hub
    notebook_id: int = 0  # alice's notebook record (from create-from-template)
    finished_id: int = 0  # alice's finished execution
    running_id: int = 0  # alice's long-running execution
    job_id: int = 0  # alice's job (run only when asked)
    counter: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def token(self, caller: str) -> str | None:
        if caller == "anon":
            return None
        if caller == "service":
            return self.hub.service_token
        return self.hub.tokens[caller]

    def call(self, caller: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.svc.request(method, path, token=self.token(caller), **kwargs)

    def unique(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}"


def write_notebook(hub: Hub, user: str, path: str, *sources: str) -> str:
    """A python3 notebook with a ``parameters`` cell, in the user's server root."""
    write_python_notebook(hub.user_dir(user) / path, *sources, params="greeting = 'hi'")
    return path


def upload(w: World, name: str, caller: str = "carol", **kwargs: Any) -> requests.Response:
    category, filename = name.split("/", 1)
    return w.call(
        caller,
        "POST",
        "minio/upload-template",
        files={"file": (filename, make_notebook(body="print(n_estimators)"))},
        data={"category": category, "overwrite": "true"},
        **kwargs,
    )


def execution(w: World, execution_id: int) -> dict[str, Any]:
    r = w.call("carol", "GET", f"execution-status/{execution_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(w: World, execution_id: int, wanted: set[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = execution(w, execution_id)
        if current["status"] in wanted:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.3)


def start_long_run(w: World) -> int:
    r = w.call(
        "alice",
        "POST",
        "execute-notebook",
        json={"notebook_path": "authz/long.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    wait_status(w, execution_id, {"running"})
    return execution_id


def new_job(w: World, caller: str = "alice", **body: Any) -> int:
    r = w.call(
        caller,
        "POST",
        "jobs",
        json={
            "name": w.unique("job"),
            "template_name": TEMPLATE,
            "target_directory": "authz/jobs",
            "kernel_name": "python3",
            **body,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_record(w: World) -> int:
    r = w.call("alice", "POST", "submit-notebook", json={"notebook_path": "authz/quick.ipynb"})
    assert r.status_code == 201, r.text
    return r.json()["notebook_id"]


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("authz")
    svc = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    svc.start(["--Executions.first_cell_timeout=30"])
    w = World(svc=svc, hub=hub)
    try:
        r = upload(w, TEMPLATE)
        assert r.status_code in (200, 201), r.text
        r = w.call(
            "alice",
            "POST",
            "create-from-template",
            json={"template_name": TEMPLATE, "target_directory": "authz", "new_name": "mine"},
        )
        assert r.status_code == 201, r.text
        w.notebook_id = r.json()["notebook_id"]
        write_notebook(hub, "alice", "authz/quick.ipynb", "print('quick', greeting)")
        write_notebook(hub, "alice", "authz/inplace.ipynb", "print('in place')")
        write_notebook(
            hub, "alice", "authz/long.ipynb", "print('go')", "import time; time.sleep(900)"
        )
        r = w.call(
            "alice",
            "POST",
            "execute-notebook",
            json={"notebook_path": "authz/quick.ipynb", "kernel_name": "python3"},
        )
        assert r.status_code == 202, r.text
        w.finished_id = r.json()["execution_id"]
        assert wait_status(w, w.finished_id, FINAL)["status"] == "success"
        w.running_id = start_long_run(w)
        w.job_id = new_job(w)
        yield w
    finally:
        for e in w.call("carol", "GET", "executions", params={"all": "true", "limit": 500}).json()[
            "executions"
        ]:
            if e["status"] not in FINAL:
                w.call("carol", "POST", f"execution/{e['execution_id']}/cancel")
        svc.stop()


# -- state that a refusal must leave alone -------------------------------------------


def files(root: Path, skip: set[str]) -> dict[str, str]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            if str(rel) not in skip:
                out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def snapshot(w: World) -> dict[str, Any]:
    templates = w.call("carol", "GET", "minio/list-templates", params={"limit": 1000}).json()
    notebooks = w.call(
        "carol", "GET", "notebooks", params={"username": "alice", "limit": 500}
    ).json()
    executions = w.call(
        "carol", "GET", "executions", params={"username": "alice", "limit": 500}
    ).json()["executions"]
    jobs = w.call("carol", "GET", "jobs", params={"username": "alice", "limit": 500}).json()
    # a running execution's output notebook is being written by the run itself
    running_outputs = {e["output_path"] for e in executions if e["status"] not in FINAL}
    return {
        "templates": sorted((t["name"], t["version"]) for t in templates["templates"]),
        "notebooks": notebooks,
        "executions": sorted((e["execution_id"], e["status"]) for e in executions),
        "jobs": sorted((j["id"], j["name"], j["active"]) for j in jobs["jobs"]),
        "files": files(w.hub.user_dir("alice"), running_outputs),
    }


# -- the table --------------------------------------------------------------------------

Request = Callable[[World, str, int], requests.Response]
Check = Callable[[World, str, requests.Response], None]


@dataclass
class Row:
    expect: dict[str, int]
    request: Request
    check: Check | None = None  # extra checks after an allowed answer
    also: Check | None = None  # extra checks after any answer
    prepare: Callable[[World], None] | None = None  # make the target, before the snapshot


def user_codes(ok: int, *, bob: int | None = None, carol: int | None = None) -> dict[str, int]:
    """anon and the service token: 403; alice and admin: ``ok``; bob: ``bob``, carol:
    ``carol`` (default ``ok``)."""
    return {
        "anon": 403,
        "alice": ok,
        "bob": ok if bob is None else bob,
        "carol": ok if carol is None else carol,
        "admin": ok,
        "service": 403,
    }


def acting_for_alice(ok: int) -> dict[str, int]:
    """Creating or running as alice: only alice and whoever may reach her server."""
    return user_codes(ok, bob=403, carol=403)


def public(ok: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, ok)


def admin_only(ok: int) -> dict[str, int]:
    return {"anon": 403, "alice": 403, "bob": 403, "carol": ok, "admin": ok, "service": 403}


def req_upload(w: World, caller: str, expected: int) -> requests.Response:
    name = f"authz/{w.unique('upload')}.ipynb"
    w.extra["uploaded"] = name
    return upload(w, name, caller)


def check_upload(w: World, caller: str, r: requests.Response) -> None:
    names = [t["name"] for t in w.call("alice", "GET", "minio/list-templates").json()["templates"]]
    assert w.extra["uploaded"] in names
    assert w.call("carol", "DELETE", f"minio/delete-template/{w.extra['uploaded']}").ok


def new_victim(w: World) -> None:
    victim = f"authz/{w.unique('victim')}.ipynb"
    assert upload(w, victim).status_code == 201
    w.extra["victim"] = victim


def req_delete_template(w: World, caller: str, expected: int) -> requests.Response:
    return w.call(caller, "DELETE", f"minio/delete-template/{w.extra['victim']}")


def check_template_deleted(w: World, caller: str, r: requests.Response) -> None:
    assert w.call("alice", "GET", f"minio/get-template/{w.extra['victim']}").status_code == 404


def req_download(w: World, caller: str, expected: int) -> requests.Response:
    signed = w.call("carol", "GET", f"minio/download-url/{TEMPLATE}").json()["url"]
    # without the signature: refused whoever asks
    bare = w.call(caller, "GET", f"minio/download/{TEMPLATE}")
    assert bare.status_code == 403, bare.text
    parts = urlsplit(signed)
    path = parts.path.split("/services/templates/", 1)[1] + "?" + parts.query
    return w.call(caller, "GET", path)


def check_root(w: World, caller: str, r: requests.Response) -> None:
    assert r.json()["user"] == caller
    assert r.json()["templates_admin"] is (caller in ("carol", "admin"))


def req_create(w: World, caller: str, expected: int) -> requests.Response:
    w.extra["new_name"] = w.unique(f"by-{caller}")
    return w.call(
        caller,
        "POST",
        "create-from-template",
        json={
            "template_name": TEMPLATE,
            "username": "alice",
            "target_directory": "authz",
            "new_name": w.extra["new_name"],
        },
    )


def check_created(w: World, caller: str, r: requests.Response) -> None:
    assert (w.hub.user_dir("alice") / "authz" / f"{w.extra['new_name']}.ipynb").is_file()
    assert (w.hub.user_dir(caller) / "authz" / f"{w.extra['new_name']}.ipynb").exists() is (
        caller == "alice"
    )


def req_execute(path: str) -> Request:
    def request(w: World, caller: str, expected: int) -> requests.Response:
        body = {"notebook_path": "authz/quick.ipynb", "kernel_name": "python3", "username": "alice"}
        if path == "execute":
            body["notebook_path"] = "authz/inplace.ipynb"
        return w.call(caller, "POST", path, json=body)

    return request


def check_executed(w: World, caller: str, r: requests.Response) -> None:
    body = r.json()
    final = wait_status(w, body["execution_id"], FINAL)
    assert final["status"] == "success", final
    assert final["username"] == "alice"


def req_get(path: Callable[[World], str], **kwargs: Any) -> Request:
    def request(w: World, caller: str, expected: int) -> requests.Response:
        return w.call(caller, "GET", path(w), **kwargs)

    return request


def check_bob_sees_only_his(kind: str) -> Check:
    """After bob's refused ``?username=alice``: his own listing, even with ``all``,
    holds none of alice's records."""

    def check(w: World, caller: str, r: requests.Response) -> None:
        if caller != "bob":
            return
        for params in ({}, {"all": "true"}):
            page = w.call("bob", "GET", kind, params=params).json()
            assert all(item.get("username") == "bob" for item in page[kind]), page

    return check


def req_cancel(w: World, caller: str, expected: int) -> requests.Response:
    target = start_long_run(w) if expected == 200 else w.running_id
    w.extra["cancel_target"] = target
    return w.call(caller, "POST", f"execution/{target}/cancel")


def check_cancelled(w: World, caller: str, r: requests.Response) -> None:
    assert wait_status(w, w.extra["cancel_target"], FINAL)["status"] == "cancelled"


def req_rerun(w: World, caller: str, expected: int) -> requests.Response:
    return w.call(caller, "POST", f"execution/{w.finished_id}/rerun")


def check_rerun(w: World, caller: str, r: requests.Response) -> None:
    check_executed(w, caller, r)
    assert execution(w, r.json()["execution_id"])["rerun_of"] == w.finished_id


def req_job(method: str, suffix: str = "", **kwargs: Any) -> Request:
    def request(w: World, caller: str, expected: int) -> requests.Response:
        return w.call(caller, method, f"jobs/{w.job_id}{suffix}", **kwargs)

    return request


def req_new_job(w: World, caller: str, expected: int) -> requests.Response:
    return w.call(
        caller,
        "POST",
        "jobs",
        json={"name": w.unique("job"), "template_name": TEMPLATE, "username": "alice"},
    )


def check_job_is_alices(w: World, caller: str, r: requests.Response) -> None:
    assert r.json()["owner"] == "alice"


def req_patch_job(w: World, caller: str, expected: int) -> requests.Response:
    w.extra["job_name"] = f"changed by {caller}"
    return w.call(caller, "PATCH", f"jobs/{w.job_id}", json={"name": w.extra["job_name"]})


def check_job_patched(w: World, caller: str, r: requests.Response) -> None:
    assert w.call("alice", "GET", f"jobs/{w.job_id}").json()["name"] == w.extra["job_name"]


def req_delete_job(w: World, caller: str, expected: int) -> requests.Response:
    target = new_job(w) if expected == 204 else w.job_id
    w.extra["deleted_job"] = target
    return w.call(caller, "DELETE", f"jobs/{target}")


def check_job_deleted(w: World, caller: str, r: requests.Response) -> None:
    assert w.call("alice", "GET", f"jobs/{w.extra['deleted_job']}").status_code == 404


def check_job_ran(w: World, caller: str, r: requests.Response) -> None:
    run_id = r.json()["id"]
    deadline = time.monotonic() + 90
    while True:
        page = w.call("alice", "GET", f"jobs/{w.job_id}/runs", params={"limit": 500}).json()
        run = next(x for x in page["runs"] if x["id"] == run_id)
        if run.get("execution_id"):
            break
        assert run["state"] == "dispatching", run
        assert time.monotonic() < deadline, run
        time.sleep(0.3)
    final = wait_status(w, run["execution_id"], FINAL)
    assert final["status"] == "success" and final["username"] == "alice", final


def req_submit(w: World, caller: str, expected: int) -> requests.Response:
    return w.call(
        caller,
        "POST",
        "submit-notebook",
        json={"notebook_path": "authz/quick.ipynb", "username": "alice"},
    )


def check_submitted(w: World, caller: str, r: requests.Response) -> None:
    assert r.json()["notebook"]["username"] == "alice"


def req_put(w: World, caller: str, expected: int) -> requests.Response:
    w.extra["description"] = f"changed by {caller}"
    return w.call(
        caller,
        "PUT",
        f"notebook/{w.notebook_id}",
        json={"description": w.extra["description"]},
    )


def check_put(w: World, caller: str, r: requests.Response) -> None:
    record = w.call("alice", "GET", f"notebook/{w.notebook_id}").json()
    assert record["description"] == w.extra["description"]


def req_delete_notebook(w: World, caller: str, expected: int) -> requests.Response:
    target = new_record(w) if expected == 204 else w.notebook_id
    w.extra["deleted"] = target
    return w.call(caller, "DELETE", f"notebook/{target}")


def check_notebook_deleted(w: World, caller: str, r: requests.Response) -> None:
    assert w.call("alice", "GET", f"notebook/{w.extra['deleted']}").status_code == 404


ROWS: dict[tuple[str, str], Row] = {
    # templates: everyone with access reads; only templates admins write
    ("POST", "/minio/upload-template"): Row(admin_only(201), req_upload, check_upload),
    ("GET", "/minio/list-templates"): Row(
        user_codes(200), req_get(lambda w: "minio/list-templates")
    ),
    ("GET", "/minio/list-categories"): Row(
        user_codes(200), req_get(lambda w: "minio/list-categories")
    ),
    ("GET", "/minio/get-template/{name}"): Row(
        user_codes(200), req_get(lambda w: f"minio/get-template/{TEMPLATE}")
    ),
    ("DELETE", "/minio/delete-template/{name}"): Row(
        admin_only(200), req_delete_template, check_template_deleted, prepare=new_victim
    ),
    ("GET", "/minio/download-url/{name}"): Row(
        user_codes(200), req_get(lambda w: f"minio/download-url/{TEMPLATE}")
    ),
    # the signature is the credential: a signed URL works for whoever holds it
    ("GET", "/minio/download/{name}"): Row(public(200), req_download),
    ("GET", "/health"): Row(public(200), req_get(lambda w: "health")),
    ("GET", "/openapi.json"): Row(public(200), req_get(lambda w: "openapi.json")),
    # operators' routes: the audit trail for templates admins; the metrics for holders of
    # read:metrics (a Hub admin's token has it, a templates admin's does not)
    ("GET", "/audit"): Row(admin_only(200), req_get(lambda w: "audit")),
    ("GET", "/metrics"): Row(
        {**dict.fromkeys(CALLERS, 403), "admin": 200}, req_get(lambda w: "metrics")
    ),
    ("GET", "/"): Row(user_codes(200), req_get(lambda w: ""), check_root),
    # notebooks and executions: alice's own; bob and carol acting for her are refused,
    # bob reading hers too
    ("POST", "/create-from-template"): Row(acting_for_alice(201), req_create, check_created),
    ("POST", "/execute-notebook"): Row(
        acting_for_alice(202), req_execute("execute-notebook"), check_executed
    ),
    ("POST", "/execute"): Row(acting_for_alice(200), req_execute("execute"), check_executed),
    ("GET", "/execution-status/{id}"): Row(
        user_codes(200, bob=404), req_get(lambda w: f"execution-status/{w.finished_id}")
    ),
    ("GET", "/executions"): Row(
        user_codes(200, bob=403),
        req_get(lambda w: "executions", params={"username": "alice"}),
        also=check_bob_sees_only_his("executions"),
    ),
    ("POST", "/execution/{id}/cancel"): Row(user_codes(200, bob=404), req_cancel, check_cancelled),
    ("POST", "/execution/{id}/rerun"): Row(
        user_codes(202, bob=404, carol=403), req_rerun, check_rerun
    ),
    # jobs: alice's own; the admin scope sees, pauses, resumes and deletes them, and
    # changes or runs them (code run as alice) only with access to her server
    ("GET", "/jobs"): Row(
        user_codes(200, bob=403), req_get(lambda w: "jobs", params={"username": "alice"})
    ),
    ("POST", "/jobs"): Row(acting_for_alice(201), req_new_job, check_job_is_alices),
    ("GET", "/jobs/{id}"): Row(user_codes(200, bob=404), req_job("GET")),
    ("PATCH", "/jobs/{id}"): Row(
        user_codes(200, bob=404, carol=403), req_patch_job, check_job_patched
    ),
    ("DELETE", "/jobs/{id}"): Row(user_codes(204, bob=404), req_delete_job, check_job_deleted),
    ("POST", "/jobs/{id}/pause"): Row(user_codes(200, bob=404), req_job("POST", "/pause")),
    ("POST", "/jobs/{id}/resume"): Row(user_codes(200, bob=404), req_job("POST", "/resume")),
    ("POST", "/jobs/{id}/run"): Row(
        user_codes(202, bob=404, carol=403), req_job("POST", "/run"), check_job_ran
    ),
    ("GET", "/jobs/{id}/runs"): Row(user_codes(200, bob=404), req_job("GET", "/runs")),
    ("GET", "/execution/{id}/log"): Row(
        user_codes(200, bob=404), req_get(lambda w: f"execution/{w.finished_id}/log")
    ),
    ("GET", "/execution/{id}/notifications"): Row(
        user_codes(200, bob=404), req_get(lambda w: f"execution/{w.finished_id}/notifications")
    ),
    ("POST", "/submit-notebook"): Row(acting_for_alice(201), req_submit, check_submitted),
    ("GET", "/notebooks"): Row(
        user_codes(200, bob=403),
        req_get(lambda w: "notebooks", params={"username": "alice"}),
        also=check_bob_sees_only_his("notebooks"),
    ),
    ("GET", "/notebook/{id}"): Row(
        user_codes(200, bob=404), req_get(lambda w: f"notebook/{w.notebook_id}")
    ),
    ("PUT", "/notebook/{id}"): Row(user_codes(200, bob=404), req_put, check_put),
    ("DELETE", "/notebook/{id}"): Row(
        user_codes(204, bob=404), req_delete_notebook, check_notebook_deleted
    ),
}

DOCUMENTED = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in METHODS
]


def test_every_row_is_a_documented_route() -> None:
    assert set(ROWS) <= set(DOCUMENTED), set(ROWS) - set(DOCUMENTED)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", DOCUMENTED, ids=" ".join)
def test_authorization(world: World, route: tuple[str, str], caller: str) -> None:
    row = ROWS.get(route)
    if row is None or caller not in row.expect:
        pytest.fail(f"no expectation for {route} called by {caller}: add it to ROWS")
    expected = row.expect[caller]
    refused = expected in (403, 404)
    if row.prepare is not None:
        row.prepare(world)
    before = snapshot(world) if refused else None
    r = row.request(world, caller, expected)
    assert r.status_code == expected, f"{route} by {caller}: {r.status_code} {r.text[:300]}"
    if refused:
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json()["status"] == "error"
        if caller == "service":
            assert "service templates may not use" in r.json()["message"]
        assert snapshot(world) == before, f"{route} by {caller} changed something"
        # the shared targets are still there and as they were
        assert world.call("alice", "GET", f"notebook/{world.notebook_id}").status_code == 200
        assert execution(world, world.running_id)["status"] == "running"
    elif row.check is not None:
        row.check(world, caller, r)
    if row.also is not None:
        row.also(world, caller, r)


# -- cookies: writes without the XSRF token ------------------------------------------


def browser_login(hub: Hub, user: str) -> requests.Session:
    """A browser-like session logged in to the Hub (DummyAuthenticator: any password),
    then through the service's OAuth: it holds the service's cookie and _xsrf."""
    s = requests.Session()
    s.headers["Accept"] = "text/html"
    s.get(f"{hub.url}/hub/login", timeout=30)
    r = s.post(
        f"{hub.url}/hub/login?next=%2Fhub%2Fhome",
        data={"username": user, "password": "x", "_xsrf": s.cookies.get("_xsrf", "")},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:500]
    r = s.get(hub.url + "/services/templates/", headers={"Sec-Fetch-Mode": "navigate"}, timeout=30)
    assert r.status_code == 200, r.text[:500]
    # the landing page a browser gets (API clients get JSON there)
    assert f"Signed in as <strong>{user}</strong>" in r.text
    return s


def xsrf(s: requests.Session) -> dict[str, str]:
    return {"X-XSRFToken": s.cookies.get("_xsrf", path="/services/templates/")}


def test_cookie_writes_need_the_xsrf_token(world: World) -> None:
    svc = world.svc
    carol = browser_login(world.hub, "carol")
    alice = browser_login(world.hub, "alice")
    # cookie only, no XSRF header: refused, nothing changed
    before = snapshot(world)
    name = f"authz/{world.unique('cookie')}.ipynb"
    refusals = [
        carol.post(
            svc.url + "minio/upload-template",
            files={"file": (name.split("/")[1], make_notebook())},
            data={"category": "authz"},
            timeout=30,
        ),
        carol.delete(svc.url + f"minio/delete-template/{TEMPLATE}", timeout=30),
        alice.put(
            svc.url + f"notebook/{world.notebook_id}", json={"description": "csrf"}, timeout=30
        ),
        alice.delete(svc.url + f"notebook/{world.notebook_id}", timeout=30),
        alice.post(svc.url + f"execution/{world.running_id}/cancel", timeout=30),
        alice.post(
            svc.url + "create-from-template",
            json={"template_name": TEMPLATE, "new_name": "csrf"},
            timeout=30,
        ),
        alice.post(
            svc.url + "execute-notebook",
            json={"notebook_path": "authz/quick.ipynb", "kernel_name": "python3"},
            timeout=30,
        ),
        alice.post(
            svc.url + "submit-notebook", json={"notebook_path": "authz/quick.ipynb"}, timeout=30
        ),
    ]
    for r in refusals:
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        assert r.json()["status"] == "error"
    assert snapshot(world) == before
    assert execution(world, world.running_id)["status"] == "running"
    # the same cookie with the XSRF token: allowed
    r = carol.post(
        svc.url + "minio/upload-template",
        files={"file": (name.split("/")[1], make_notebook())},
        data={"category": "authz"},
        headers=xsrf(carol),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    r = carol.delete(svc.url + f"minio/delete-template/{name}", headers=xsrf(carol), timeout=30)
    assert r.status_code == 200, r.text
    record = new_record(world)
    r = alice.put(
        svc.url + f"notebook/{record}",
        json={"description": "with xsrf"},
        headers=xsrf(alice),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "with xsrf"
    r = alice.delete(svc.url + f"notebook/{record}", headers=xsrf(alice), timeout=30)
    assert r.status_code == 204, r.text
    # one user's XSRF token is no good with another's cookie
    r = alice.delete(svc.url + f"notebook/{world.notebook_id}", headers=xsrf(carol), timeout=30)
    assert r.status_code == 403
    assert world.call("alice", "GET", f"notebook/{world.notebook_id}").status_code == 200
