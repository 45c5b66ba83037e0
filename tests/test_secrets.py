"""Secrets: with every log at DEBUG, an end-to-end scenario leaves no
secret in any log, file or HTTP answer.

The setup has distinctive secrets everywhere: the Hub's tokens (the service's, the test
harness', the proxy's auth token, the users' API tokens), the S3 access and secret keys
(moto accepts any), the database password in the service's PostgreSQL URL (local
PostgreSQL trusts, so any password is accepted), and the service's download and cookie
secrets. Logs: the Hub at DEBUG with its proxy and the users' single-user servers (with
``--debug``; their output, and the server extension's, goes to the Hub's log), the
service at DEBUG, and the runners' logs read back through ``/execution/{id}/log``.

The scenario: admin upload; list, search, categories, read (with content), download
URL and download; create from the template; a notebook that dumps its kernel's
environment run to success (status, log, listings); another cancelled; the legacy
routes; errors 400, 403, 404, 409 and 503 (S3 stopped); health, openapi.json; a
browser-style login through the Hub and the service's OAuth.

Then every answer (status, headers, body; recorded as they came), the Hub's and the
service's logs and every file in the Hub's and the service's folders (the users'
notebooks and outputs included) are searched for each secret in its common encodings
(:mod:`secrets_scan`). The moto server's own log is not ours and is not searched: S3
requests carry the access key by protocol.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from fixtures.hub import Hub, ServiceProcess, start_hub, stop_process
from fixtures.postgres import scratch_database
from fixtures.s3 import MotoServer
from notebooks import make_notebook, write_python_notebook
from secrets_scan import SecretScanner, presigned_credential
from sqlalchemy.engine import make_url

from jupyterhub_templates.statuses import FINAL

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.s3]

TEMPLATE = "secrets/probe.ipynb"
#: a cell whose output is the kernel's whole environment
ENV_DUMP = "import json, os\nprint('ENVIRONMENT', json.dumps(dict(os.environ), sort_keys=True))"


@dataclass
class Setup:
    hub: Hub
    service: ServiceProcess
    moto: MotoServer
    workdir: Path
    secrets: dict[str, str]  # name -> value
    service_secrets: dict[str, str]  # those a user's kernel must not see
    pairs: list[tuple[str, str, str]]
    scanner: SecretScanner
    session: requests.Session  # records (scans) every answer


def distinctive(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("secrets")
    moto = MotoServer(workdir / "moto.log")
    moto.access_key = distinctive("AKIALEAK")
    moto.secret_key = distinctive("s3SecretLeak")
    proxy_token = distinctive("proxyLeak")
    db_password = distinctive("pgPassLeak")
    download_secret = distinctive("downloadLeak")
    cookie_secret = distinctive("cookieLeak")
    moto.start()
    (workdir / "hub").mkdir()
    hub = start_hub(
        workdir / "hub",
        external_service=True,
        extra_env={"TEMPLATES_TEST_DEBUG": "1", "CONFIGPROXY_AUTH_TOKEN": proxy_token},
    )
    try:
        with scratch_database() as db_url:
            url = make_url(db_url).set(password=db_password)
            service_env = {
                "JUPYTERHUB_TEMPLATES_DB_URL": url.render_as_string(hide_password=False),
                "JUPYTERHUB_TEMPLATES_STORE": "s3",
                "JUPYTERHUB_TEMPLATES_S3_ENDPOINT": moto.endpoint,
                "JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY": moto.access_key,
                "JUPYTERHUB_TEMPLATES_S3_SECRET_KEY": moto.secret_key,
                "JUPYTERHUB_TEMPLATES_S3_BUCKET": f"secrets-{uuid.uuid4().hex[:12]}",
                "JUPYTERHUB_TEMPLATES_DOWNLOAD_SECRET": download_secret,
                "JUPYTERHUB_TEMPLATES_COOKIE_SECRET": cookie_secret,
            }
            service = ServiceProcess(hub, service_env, workdir / "service", log_level="DEBUG")
            service.workdir.mkdir()
            service.start(
                [
                    "--ExecutionMonitor.stopped_grace=10",
                    "--Executions.first_cell_timeout=60",
                ]
            )
            service_secrets = {
                "service's Hub token": hub.service_token,
                "S3 access key": moto.access_key,
                "S3 secret key": moto.secret_key,
                "database password": db_password,
                "download secret": download_secret,
                "cookie secret": cookie_secret,
            }
            all_secrets = {
                **service_secrets,
                "harness token": hub.harness_token,
                "proxy auth token": proxy_token,
                **{f"{user}'s API token": token for user, token in hub.tokens.items()},
            }
            pairs = [
                ("S3 access:secret", moto.access_key, moto.secret_key),
                ("database user:password", url.username or "postgres", db_password),
            ]
            scanner = SecretScanner(all_secrets, pairs)
            try:
                yield Setup(
                    hub,
                    service,
                    moto,
                    workdir,
                    all_secrets,
                    service_secrets,
                    pairs,
                    scanner,
                    scanner.recorder(),
                )
            finally:
                service.stop()
    finally:
        stop_process(hub.proc)
        moto.stop()


def call(s: Setup, method: str, path: str, user: str | None = None, **kwargs: Any):
    headers = kwargs.pop("headers", {})
    if user is not None:
        headers["Authorization"] = f"token {s.hub.tokens[user]}"
    return s.session.request(method, s.service.url + path, headers=headers, timeout=120, **kwargs)


def wait_final(s: Setup, execution_id: int, user: str = "alice") -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while True:
        r = call(s, "GET", f"execution-status/{execution_id}", user)
        assert r.status_code == 200, r.text
        if r.json()["status"] in FINAL:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.5)


def browser_login(s: Setup, user: str) -> requests.Session:
    """Log in through the Hub's form and the service's OAuth, recording every answer
    (redirects included: the OAuth code and state travel in them)."""
    b = s.scanner.recorder()
    b.headers["Accept"] = "text/html"
    b.get(f"{s.hub.url}/hub/login", timeout=30)
    r = b.post(
        f"{s.hub.url}/hub/login?next=%2Fhub%2Fhome",
        data={"username": user, "password": "x", "_xsrf": b.cookies.get("_xsrf", "")},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:500]
    r = b.get(s.service.url, headers={"Sec-Fetch-Mode": "navigate"}, timeout=30)
    assert r.status_code == 200, r.text[:500]
    # the landing page a browser gets (API clients get JSON there)
    assert f"Signed in as <strong>{user}</strong>" in r.text
    return b


def scenario(s: Setup) -> dict[str, Any]:
    """The end-to-end run; returns what the checks need."""
    hub = s.hub
    # -- catalog
    r = call(
        s,
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": ("probe.ipynb", make_notebook(body="print(dataset_path)"))},
        data={"category": "secrets", "description": "probe for leaks"},
    )
    assert r.status_code == 201, r.text
    assert call(s, "GET", "minio/list-templates", "alice").status_code == 200
    r = call(
        s, "GET", "minio/list-templates", "alice", params={"q": "probe", "category": "secrets"}
    )
    assert [t["name"] for t in r.json()["templates"]] == [TEMPLATE], r.text
    assert call(s, "GET", "minio/list-categories", "alice").status_code == 200
    r = call(s, "GET", f"minio/get-template/{TEMPLATE}", "alice", params={"content": "true"})
    assert r.status_code == 200, r.text
    r = call(s, "GET", f"minio/download-url/{TEMPLATE}", "alice")
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    r = s.session.get(url if url.startswith("http") else hub.url + url, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert json.loads(r.content)["cells"]

    # -- a notebook from the template, then runs
    r = call(
        s,
        "POST",
        "create-from-template",
        "alice",
        json={
            "template_name": TEMPLATE,
            "target_directory": "secrets",
            "new_name": "probe.ipynb",
            "parameters": {"dataset_path": "/tmp/x.csv"},
        },
    )
    assert r.status_code == 201, r.text
    notebook_id = r.json()["notebook_id"]
    r = call(
        s,
        "POST",
        "create-from-template",
        "alice",
        json={"template_name": TEMPLATE, "target_directory": "secrets", "new_name": "probe.ipynb"},
    )
    assert r.status_code == 409, r.text

    write_python_notebook(hub.user_dir("alice") / "secrets/env.ipynb", ENV_DUMP)
    r = call(
        s,
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": "secrets/env.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 202, r.text
    env_run = wait_final(s, r.json()["execution_id"])
    assert env_run["status"] == "success", env_run
    r = call(s, "GET", f"execution/{env_run['execution_id']}/log", "alice")
    assert r.status_code == 200, r.text

    write_python_notebook(
        hub.user_dir("alice") / "secrets/sleep.ipynb",
        "print('started')",
        "import time; time.sleep(300)",
    )
    r = call(
        s,
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": "secrets/sleep.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code == 202, r.text
    sleeper = r.json()["execution_id"]
    r = call(s, "POST", f"execution/{sleeper}/cancel", "alice")
    assert r.status_code == 200, r.text
    assert wait_final(s, sleeper)["status"] == "cancelled"
    assert call(s, "GET", f"execution/{sleeper}/log", "alice").status_code == 200

    # legacy routes
    r = call(
        s,
        "POST",
        "execute",
        "alice",
        json={"notebook_path": "secrets/env.ipynb", "kernel_name": "python3"},
    )
    assert r.status_code in (200, 202), r.text
    legacy = r.json().get("execution_id")
    r = call(s, "POST", "submit-notebook", "alice", json={"notebook_path": "secrets/probe.ipynb"})
    assert r.status_code in (200, 201), r.text
    if legacy is not None:
        wait_final(s, legacy)

    for path in ("executions", "notebooks", f"notebook/{notebook_id}"):
        assert call(s, "GET", path, "alice").status_code == 200, path
    assert call(s, "GET", "executions", "carol", params={"all": "true"}).status_code == 200

    # -- errors
    r = call(
        s,
        "POST",
        "minio/upload-template",
        "bob",
        files={"file": ("x.ipynb", make_notebook())},
        data={"category": "secrets"},
    )
    assert r.status_code == 403, r.text
    assert call(s, "GET", "minio/list-templates").status_code == 403
    assert call(s, "GET", "executions", headers={"Authorization": "token nope"}).status_code == 403
    assert call(s, "GET", "minio/get-template/secrets/none.ipynb", "alice").status_code == 404
    assert call(s, "GET", f"execution-status/{env_run['execution_id']}", "bob").status_code == 404
    assert call(s, "GET", "execution-status/999999", "alice").status_code == 404
    r = call(s, "POST", "create-from-template", "alice", data="{not json")
    assert r.status_code == 400, r.text
    r = s.session.get(
        hub.url + f"/services/templates/minio/download/{TEMPLATE}",
        params={"expires": "9999999999", "signature": "forged"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
    assert call(s, "GET", "health").status_code == 200
    assert call(s, "GET", "openapi.json").status_code == 200
    # S3 down: the store's errors carry its endpoint, never its keys
    s.moto.stop()
    try:
        # (reads may be answered from the catalog's cache; a write must reach S3)
        r = call(
            s,
            "POST",
            "minio/upload-template",
            "carol",
            files={"file": ("down.ipynb", make_notebook())},
            data={"category": "secrets"},
        )
        assert r.status_code == 503, r.text
        r = call(s, "GET", "health")
        assert r.status_code in (200, 503), r.text
    finally:
        s.moto.start()

    # -- public routes and a browser
    # (after the restart moto has lost the bucket: health may say so)
    assert call(s, "GET", "health").status_code in (200, 503)
    assert call(s, "GET", "").status_code in (200, 302, 403)
    browser = browser_login(s, "alice")
    r = browser.get(s.service.url + "notebooks", timeout=30)
    assert r.status_code == 200, r.text
    return {"env_run": env_run}


def kernel_environment(s: Setup, env_run: dict[str, Any]) -> dict[str, str]:
    out = nbformat.read(str(s.hub.user_dir("alice") / env_run["output_path"]), as_version=4)
    for cell in out.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if text.startswith("ENVIRONMENT "):
                return json.loads(text.split(" ", 1)[1])
    raise AssertionError("the environment dump is not in the output notebook")


def test_no_secret_in_logs_files_or_answers(setup: Setup) -> None:
    s = setup
    result = scenario(s)
    time.sleep(1)  # the last log lines reach the files

    # the kernel gets nothing of the service's
    env = kernel_environment(s, result["env_run"])
    assert "PATH" in env  # the dump is real
    kernel = SecretScanner(s.service_secrets)
    kernel.scan_text("the kernel's environment", json.dumps(env))
    kernel.assert_clean()
    # none of the service's settings either; the run's own id is there on purpose
    service_settings = {k for k in env if k.startswith("JUPYTERHUB_TEMPLATES_")}
    assert service_settings <= {"JUPYTERHUB_TEMPLATES_EXECUTION_ID"}, sorted(env)

    # every answer was scanned as it came; now the logs and every file
    answers = len(s.scanner.scanned)
    assert answers >= 25, answers  # distinct request lines
    s.scanner.scan_file(s.hub.log, "the Hub's log (proxy, single-user servers)")
    s.scanner.scan_file(s.service.log, "the service's log")
    for root in (s.hub.dir, s.service.workdir):
        s.scanner.scan_tree(root)
    # the logs were at DEBUG and saw the work
    hub_log = s.hub.log.read_text(errors="replace")
    service_log = s.service.log.read_text(errors="replace")
    assert "[D " in hub_log and "[D " in service_log
    assert "/api/contents/secrets/probe.ipynb" in hub_log  # a single-user server's line
    assert "execute-notebook" in service_log
    assert any(
        "ENVIRONMENT" in p.read_text(errors="replace")
        for p in s.hub.user_dir("alice").rglob("*.ipynb")
    )
    # By protocol an S3 presigned URL names its access key id (X-Amz-Credential; the
    # id is not secret, the signature made with the secret key is): the one place an
    # S3 access key may appear is the URL download-url answers with the S3 store.
    s.scanner.findings = [f for f in s.scanner.findings if not presigned_credential(f)]
    print(
        f"\nscanned {len(s.scanner.scanned)} sources ({answers} request lines), "
        f"{sum(s.scanner.scanned.values())} characters, for {len(s.secrets)} secrets"
    )
    s.scanner.assert_clean()


def test_the_scanner_finds_every_encoding() -> None:
    """The scan itself can fail: each common form of a leak is found, clean text is not."""
    import base64
    from urllib.parse import quote

    key, secret = "AKIAEXAMPLEKEY01", "s3cr3t/with+odd=chars&more"
    leaks = {
        "raw": f"config: {secret}\n",
        "url": f"GET /x?token={quote(secret, safe='')} 200",
        "json": json.dumps({"v": secret + '"'}),
        "base64 at offset 0": base64.b64encode(secret.encode()).decode(),
        "base64 at offset 1": base64.b64encode(b"x" + secret.encode() + b"yz").decode(),
        "base64 at offset 2": base64.b64encode(b"xy" + secret.encode()).decode(),
        "basic auth": "Authorization: Basic "
        + base64.b64encode(f"{key}:{secret}".encode()).decode(),
    }
    for name, text in leaks.items():
        scanner = SecretScanner({"secret": secret}, [("pair", key, secret)])
        assert scanner.scan_text(name, text), name
    clean = SecretScanner({"secret": secret})
    assert not clean.scan_text("clean", "s3cr3t/with+odd=charsXmore " + secret[:-1])
    clean.assert_clean()
    with pytest.raises(ValueError):
        SecretScanner({"short": "abc"})
    # in a log, any credential in a URL counts, known or not; masked ones do not
    unknown = SecretScanner({"secret": secret})
    assert unknown.scan_text("log", "GET /x?a=1&token=0123456789abcdef0123 (1.2.3.4)", urls=True)
    assert not unknown.scan_text("log", "GET /x?token=[secret]&access_token=...", urls=True)
