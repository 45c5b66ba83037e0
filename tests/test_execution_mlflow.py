"""A run's MLflow runs are on its record as soon as its status is final.

The service stores the final status first and looks up the MLflow runs after; a client
that polls until the status is final must still read them. Here the service reaches a
real MLflow (tests/fixtures/mlflow.py) through a proxy that delays every run search, so
an answer written before the lookup ends would lack the runs. The notebook (python3
kernel, which has no mlflow package) logs its run through MLflow's REST API with the
tags the service hands it, as ``mlflow.start_run()`` would.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess, local_service_env, running_service
from notebooks import write_python_notebook

from jupyterhub_templates.statuses import FINAL

SEARCH_DELAY = 2.0

LOG_A_RUN = """
import json, os, time, urllib.parse, urllib.request
base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/"
def call(endpoint, body=None, query=None):
    url = base + endpoint + ("?" + urllib.parse.urlencode(query) if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)
name = os.environ["MLFLOW_EXPERIMENT_NAME"]
experiment = call("experiments/get-by-name", query={"experiment_name": name})["experiment"]
tags = json.loads(os.environ["MLFLOW_RUN_CONTEXT"])
run = call("runs/create", {
    "experiment_id": experiment["experiment_id"],
    "start_time": int(time.time() * 1000),
    "tags": [{"key": k, "value": v} for k, v in tags.items()],
})["run"]["info"]
call("runs/log-metric", {"run_id": run["run_id"], "key": "score", "value": 0.5,
                         "timestamp": int(time.time() * 1000), "step": 0})
call("runs/update", {"run_id": run["run_id"], "status": "FINISHED",
                     "end_time": int(time.time() * 1000)})
print("run", run["run_id"])
"""


class _SlowSearchProxy(http.server.ThreadingHTTPServer):
    """Forwards to MLflow; every ``runs/search`` waits ``SEARCH_DELAY`` seconds first."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.searches = 0
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    server: _SlowSearchProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "runs/search" in self.path:
            self.server.searches += 1
            time.sleep(SEARCH_DELAY)  # the slowness under test, in the proxy's own thread
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        r = requests.request(
            self.command, self.server.upstream + self.path, data=body, headers=headers, timeout=30
        )
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def slow_mlflow(mlflow_server) -> Iterator[_SlowSearchProxy]:
    proxy = _SlowSearchProxy(mlflow_server.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture(scope="module")
def svc(
    hub: Hub, slow_mlflow: _SlowSearchProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("execution-mlflow")
    env = {
        **local_service_env(workdir),
        "JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI": slow_mlflow.url,
    }
    with running_service(hub, env, workdir) as service:
        yield service


def _notebook(hub: Hub, name: str) -> str:
    path = f"mlflow-runs/{name}.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, LOG_A_RUN, params="x = 1")
    return path


def _execute(svc: ServiceProcess, route: str, path: str, **kwargs: Any) -> requests.Response:
    """Alice runs ``path`` on python3, its MLflow runs in the experiment ``mlflow-runs``."""
    body = {"notebook_path": path, "kernel_name": "python3", "experiment_name": "mlflow-runs"}
    return svc.request("POST", route, "alice", json=body, **kwargs)


def _runs_tagged(mlflow_server, execution_id: int) -> list[str]:
    experiment = mlflow_server.experiment_id("mlflow-runs")
    found = mlflow_server.api(
        "POST",
        "runs/search",
        json={
            "experiment_ids": [experiment],
            "filter": f"tags.`templates.execution_id` = '{execution_id}'",
        },
    )
    return [r["info"]["run_id"] for r in found.get("runs", [])]


def test_the_first_final_status_carries_the_mlflow_runs(
    svc: ServiceProcess, hub: Hub, mlflow_server, slow_mlflow: _SlowSearchProxy
) -> None:
    path = _notebook(hub, "polled")
    r = _execute(svc, "execute-notebook", path)
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    searches = slow_mlflow.searches
    deadline = time.monotonic() + 120
    while True:
        r = svc.request("GET", f"execution-status/{execution_id}", "alice")
        assert r.status_code == 200, r.text
        current = r.json()
        if current["status"] in FINAL:
            break
        assert time.monotonic() < deadline, current
        time.sleep(0.05)
    assert current["status"] == "success", current
    # the lookup went through the slow proxy, and the answer waited for it
    assert slow_mlflow.searches > searches
    runs = current["mlflow"]["runs"]
    assert [run["run_id"] for run in runs] == _runs_tagged(mlflow_server, execution_id)
    assert runs[0]["metrics"] == {"score": 0.5}
    assert runs[0]["status"] == "FINISHED"


def test_execute_in_place_answers_with_the_mlflow_runs(
    svc: ServiceProcess, hub: Hub, mlflow_server
) -> None:
    path = _notebook(hub, "in-place")
    r = _execute(svc, "execute", path, timeout=180)
    assert r.status_code == 200, r.text
    final = r.json()
    assert final["status"] == "success", final
    runs = final["mlflow"]["runs"]
    assert [run["run_id"] for run in runs] == _runs_tagged(mlflow_server, final["execution_id"])
    assert len(runs) == 1


def test_a_listing_says_when_the_mlflow_runs_are_still_pending(
    svc: ServiceProcess, hub: Hub, mlflow_server
) -> None:
    """Listings are not held up by the lookup: a final run there either carries its runs
    or says that they are still being looked up, until it carries them."""
    path = _notebook(hub, "listed")
    r = _execute(svc, "execute-notebook", path)
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    deadline = time.monotonic() + 120
    while True:
        r = svc.request("GET", "executions", "alice", params={"limit": 500})
        assert r.status_code == 200, r.text
        (run,) = [e for e in r.json()["executions"] if e["execution_id"] == execution_id]
        if run["status"] in FINAL:
            assert run["mlflow"]["pending"] or run["mlflow"]["runs"], run["mlflow"]
            if not run["mlflow"]["pending"]:
                break
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert [x["run_id"] for x in run["mlflow"]["runs"]] == _runs_tagged(mlflow_server, execution_id)
