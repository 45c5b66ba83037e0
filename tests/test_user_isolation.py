"""No user reaches another user's data, however they use their own server.

A user controls the code of their own single-user server: a notebook can write
``~/.jupyter/jupyter_server_config.py``, which the server loads on its next start. The
tests here play such a user (``mallory``) against a real Hub, real servers and the
service:

- her server records every request it receives (method, URI, every header); after the
  service has created, run, followed, cancelled and read the logs of notebooks there,
  none of the recorded credentials opens another user's server, the Hub API beyond
  mallory herself, or the service;
- her server's extension reports runs under the ids of another user's runs (the id is
  also the ``templates.run_key`` tag anyone can read in a shared MLflow): the other
  user's records, running or finished, do not change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess, local_service_env
from notebooks import make_notebook, write_python_notebook
from records import new_execution

from jupyterhub_templates.errors import NotFound

TEMPLATE = "isolation/base.ipynb"
ARGS = ["--Executions.first_cell_timeout=30"]

#: a server config that appends every request it receives to ~/recorded.jsonl
RECORDER = """
import json, os

_path = os.path.join(os.environ["HOME"], "recorded.jsonl")


def _record(handler):
    request = handler.request
    with open(_path, "a") as f:
        line = {"method": request.method, "uri": request.uri,
                "headers": list(request.headers.get_all())}
        f.write(json.dumps(line) + "\\n")


c.ServerApp.tornado_settings = {"log_function": _record}
"""


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("isolation")
    service = ServiceProcess(hub, local_service_env(workdir), workdir)
    service.start(ARGS)
    r = service.request(
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": ("base.ipynb", make_notebook(body="print(n_estimators)"))},
        data={"category": "isolation", "overwrite": "true"},
    )
    assert r.status_code in (200, 201), r.text
    yield service
    service.stop()


@pytest.fixture
def mallory(hub: Hub) -> Iterator[str]:
    """A user whose server records every request it gets (started with that config)."""
    name = "mallory"
    hub.add_user(name)
    home = hub.user_dir(name)
    (home / ".jupyter").mkdir(parents=True, exist_ok=True)
    (home / ".jupyter" / "jupyter_server_config.py").write_text(RECORDER)
    (home / "recorded.jsonl").unlink(missing_ok=True)
    hub.start_server(name)
    yield name
    hub.delete_user(name)
    (home / ".jupyter" / "jupyter_server_config.py").unlink(missing_ok=True)


def execute(svc: ServiceProcess, user: str, path: str) -> int:
    """Run ``path`` of the user's server on python3; the execution's id."""
    r = svc.request(
        "POST", "execute-notebook", user, json={"notebook_path": path, "kernel_name": "python3"}
    )
    assert r.status_code == 202, r.text
    return r.json()["execution_id"]


def wait_final(svc: ServiceProcess, user: str, execution_id: int, timeout: float = 90) -> dict:
    return svc.wait_final(execution_id, user, timeout)


def wait_status(svc: ServiceProcess, user: str, execution_id: int, wanted: str) -> dict:
    deadline = time.monotonic() + 90
    while True:
        current = svc.request("GET", f"execution-status/{execution_id}", user).json()
        if current["status"] == wanted:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.3)


def recorded(hub: Hub, user: str) -> list[dict[str, Any]]:
    path = hub.user_dir(user) / "recorded.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def credentials(requests_seen: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Every credential the recorded requests carried, as headers that would replay it:
    Authorization headers, cookies, and ``token`` query arguments."""
    found: dict[str, dict[str, str]] = {}
    for seen in requests_seen:
        for name, value in seen["headers"]:
            if name.lower() == "authorization":
                found[f"Authorization {value[:12]}…"] = {"Authorization": value}
            elif name.lower() == "cookie":
                found[f"Cookie {value[:12]}…"] = {"Cookie": value}
        for key, value in parse_qsl(urlsplit(seen["uri"]).query):
            if key.lower() in ("token", "access_token"):
                found[f"?{key}= {value[:6]}…"] = {"Authorization": f"token {value}"}
    return found


def test_a_recording_server_holds_nothing_that_opens_anything_else(
    hub: Hub, svc: ServiceProcess, mallory: str
) -> None:
    # the service does all it ever does in a user's server
    r = svc.request(
        "POST",
        "create-from-template",
        mallory,
        json={"template_name": TEMPLATE, "target_directory": "work", "new_name": "mine"},
    )
    assert r.status_code == 201, r.text
    finished = wait_final(svc, mallory, execute(svc, mallory, "work/mine.ipynb"))
    assert finished["status"] == "success", finished
    assert svc.request("GET", f"execution/{finished['execution_id']}/log", mallory).ok
    write_python_notebook(
        hub.user_dir(mallory) / "work" / "long.ipynb", "print('go')", "import time; time.sleep(600)"
    )
    long_id = execute(svc, mallory, "work/long.ipynb")
    wait_status(svc, mallory, long_id, "running")
    assert svc.request("POST", f"execution/{long_id}/cancel", mallory).ok
    assert wait_final(svc, mallory, long_id)["status"] == "cancelled"

    seen = recorded(hub, mallory)
    from_service = [
        s for s in seen if "/api/contents/" in s["uri"] or "/templates/api/executions" in s["uri"]
    ]
    assert from_service, "the recorder saw none of the service's requests"
    assert any(name.lower() == "authorization" for s in from_service for name, _ in s["headers"]), (
        "the service's requests carried no credential: the recorder is not seeing them"
    )
    found = credentials(seen)
    assert found

    hub.start_server("bob")
    (hub.user_dir("bob") / "bobs-secret.txt").write_text("bob's data")
    for label, headers in found.items():
        # another user's server
        r = requests.get(
            f"{hub.url}/user/bob/api/contents/",
            headers={**headers, "Accept": "application/json"},
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code != 200, f"{label} opens bob's server"
        assert "bobs-secret" not in r.text, label
        # the Hub API beyond mallory
        for method, path in [
            ("GET", "/users"),
            ("GET", "/users/bob"),
            ("POST", "/users/bob/server"),
            ("DELETE", "/users/bob/server"),
            ("GET", f"/users/{mallory}/tokens"),
            ("POST", f"/users/{mallory}/tokens"),
            ("POST", "/users/bob/tokens"),
            ("GET", "/groups"),
            ("GET", "/services"),
        ]:
            r = requests.request(
                method, f"{hub.api_url}{path}", headers=headers, allow_redirects=False, timeout=30
            )
            assert r.status_code in (401, 403, 404), f"{label}: {method} {path} {r.status_code}"
        r = requests.get(f"{hub.api_url}/user", headers=headers, timeout=30)
        if r.status_code == 200:  # who the credential belongs to: mallory, and only her
            model = r.json()
            assert model["name"] == mallory, label
            for scope in model.get("scopes", []):
                assert "!" in scope and scope.endswith((f"user={mallory}", f"server={mallory}/")), (
                    f"{label} holds {scope}"
                )
        # the service, its admin routes included
        for method, path, kwargs in [
            ("GET", "", {}),
            ("GET", "executions", {"params": {"all": "true"}}),
            ("GET", "notebooks", {"params": {"username": "bob"}}),
            ("DELETE", f"minio/delete-template/{TEMPLATE}", {}),
            (
                "POST",
                "minio/upload-template",
                {"files": {"file": ("x.ipynb", make_notebook())}, "data": {"category": "x"}},
            ),
            ("POST", "create-from-template", {"json": {"template_name": TEMPLATE}}),
        ]:
            r = svc.request(method, path, headers=dict(headers), **kwargs)
            assert r.status_code == 403, f"{label}: {method} {path} {r.status_code} {r.text}"
    assert svc.request("GET", f"minio/get-template/{TEMPLATE}", "alice").status_code == 200


def test_server_tokens_are_the_users_own_and_expire(hub: Hub, svc: ServiceProcess) -> None:
    """What the Hub says of the tokens the service had it mint for a user."""
    r = svc.request(
        "POST",
        "create-from-template",
        "alice",
        json={"template_name": TEMPLATE, "target_directory": "isolation", "overwrite": True},
    )
    assert r.status_code == 201, r.text
    tokens = hub.api("GET", "/users/alice/tokens").json()["api_tokens"]
    minted = [t for t in tokens if t["note"].startswith("templates service")]
    assert minted, tokens
    for token in minted:
        # the Hub adds the owner's name and groups, which every token may read
        assert "access:servers!user=alice" in token["scopes"], token
        assert all(s.endswith("!user=alice") for s in token["scopes"]), token
        assert token["expires_at"] is not None, token


def revoke_minted(hub: Hub, user: str) -> int:
    tokens = hub.api("GET", f"/users/{user}/tokens").json()["api_tokens"]
    count = 0
    for token in tokens:
        if token["note"].startswith("templates service"):
            assert hub.api("DELETE", f"/users/{user}/tokens/{token['id']}").status_code == 204
            count += 1
    return count


def test_a_revoked_server_token_is_replaced(hub: Hub, svc: ServiceProcess) -> None:
    """The user deletes the service's token on their token page: the next request
    mints another and succeeds."""
    body = {"template_name": TEMPLATE, "target_directory": "isolation", "overwrite": True}
    assert svc.request("POST", "create-from-template", "alice", json=body).status_code == 201
    assert revoke_minted(hub, "alice") >= 1
    r = svc.request("POST", "create-from-template", "alice", json=body)
    assert r.status_code == 201, r.text


def test_tokens_are_revoked_when_the_service_stops(hub: Hub, svc: ServiceProcess) -> None:
    revoke_minted(hub, "bob")
    hub.start_server("bob")
    r = svc.request(
        "POST",
        "execute-notebook",
        "bob",
        json={"notebook_path": "missing.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 404, r.text  # the server was asked: a token was minted
    notes = [t["note"] for t in hub.api("GET", "/users/bob/tokens").json()["api_tokens"]]
    assert any(n.startswith("templates service") for n in notes), notes
    svc.stop()
    try:
        notes = [t["note"] for t in hub.api("GET", "/users/bob/tokens").json()["api_tokens"]]
        assert not any(n.startswith("templates service") for n in notes), notes
    finally:
        svc.start(ARGS)


def extension(hub: Hub, user: str, method: str, path: str = "", **kwargs: Any) -> requests.Response:
    """A call to the user's own server extension with the user's own token."""
    return requests.request(
        method,
        f"{hub.url}/user/{user}/templates/api/executions{path}",
        headers={"Authorization": f"token {hub.tokens[user]}"},
        timeout=30,
        **kwargs,
    )


def test_a_server_cannot_rewrite_another_users_runs(hub: Hub, svc: ServiceProcess) -> None:
    """alice's server reports runs under the ids of bob's, one running and one finished:
    bob's records stay as they were."""
    for user in ("alice", "bob"):
        hub.start_server(user)
    bob_dir = hub.user_dir("bob") / "isolation"
    write_python_notebook(bob_dir / "quick.ipynb", "print('bob was here')")
    write_python_notebook(bob_dir / "long.ipynb", "print('go')", "import time; time.sleep(600)")
    runs = {name: execute(svc, "bob", f"isolation/{name}.ipynb") for name in ("quick", "long")}
    done = wait_final(svc, "bob", runs["quick"])
    assert done["status"] == "success", done
    running = wait_status(svc, "bob", runs["long"], "running")
    try:
        # the ids bob's server knows his runs by (the run_key tag of their MLflow runs)
        by_output = {
            m["output_path"]: m["id"] for m in extension(hub, "bob", "GET").json()["executions"]
        }
        forged = [by_output[done["output_path"]], by_output[running["output_path"]]]

        write_python_notebook(
            hub.user_dir("alice") / "isolation" / "forge.ipynb",
            "raise RuntimeError('forged by alice')",
        )
        for i, remote_id in enumerate(forged):
            r = extension(
                hub,
                "alice",
                "POST",
                json={
                    "id": remote_id,
                    "input_path": "isolation/forge.ipynb",
                    "output_path": f"isolation/forge-{i}.ipynb",
                    "kernel_name": "python3",
                },
            )
            assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:  # both forged runs have ended in alice's server
            mine = {m["id"]: m for m in extension(hub, "alice", "GET").json()["executions"]}
            if all(mine.get(i, {}).get("status") == "failed" for i in forged):
                break
            assert time.monotonic() < deadline, mine
            time.sleep(0.3)
        # a run of alice's own makes the service follow her server: its first listing
        # holds the forged runs
        write_python_notebook(hub.user_dir("alice") / "isolation" / "own.ipynb", "print(1)")
        own = execute(svc, "alice", "isolation/own.ipynb")
        assert wait_final(svc, "alice", own)["status"] == "success"

        after_done = svc.request("GET", f"execution-status/{runs['quick']}", "bob").json()
        after_running = svc.request("GET", f"execution-status/{runs['long']}", "bob").json()
        assert after_done == done
        assert after_running["status"] == "running", after_running
        assert after_running["error"] is None
        assert "forged" not in json.dumps([after_done, after_running])
    finally:
        svc.request("POST", f"execution/{runs['long']}/cancel", "bob")
    assert wait_final(svc, "bob", runs["long"])["status"] == "cancelled"


def test_reports_change_only_their_users_records_of_their_server(tmp_path) -> None:
    """The record-level rule, for each way a report can aim at the wrong record: another
    user's id (before any report fixed the run's server), or another incarnation of the
    server than the one that took the run."""
    from jupyterhub_templates.db import Database
    from jupyterhub_templates.execution.records import ExecutionRecords

    db = Database(f"sqlite:///{tmp_path / 'records.sqlite'}")
    db.upgrade()
    records = ExecutionRecords(db)

    def new(username: str) -> tuple[int, str]:
        return new_execution(records, username)

    failed = {"status": "failed", "error": {"reason": "cell error", "evalue": "forged"}}
    pending_id, pending_remote = new("bob")
    assert records.apply_remote("alice", {"id": pending_remote, **failed}, "boot-a") is None
    assert records.get(pending_id)["status"] == "pending"

    running_id, running_remote = new("bob")
    running = {"id": running_remote, "status": "running", "progress": {"cells_done": 1}}
    assert records.apply_remote("bob", running, "boot-1") is not None
    after = records.apply_remote("bob", {"id": running_remote, **failed}, "boot-2")
    assert after is not None and after[2] is False
    assert records.get(running_id)["status"] == "running"
    # hostile field values are dropped, not stored (nor a 500)
    odd = {"id": running_remote, "status": "running", "progress": {"cells_done": "x"}}
    odd["progress"]["current_cell"] = 2**80
    records.apply_remote("bob", odd, "boot-1")
    assert records.get(running_id)["progress"]["cells_done"] == 0
    # bob's own server, same incarnation: applied
    ended = records.apply_remote("bob", {"id": running_remote, **failed}, "boot-1")
    assert ended is not None and ended[2] is True
    assert records.get(running_id)["error"]["message"] == "forged"
    db.dispose()


# -- credentials that stop working -------------------------------------------------------


def new_token(hub: Hub, user: str, **body: Any) -> tuple[str, str]:
    """A new API token of ``user``: ``(token, id)``, watched by the secrets watch."""
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "tests", **body})
    assert r.status_code == 201, r.text
    hub.tokens[f"{user} ({r.json()['id']})"] = r.json()["token"]
    return r.json()["token"], r.json()["id"]


def upload_as(svc: ServiceProcess, token: str, name: str) -> requests.Response:
    return svc.request(
        "POST",
        "minio/upload-template",
        token=token,
        files={"file": (f"{name}.ipynb", make_notebook())},
        data={"category": "isolation", "overwrite": "true"},
    )


def refused_within(svc: ServiceProcess, token: str, path: str, seconds: float) -> float:
    """How long until a plain read with ``token`` is refused (at most ``seconds``)."""
    start = time.monotonic()
    while True:
        r = svc.request("GET", path, token=token)
        if r.status_code == 403:
            return time.monotonic() - start
        assert r.status_code == 200, r.text
        assert time.monotonic() - start < seconds, f"{path} still answered after {seconds} s"
        time.sleep(0.5)


@pytest.fixture
def throwaway(hub: Hub) -> Iterator[list[str]]:
    """Users a test creates; deleted afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        hub.delete_user(name)


def test_leaving_template_admins_ends_admin_rights_at_once(
    hub: Hub, svc: ServiceProcess, throwaway: list[str]
) -> None:
    throwaway.append("dave")
    token = hub.add_user("dave", groups=("template-admins",))
    assert upload_as(svc, token, "by-dave").status_code in (200, 201)
    r = hub.api("DELETE", "/groups/template-admins/users", json={"users": ["dave"]})
    assert r.status_code == 200, r.text
    r = upload_as(svc, token, "by-dave")
    assert r.status_code == 403, r.text
    r = svc.request("DELETE", "minio/delete-template/isolation/by-dave.ipynb", token=token)
    assert r.status_code == 403, r.text
    # dave is still a user of the service
    assert svc.request("GET", "minio/list-templates", token=token).status_code == 200


def test_a_revoked_token_loses_admin_rights_at_once_and_reads_soon(
    hub: Hub, svc: ServiceProcess, throwaway: list[str]
) -> None:
    throwaway.append("erin")
    hub.add_user("erin", groups=("template-admins",))
    token, token_id = new_token(hub, "erin")
    assert upload_as(svc, token, "by-erin").status_code in (200, 201)
    assert svc.request("GET", "minio/list-templates", token=token).status_code == 200
    assert hub.api("DELETE", f"/users/erin/tokens/{token_id}").status_code == 204
    assert upload_as(svc, token, "by-erin").status_code == 403
    r = svc.request("GET", "notebooks", token=token, params={"all": "true"})
    assert r.status_code == 403, r.text
    # reads: within the cache's age (10 s by default), with room for a slow machine
    refused_within(svc, token, "minio/list-templates", 10 + 15)


def test_an_expired_token_loses_admin_rights_at_once(
    hub: Hub, svc: ServiceProcess, throwaway: list[str]
) -> None:
    throwaway.append("faye")
    hub.add_user("faye", groups=("template-admins",))
    token, _ = new_token(hub, "faye", expires_in=4)
    assert upload_as(svc, token, "by-faye").status_code in (200, 201)
    deadline = time.monotonic() + 30
    while requests.get(
        f"{hub.api_url}/user", headers={"Authorization": f"token {token}"}, timeout=30
    ).ok:
        assert time.monotonic() < deadline, "the token did not expire"
        time.sleep(0.5)
    assert upload_as(svc, token, "by-faye").status_code == 403


def test_a_deleted_user_loses_admin_rights_at_once(
    hub: Hub, svc: ServiceProcess, throwaway: list[str]
) -> None:
    token = hub.add_user("gwen", groups=("template-admins",))
    assert upload_as(svc, token, "by-gwen").status_code in (200, 201)
    hub.delete_user("gwen")
    assert upload_as(svc, token, "by-gwen").status_code == 403
    r = svc.request("DELETE", "minio/delete-template/isolation/by-gwen.ipynb", token=token)
    assert r.status_code == 403


def test_who_may_reach_a_server_may_act_for_its_user_and_only_while_they_may(
    hub: Hub, svc: ServiceProcess, throwaway: list[str]
) -> None:
    """hana holds access:servers!user=alice through a role of the group alice-helpers
    (tests/hub_test_config.py): she may create notebooks in alice's server through the
    service, as she could in alice's Lab; out of the group, at once not."""
    throwaway.append("hana")
    token = hub.add_user("hana", groups=("alice-helpers",))
    body = {
        "template_name": TEMPLATE,
        "username": "alice",
        "target_directory": "isolation",
        "new_name": "by-hana",
        "overwrite": True,
    }
    r = svc.request("POST", "create-from-template", token=token, json=body)
    assert r.status_code == 201, r.text
    r = hub.api("DELETE", "/groups/alice-helpers/users", json={"users": ["hana"]})
    assert r.status_code == 200, r.text
    r = svc.request("POST", "create-from-template", token=token, json=body)
    assert r.status_code == 403, r.text
    assert "access to their server" in r.json()["message"]


# -- the server tokens' life -------------------------------------------------------------


def token_valid(hub: Hub, token: str) -> bool:
    r = requests.get(f"{hub.api_url}/user", headers={"Authorization": f"token {token}"}, timeout=30)
    return r.status_code == 200


def wait_invalid(hub: Hub, token: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while token_valid(hub, token):
        assert time.monotonic() < deadline, "the token was not revoked"
        time.sleep(0.2)


async def test_server_tokens_are_renewed_revoked_and_capped(hub: Hub) -> None:
    """ServerTokens against the real Hub, with the service's token: a token is reused
    until its renewal time, the renewed one replaces it (the old one is revoked), all
    are revoked at the end, and a lifetime over the Hub's cap is cut to the cap."""
    from jupyterhub_templates.hub import HubClient, ServerTokens

    client = HubClient(f"http://127.0.0.1:{hub.api_port}/hub/api", hub.service_token, hub.url)
    try:
        tokens = ServerTokens(client, lifetime=60, renew_before=59)  # renewed after 1 s
        first = await tokens.token_for("alice")
        assert await tokens.token_for("alice") == first
        await asyncio.sleep(1.2)
        second = await tokens.token_for("alice")
        assert second != first
        await asyncio.to_thread(wait_invalid, hub, first)
        assert await asyncio.to_thread(token_valid, hub, second)
        with pytest.raises(NotFound):
            await tokens.token_for("nobody-at-all")
        assert await tokens.revoke_all() == 1
        await asyncio.to_thread(wait_invalid, hub, second)

        cap = 10 * 86400  # tests/hub_test_config.py
        capped = ServerTokens(client, lifetime=cap + 1000)
        await capped.token_for("bob")
        minted = [
            t
            for t in hub.api("GET", "/users/bob/tokens").json()["api_tokens"]
            if t["note"].startswith("templates service") and t["expires_at"]
        ]
        assert minted, "no token minted under the cap"
        await capped.revoke_all()
    finally:
        client.close()
