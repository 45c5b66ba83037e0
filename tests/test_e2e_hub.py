"""End to end: JupyterHub started with the project's jupyterhub_config.py (the service
managed by the Hub, exactly as in the demo) and configurable-http-proxy; every call goes
through the proxy with real Hub tokens.

Two set-ups: the demo (nothing configured: SQLite and a directory store), and the
production one (PostgreSQL and S3 — moto's server — configured by environment)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
import requests
from fixtures.hub import Hub, browser_login, start_hub, start_managed_hub, stop_process
from fixtures.postgres import scratch_database
from notebooks import make_notebook
from openapi_check import check_response

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["demo", "postgres-s3"])
def managed_hub(request, tmp_path_factory, moto_server) -> Iterator[Hub]:
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if request.param == "postgres-s3":
            if not moto_server.running:
                moto_server.start()
            env.update(
                JUPYTERHUB_TEMPLATES_DB_URL=stack.enter_context(scratch_database()),
                JUPYTERHUB_TEMPLATES_STORE="s3",
                JUPYTERHUB_TEMPLATES_S3_ENDPOINT=moto_server.endpoint,
                JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY=moto_server.access_key,
                JUPYTERHUB_TEMPLATES_S3_SECRET_KEY=moto_server.secret_key,
                JUPYTERHUB_TEMPLATES_S3_BUCKET=f"e2e-{uuid.uuid4().hex[:10]}",
            )
        hub = start_hub(
            tmp_path_factory.mktemp(f"managed-{request.param}"),
            external_service=False,
            extra_env=env,
        )
        stack.callback(stop_process, hub.proc)
        # the Hub starts the service; wait for its route
        for _ in range(150):
            try:
                if requests.get(hub.service_url + "health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            import time

            time.sleep(0.2)
        else:
            pytest.fail("the managed service did not come up:\n" + hub.log.read_text()[-4000:])
        hub.kind = request.param  # type: ignore[attr-defined]
        yield hub


def call(hub: Hub, method: str, path: str, user: str | None = None, **kwargs):
    headers = {"Authorization": f"token {hub.tokens[user]}"} if user else {}
    return requests.request(method, hub.service_url + path, headers=headers, timeout=60, **kwargs)


def test_catalog_through_the_proxy(managed_hub: Hub) -> None:
    hub = managed_hub
    data = make_notebook()
    # admin uploads
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "admin",
        files={"file": ("automl_template.ipynb", data)},
        data={"category": "ml", "description": "AutoML classification template"},
    )
    assert r.status_code == 201, r.text
    check_response("/minio/upload-template", r)
    assert r.json()["template_name"] == "ml/automl_template.ipynb"

    # a normal user lists, searches, reads, and fetches the download URL
    r = call(hub, "GET", "minio/list-templates", "alice", params={"category": "ml"})
    assert r.status_code == 200
    check_response("/minio/list-templates", r)
    assert [t["name"] for t in r.json()["templates"]] == ["ml/automl_template.ipynb"]
    r = call(hub, "GET", "minio/list-templates", "alice", params={"q": "automl"})
    assert r.json()["total"] == 1
    r = call(hub, "GET", "minio/list-templates", "alice", params={"q": "nothing-like-it"})
    assert r.json()["total"] == 0
    r = call(
        hub,
        "GET",
        "minio/get-template/ml/automl_template.ipynb",
        "alice",
        params={"content": "true"},
    )
    assert r.status_code == 200
    check_response("/minio/get-template/{name}", r)
    assert len(r.json()["parameters"]) == 6
    r = call(hub, "GET", "minio/download-url/ml/automl_template.ipynb", "alice")
    assert r.status_code == 200
    check_response("/minio/download-url/{name}", r)
    assert requests.get(r.json()["url"], timeout=30).content == data

    # the user may neither upload nor delete
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "alice",
        files={"file": ("x.ipynb", data)},
        data={"category": "ml"},
    )
    assert r.status_code == 403
    check_response("/minio/upload-template", r)
    r = call(hub, "DELETE", "minio/delete-template/ml/automl_template.ipynb", "alice")
    assert r.status_code == 403
    # no token
    for method, path in [
        ("GET", "minio/list-templates"),
        ("GET", "minio/get-template/ml/automl_template.ipynb"),
        ("POST", "minio/upload-template"),
        ("DELETE", "minio/delete-template/ml/automl_template.ipynb"),
    ]:
        assert call(hub, method, path).status_code == 403
    # still there; then admin deletes it
    assert call(hub, "GET", "minio/get-template/ml/automl_template.ipynb", "bob").status_code == 200
    r = call(hub, "DELETE", "minio/delete-template/ml/automl_template.ipynb", "admin")
    assert r.status_code == 200
    check_response("/minio/delete-template/{name}", r)
    r = call(hub, "GET", "minio/get-template/ml/automl_template.ipynb", "bob")
    assert r.status_code == 404
    check_response("/minio/get-template/{name}", r)


def test_health_and_openapi_public(managed_hub: Hub) -> None:
    r = requests.get(managed_hub.service_url + "health", timeout=30)
    check_response("/health", r)
    assert r.json()["checks"]["store"]["kind"] == (
        "s3" if managed_hub.kind == "postgres-s3" else "directory"
    )
    r = requests.get(managed_hub.service_url + "openapi.json", timeout=30)
    assert r.status_code == 200
    assert "/minio/list-templates" in r.json()["paths"]


def test_oauth_token_of_the_lab_page_reaches_the_service(managed_hub: Hub) -> None:
    """The Hub's OAuth client settings let a token scoped to the service in (as the Lab
    extension's will be), and only a templates admin's carries the admin scope."""
    hub = managed_hub
    for user, admin in [("alice", False), ("carol", True)]:
        r = hub.api(
            "POST",
            f"/users/{user}/tokens",
            json={
                "scopes": ["access:services!service=templates", "custom:templates:admin"]
                if admin
                else ["access:services!service=templates"],
                "expires_in": 600,
            },
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        me = requests.get(
            hub.service_url, headers={"Authorization": f"token {token}"}, timeout=30
        ).json()
        assert me["user"] == user
        assert me["templates_admin"] is admin


def test_service_token_never_logged(managed_hub: Hub) -> None:
    text = managed_hub.log.read_text()
    for token in managed_hub.tokens.values():
        assert token not in text


def test_browser_oauth_login_and_xsrf(managed_hub: Hub) -> None:
    """A browser goes through the Hub's OAuth to the service and gets a cookie; a
    cookie-authenticated write without the XSRF token is refused and changes nothing."""
    s = browser_login(managed_hub, "admin")
    # a browser (as from the Hub's Services menu) gets a page leading to the Lab panel
    r = s.get(managed_hub.service_url, headers={"Sec-Fetch-Mode": "navigate"}, timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.url.startswith(managed_hub.service_url)
    assert r.headers["Content-Type"].startswith("text/html")
    assert "Signed in as <strong>admin</strong>" in r.text
    assert 'href="/hub/user-redirect/lab"' in r.text
    assert "upload, replace and delete templates" in r.text  # an admin's
    # the same address answers JSON to a client asking for it
    r = s.get(
        managed_hub.service_url,
        headers={"Sec-Fetch-Mode": "navigate", "Accept": "application/json"},
        timeout=30,
    )
    assert r.json()["user"] == "admin" and r.json()["templates_admin"] is True
    # the cookie identifies the browser when it navigates to a route
    r = s.get(
        managed_hub.service_url + "minio/list-templates",
        headers={"Sec-Fetch-Mode": "navigate"},
        timeout=30,
    )
    assert r.status_code == 200
    # scripts must send a token (as the Lab extension does) or the XSRF token
    r = s.get(
        managed_hub.service_url + "minio/list-templates",
        headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"},
        timeout=30,
    )
    assert r.status_code == 403
    # a cross-site-style write with the cookie and no XSRF token: refused
    r = s.post(
        managed_hub.service_url + "minio/upload-template",
        files={"file": ("xsrf.ipynb", make_notebook())},
        data={"category": "xsrf"},
        headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"},
        timeout=30,
    )
    assert r.status_code == 403
    r = call(managed_hub, "GET", "minio/list-templates", "alice", params={"category": "xsrf"})
    assert r.json()["total"] == 0


def test_the_service_finds_the_proxy_wherever_the_hub_put_it(tmp_path) -> None:
    """`jupyterhub -f jupyterhub_config.py --port N`: the config file names another port,
    and the service still reaches users' servers (through the proxy on N)."""
    hub = start_managed_hub(tmp_path, port_on_command_line=True)
    try:
        headers = {"Authorization": f"token {hub.tokens['alice']}"}
        nb = make_notebook("x = 1", body="print(x)")
        admin = {"Authorization": f"token {hub.tokens['admin']}"}
        r = requests.post(
            hub.service_url + "minio/upload-template",
            headers=admin,
            files={"file": ("port.ipynb", nb)},
            data={"category": "ports"},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        r = requests.post(
            hub.service_url + "create-from-template",
            headers=headers,
            json={"template_name": "ports/port.ipynb", "new_name": "from-port-n"},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        assert (hub.user_dir("alice") / "from-port-n.ipynb").exists()
    finally:
        stop_process(hub.proc)


def test_a_taken_service_port_stops_the_service_with_a_clear_message(hub: Hub, tmp_path) -> None:
    """The Hub routes the service's URL to whatever listens there: a service that cannot
    listen says so and exits, instead of leaving another process answering for it."""
    import socket
    import subprocess
    import sys

    from fixtures.hub import clean_env

    env = clean_env()
    env.update(hub.service_env())
    env.update(
        JUPYTERHUB_TEMPLATES_DB_URL=f"sqlite:///{tmp_path / 't.sqlite'}",
        JUPYTERHUB_TEMPLATES_STORE_DIR=str(tmp_path / "store"),
    )
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", hub.service_port))
        holder.listen()
        done = subprocess.run(
            [sys.executable, "-m", "jupyterhub_templates.service"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert f"cannot listen on http://127.0.0.1:{hub.service_port}" in output, output[-2000:]
    assert "Traceback" not in output


def test_the_hub_refuses_to_start_when_the_service_port_is_taken(tmp_path) -> None:
    """With the demo's config, a taken service port stops the Hub at once, saying which."""
    import socket
    import subprocess

    from fixtures.hub import BIN, ROOT, clean_env, free_port

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = clean_env()
        env.update(
            JUPYTERHUB_TEMPLATES_DEMO_DIR=str(tmp_path),
            JUPYTERHUB_TEMPLATES_HUB_PORT=str(free_port()),
            JUPYTERHUB_TEMPLATES_HUB_API_PORT=str(free_port()),
            JUPYTERHUB_TEMPLATES_SERVICE_PORT=str(taken),
            JUPYTERHUB_TEMPLATES_MLFLOW="0",
        )
        done = subprocess.run(
            [str(BIN / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # the Hub's commands read the same file beside a running Hub: no refusal there
        command = subprocess.run(
            [str(BIN / "jupyterhub"), "upgrade-db", "-f", str(ROOT / "jupyterhub_config.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert f"port {taken} is taken by another process" in done.stdout + done.stderr
    assert command.returncode == 0, command.stdout + command.stderr
    assert "is taken" not in command.stdout + command.stderr
