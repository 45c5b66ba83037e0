"""The service's metrics as an operator sees them: a real Prometheus (Debian's package,
installed by ``make test``) on loopback scrapes ``/metrics`` with a token holding only
``read:metrics`` and access to the service, through a scenario of uploads, a create, a
successful, a failing and a cancelled run; Prometheus' HTTP API then has the numbers."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.hub import (
    Hub,
    ServiceProcess,
    free_port,
    local_service_env,
    running_service,
    stop_process,
)
from notebooks import make_notebook, write_python_notebook

from jupyterhub_templates.statuses import FINAL

pytestmark = pytest.mark.e2e

WAIT = 90.0


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("prometheus-service")
    with running_service(
        hub, local_service_env(workdir), workdir, ["--Executions.first_cell_timeout=30"]
    ) as service:
        yield service


@pytest.fixture(scope="module")
def scraper_token(hub: Hub) -> str:
    """What a Prometheus needs: read:metrics and access to the service, nothing else."""
    r = hub.api(
        "POST",
        "/users/admin/tokens",
        json={
            "note": "prometheus",
            "expires_in": 3600,
            "scopes": ["read:metrics", "access:services!service=templates"],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen) -> None:
        self.url = url
        self.proc = proc

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float) -> None:
        """Until the latest scrape gives ``expr`` the value ``expected`` (bounded)."""
        deadline = time.monotonic() + WAIT
        while (found := self.value(expr)) != expected:
            assert time.monotonic() < deadline, f"{expr} = {found}, expected {expected}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus(
    svc: ServiceProcess, scraper_token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus is not installed: `make test` installs it")
    tmp = tmp_path_factory.mktemp("prometheus")
    (tmp / "token").write_text(scraper_token)
    target = svc.direct_url.split("/")[2]  # host:port of the service itself
    (tmp / "prometheus.yml").write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: templates
    metrics_path: /services/templates/metrics
    authorization:
      type: token
      credentials_file: {tmp / "token"}
    static_configs:
      - targets: ["{target}"]
"""
    )
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()[
            -3000:
        ]
        time.sleep(0.3)
    try:
        yield Prometheus(url, proc)
    finally:
        stop_process(proc)
        log.close()


def _wait_final(svc: ServiceProcess, execution_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        r = svc.request("GET", f"execution-status/{execution_id}", "alice")
        assert r.status_code == 200, r.text
        if r.json()["status"] in FINAL:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.3)


def test_prometheus_scrapes_the_scenario(
    svc: ServiceProcess, hub: Hub, prometheus: Prometheus, scraper_token: str
) -> None:
    # the scrape works at all (the target is up, with the scraper's token)
    prometheus.wait_for('up{job="templates"}', 1.0)
    for name in ("one", "two"):
        r = svc.request(
            "POST",
            "minio/upload-template",
            "admin",
            files={"file": (f"{name}.ipynb", make_notebook("x = 1", body="print(x)"))},
            data={"category": "metrics"},
        )
        assert r.status_code == 201, r.text
    r = svc.request(  # alice may not upload: refused
        "POST",
        "minio/upload-template",
        "alice",
        files={"file": ("three.ipynb", make_notebook("x = 1"))},
        data={"category": "metrics"},
    )
    assert r.status_code == 403
    r = svc.request(
        "POST",
        "create-from-template",
        "alice",
        json={"template_name": "metrics/one.ipynb", "target_directory": "metrics"},
    )
    assert r.status_code == 201, r.text
    runs = {}
    for name, source in (
        ("ok", "print('fine')"),
        ("bad", "1/0"),
        ("slow", "import time; time.sleep(120)"),
    ):
        path = f"metrics/{name}.ipynb"
        write_python_notebook(hub.user_dir("alice") / path, source, params="x = 1")
        r = svc.request(
            "POST",
            "execute-notebook",
            "alice",
            json={"notebook_path": path, "kernel_name": "python3"},
        )
        assert r.status_code == 202, r.text
        runs[name] = r.json()["execution_id"]
    r = svc.request("POST", f"execution/{runs['slow']}/cancel", "alice")
    assert r.status_code == 200, r.text
    finals = {name: _wait_final(svc, execution_id)["status"] for name, execution_id in runs.items()}
    assert finals == {"ok": "success", "bad": "failed", "slow": "cancelled"}

    actions = "jupyterhub_templates_actions_total"
    prometheus.wait_for(f'{actions}{{action="upload",outcome="success"}}', 2.0)
    prometheus.wait_for(f'{actions}{{action="upload",outcome="not_allowed"}}', 1.0)
    prometheus.wait_for(f'{actions}{{action="create",outcome="success"}}', 1.0)
    prometheus.wait_for(f'{actions}{{action="execute",outcome="success"}}', 3.0)
    prometheus.wait_for(f'{actions}{{action="cancel",outcome="success"}}', 1.0)
    prometheus.wait_for("jupyterhub_templates_executions_started_total", 3.0)
    finished = "jupyterhub_templates_executions_finished_total"
    prometheus.wait_for(f'{finished}{{status="success",reason=""}}', 1.0)
    prometheus.wait_for(f'{finished}{{status="failed",reason="cell error"}}', 1.0)
    prometheus.wait_for(f'{finished}{{status="cancelled",reason=""}}', 1.0)
    prometheus.wait_for("jupyterhub_templates_templates", 2.0)
    prometheus.wait_for("jupyterhub_templates_executions_active", 0.0)
    prometheus.wait_for(
        'sum(jupyterhub_templates_execution_duration_seconds_count{status=~"success|failed"})',
        2.0,
    )
    assert prometheus.value("jupyterhub_templates_store_duration_seconds_count") is not None
    assert (prometheus.value("sum(jupyterhub_templates_database_duration_seconds_count)") or 0) > 0
    assert (
        prometheus.value(
            'sum(jupyterhub_templates_request_duration_seconds_count{handler="UploadTemplateHandler"})'
        )
        == 3.0
    )

    # no user name, path or secret in any label value
    labels = set()
    for series in requests.get(
        f"{prometheus.url}/api/v1/series",
        params={"match[]": '{__name__=~"jupyterhub_templates_.*"}'},
        timeout=10,
    ).json()["data"]:
        labels.update(v for k, v in series.items() if k != "__name__")
    secrets = [*hub.tokens.values(), scraper_token, hub.service_token]
    for value in labels:
        assert "alice" not in value and "admin" not in value, value
        assert "/" not in value and ".ipynb" not in value, value
        assert not any(secret in value for secret in secrets), value


def test_metrics_need_read_metrics(svc: ServiceProcess) -> None:
    r = svc.request("GET", "metrics", "alice")  # alice's token: no read:metrics
    assert r.status_code == 403
    assert "read:metrics" in r.json()["message"]
    r = svc.request("GET", "metrics")
    assert r.status_code == 403
