"""Creating notebooks from templates in users' real servers (JupyterHub + CHP +
single-user servers with the server extension), and the legacy notebook records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from notebooks import make_notebook
from openapi_check import check_response

TEMPLATE = "tests/params.ipynb"


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("notebooks-api")
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    service.start()
    service.publish(TEMPLATE, make_notebook(body="print(dataset_path, n_estimators)"))
    yield service
    service.stop()


def create(svc: ServiceProcess, user: str, **body) -> requests.Response:
    body.setdefault("template_name", TEMPLATE)
    return svc.request("POST", "create-from-template", user, json=body)


def injected(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    return "".join(cells[0]["source"])


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def test_create_writes_the_notebook_with_its_parameters(svc: ServiceProcess, hub: Hub) -> None:
    r = create(
        svc,
        "alice",
        target_directory="projects/run1",
        new_name="first",
        parameters={"n_estimators": "250", "dataset_path": "/d.csv", "use_gpu": "true"},
    )
    assert r.status_code == 201, r.text
    check_response("/create-from-template", r)
    body = r.json()
    assert body["status"] == "success"
    assert body["new_notebook_path"] == "projects/run1/first.ipynb"
    assert body["parameters_applied"] == {
        "dataset_path": "/d.csv",
        "n_estimators": 250,
        "use_gpu": True,
    }
    assert body["notebook_url"] == f"{hub.url}/user/alice/lab/tree/projects/run1/first.ipynb"
    path = hub.user_dir("alice") / "projects" / "run1" / "first.ipynb"
    source = injected(path)
    assert 'dataset_path = "/d.csv"' in source
    assert "n_estimators = 250" in source
    assert "use_gpu = True" in source
    # the notebook's record, with its parameters, for its owner only
    r = svc.request("GET", f"notebook/{body['notebook_id']}", "alice")
    assert r.status_code == 200
    check_response("/notebook/{id}", r)
    record = r.json()
    assert record["path"] == "projects/run1/first.ipynb"
    assert record["template_name"] == TEMPLATE
    assert record["parameters"]["n_estimators"] == 250
    assert svc.request("GET", f"notebook/{body['notebook_id']}", "bob").status_code == 404
    ids = [n["id"] for n in svc.request("GET", "notebooks", "bob").json()["notebooks"]]
    assert body["notebook_id"] not in ids


def test_existing_notebook_is_not_overwritten_unless_asked(svc: ServiceProcess, hub: Hub) -> None:
    assert create(svc, "alice", new_name="twice", parameters={"n_estimators": 1}).status_code == 201
    path = hub.user_dir("alice") / "twice.ipynb"
    before = path.read_bytes()
    r = create(svc, "alice", new_name="twice", parameters={"n_estimators": 2})
    assert r.status_code == 409, r.text
    assert r.json()["status"] == "error"
    # the answer names the field to change, so that a form can mark it
    assert r.json()["field"] == "new_name"
    assert path.read_bytes() == before
    r = create(svc, "alice", new_name="twice", parameters={"n_estimators": 3}, overwrite=True)
    assert r.status_code == 201, r.text
    assert "n_estimators = 3" in injected(path)


def test_bad_parameters_are_all_listed_and_nothing_is_written(
    svc: ServiceProcess, hub: Hub
) -> None:
    root = hub.user_dir("alice")
    before = listing(root)
    records = svc.request("GET", "notebooks", "alice").json()["total"]
    r = create(
        svc,
        "alice",
        new_name="bad",
        parameters={
            "n_estimators": "ten",
            "not_declared": 1,
            "x=1\nimport os": 2,
            "use_gpu": [1],
        },
    )
    assert r.status_code == 400, r.text
    details = r.json()["details"]["parameters"]
    assert set(details) == {"n_estimators", "not_declared", "x=1\nimport os", "use_gpu"}
    assert r.json()["field"] == "parameters"
    assert listing(root) == before
    assert svc.request("GET", "notebooks", "alice").json()["total"] == records
    # unknown names pass only with allow_unknown
    r = create(svc, "alice", new_name="extra", parameters={"extra_one": 5}, allow_unknown=True)
    assert r.status_code == 201, r.text
    assert "extra_one = 5" in injected(root / "extra.ipynb")


@pytest.mark.parametrize(
    "field, value",
    [
        ("target_directory", "../bob"),
        ("target_directory", "/etc"),
        ("target_directory", "a/../../b"),
        ("target_directory", "a\\b"),
        ("target_directory", "x\u0000y"),
        ("target_directory", "\uff0e\uff0e/x"),
        ("target_directory", ".hidden"),
        ("target_directory", "~/x"),
        ("new_name", "../escape"),
        ("new_name", "a/b"),
        ("new_name", "\u2025"),
    ],
)
def test_paths_that_leave_the_root_are_refused(
    svc: ServiceProcess, hub: Hub, field: str, value: str
) -> None:
    before = listing(hub.dir / "users")
    r = create(svc, "alice", **{"new_name": "ok", field: value})
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "error"
    assert r.json()["field"] == field
    assert listing(hub.dir / "users") == before


def test_typed_list_items_and_non_finite_numbers_are_refused(svc: ServiceProcess, hub: Hub) -> None:
    """A ``list[str]`` parameter refuses ``[1, 2]`` and a float ``1e999`` (JSON that
    Python reads as infinity) is refused as not finite, both before anything is written."""
    name = "tests/typed.ipynb"
    svc.publish(name, make_notebook('names: list[str] = ["a"]\nrate: float = 0.5\n'))
    before = listing(hub.user_dir("alice"))
    r = create(svc, "alice", template_name=name, new_name="typed", parameters={"names": [1, 2]})
    assert r.status_code == 400, r.text
    reason = r.json()["details"]["parameters"]["names"]
    assert reason == 'expected a list of strings, e.g. ["a", "b"]; item [0] is 1'
    r = svc.request(
        "POST",
        "create-from-template",
        "alice",
        data=f'{{"template_name": "{name}", "new_name": "typed", "parameters": {{"rate": 1e999}}}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["details"]["parameters"]["rate"].startswith("not a finite number")
    assert listing(hub.user_dir("alice")) == before
    r = create(svc, "alice", template_name=name, new_name="typed", parameters={"names": ["x"]})
    assert r.status_code == 201, r.text


def test_unknown_template_and_bad_bodies(svc: ServiceProcess) -> None:
    assert create(svc, "alice", template_name="tests/nope.ipynb").status_code == 404
    assert create(svc, "alice", template_name="../etc/passwd").status_code == 400
    r = svc.request("POST", "create-from-template", "alice", data="{not json")
    assert r.status_code == 400
    assert create(svc, "alice", parameters=[1, 2]).status_code == 400
    r = create(svc, "alice", overwrite="yes")
    assert r.status_code == 400
    assert r.json() == {
        "status": "error",
        "message": "overwrite must be true or false.",
        "field": "overwrite",
    }
    # an error about no one field carries none
    r = create(svc, "alice", template_name="tests/nope.ipynb")
    assert "field" not in r.json()
    assert svc.request("POST", "create-from-template", None, json={}).status_code == 403


def test_only_who_may_reach_a_server_creates_for_its_user(svc: ServiceProcess, hub: Hub) -> None:
    """Creating in bob's server is writing files as bob: the admin scope alone (carol)
    does not allow it; access to bob's server (a Hub admin) does."""
    for caller in ("alice", "carol"):
        r = create(svc, caller, username="bob", new_name=f"from-{caller}")
        assert r.status_code == 403, r.text
        assert not (hub.user_dir("bob") / f"from-{caller}.ipynb").exists()
    r = create(svc, "admin", username="bob", new_name="from-admin")
    assert r.status_code == 201, r.text
    assert (hub.user_dir("bob") / "from-admin.ipynb").exists()
    assert r.json()["username"] == "bob"
    r = create(svc, "admin", username="nobody-here", new_name="x")
    assert r.status_code == 404, r.text


def test_a_stopped_server_is_started_first(svc: ServiceProcess, hub: Hub) -> None:
    create(svc, "bob", new_name="warmup", overwrite=True)
    hub.stop_server("bob")
    r = create(svc, "bob", new_name="after-stop", overwrite=True)
    assert r.status_code == 201, r.text
    assert (hub.user_dir("bob") / "after-stop.ipynb").exists()
    assert hub.api("GET", "/users/bob").json()["servers"][""]["ready"] is True


def test_legacy_notebook_records(svc: ServiceProcess) -> None:
    r = svc.request(
        "POST",
        "submit-notebook",
        "alice",
        json={"notebook_path": "legacy/a.ipynb", "parameters": {"k": 1}, "description": "d"},
    )
    assert r.status_code == 201, r.text
    check_response("/submit-notebook", r)
    nid = r.json()["notebook_id"]
    r = svc.request("GET", "notebooks", "alice")
    check_response("/notebooks", r)
    assert nid in [n["id"] for n in r.json()["notebooks"]]
    # bob: not his
    for method in ("GET", "DELETE"):
        assert svc.request(method, f"notebook/{nid}", "bob").status_code == 404
    assert (
        svc.request("PUT", f"notebook/{nid}", "bob", json={"description": "x"}).status_code == 404
    )
    # owner updates; bad values refused
    r = svc.request("PUT", f"notebook/{nid}", "alice", json={"description": "new"})
    assert r.status_code == 200 and r.json()["description"] == "new"
    bad = {"notebook_path": "../x.ipynb"}
    assert svc.request("PUT", f"notebook/{nid}", "alice", json=bad).status_code == 400
    bad = {"parameters": {"class": 1}}
    assert svc.request("PUT", f"notebook/{nid}", "alice", json=bad).status_code == 400
    assert svc.request("GET", f"notebook/{nid}", "alice").json()["path"] == "legacy/a.ipynb"
    # admins see everyone's
    r = svc.request("GET", "notebooks", "admin", params={"all": "true"})
    assert nid in [n["id"] for n in r.json()["notebooks"]]
    assert svc.request("GET", "notebooks", "alice", params={"username": "bob"}).status_code == 403
    assert svc.request("DELETE", f"notebook/{nid}", "alice").status_code == 204
    assert svc.request("GET", f"notebook/{nid}", "alice").status_code == 404
    assert svc.request("GET", "notebook/abc", "alice").status_code == 400
    r = svc.request("POST", "submit-notebook", "alice", json={"notebook_path": "/abs.ipynb"})
    assert r.status_code == 400


HOSTILE = '"); import pathlib; pathlib.Path("PWNED").touch()  # \'\'\' """ \\ \n end'


def test_hostile_values_stay_data_when_the_notebook_runs(svc: ServiceProcess, hub: Hub) -> None:
    """A string built to break out of papermill's rendering is injected as a literal and
    printed back unchanged when the notebook runs (in alice's server, python3 kernel)."""
    r = create(svc, "alice", new_name="hostile", parameters={"dataset_path": HOSTILE})
    assert r.status_code == 201, r.text
    r = svc.request(
        "POST",
        "execute",
        "alice",
        json={"notebook_path": "hostile.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success", r.json()
    nb = json.loads((hub.user_dir("alice") / "hostile.ipynb").read_text())
    printed = "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    assert printed.startswith(HOSTILE + " 100")
    assert not (hub.user_dir("alice") / "PWNED").exists()


def test_server_start_timeout_gives_503(svc: ServiceProcess, hub: Hub) -> None:
    """Last in the module: restarts the service with a start timeout no server meets."""
    svc.stop()
    svc.start(["--HubClient.server_start_timeout=0.05"])
    hub.stop_server("bob")
    r = create(svc, "bob", new_name="never", overwrite=True)
    assert r.status_code == 503, r.text
    assert "did not become ready" in r.json()["message"]


def test_concurrent_creates_into_one_new_folder_log_no_error(svc: ServiceProcess, hub: Hub) -> None:
    """Creates into one folder that does not exist yet make it once: the user's server
    logs no error (a second PUT of the folder would be a logged 500 "File exists")."""
    import concurrent.futures
    import uuid

    folder = f"together-{uuid.uuid4().hex[:8]}/inner"
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda i: create(
                    svc, "alice", target_directory=folder, new_name=f"n{i}", parameters={}
                ),
                range(6),
            )
        )
    assert [r.status_code for r in answers] == [201] * 6, [r.text for r in answers]
    assert len(list((hub.user_dir("alice") / folder).glob("*.ipynb"))) == 6
    troubles = [
        line
        for line in hub.log.read_text(errors="replace").splitlines()
        if folder.split("/")[0] in line and (line.startswith("[E") or "wrote error" in line)
    ]
    assert troubles == []
