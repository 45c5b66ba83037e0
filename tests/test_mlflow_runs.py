"""find_runs against a real MLflow tracking server (tests/fixtures/mlflow.py) and fakes."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyterhub_templates.errors import Unavailable
from jupyterhub_templates.execution import mlflow_runs
from jupyterhub_templates.execution.mlflow_runs import (
    MLflowUnavailable,
    ensure_experiment,
    filter_string,
    find_runs,
    redact_uri,
)

TAG = "templates.execution_id"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_finds_runs_of_one_execution_parents_first(mlflow_server, unique_experiment):
    other = f"{unique_experiment}-other"
    t0 = int(time.time() * 1000)
    parent = mlflow_server.create_run(
        unique_experiment,
        tags={TAG: "42", "templates.username": "alice"},
        metrics={"accuracy": 0.9, "f1": 0.8},
        run_name="automl",
        start_time=t0,
    )
    # a child that started before its parent would sort first by time alone
    child = mlflow_server.create_run(
        unique_experiment,
        tags={TAG: "42"},
        metrics={"cv_score": 0.7},
        parent_run_id=parent,
        start_time=t0 - 5000,
    )
    running = mlflow_server.create_run(other, tags={TAG: "42"}, finish=False, start_time=t0 + 1)
    mlflow_server.create_run(unique_experiment, tags={TAG: "420"})
    mlflow_server.create_run(unique_experiment, tags={TAG: "4"})
    mlflow_server.create_run(unique_experiment, tags={"templates.other": "42"})

    runs = await find_runs(
        mlflow_server.url,
        "42",
        experiment_names=[unique_experiment, other, "no-such-experiment", unique_experiment],
    )

    assert [r["run_id"] for r in runs] == [parent, running, child]
    by_id = {r["run_id"]: r for r in runs}
    exp_id = mlflow_server.experiment_id(unique_experiment)
    p = by_id[parent]
    assert p["run_name"] == "automl"
    assert p["experiment_id"] == exp_id
    assert p["experiment_name"] == unique_experiment
    assert p["status"] == "FINISHED"
    assert p["metrics"] == {"accuracy": 0.9, "f1": 0.8}
    assert p["parent_run_id"] is None
    assert p["url"] == f"{mlflow_server.url}/#/experiments/{exp_id}/runs/{parent}"
    assert datetime.fromisoformat(p["start_time"]).timestamp() == pytest.approx(t0 / 1000)
    assert datetime.fromisoformat(p["end_time"]).utcoffset().total_seconds() == 0
    assert by_id[child]["parent_run_id"] == parent
    assert by_id[child]["metrics"] == {"cv_score": 0.7}
    assert by_id[running]["status"] == "RUNNING"
    assert by_id[running]["end_time"] is None
    assert by_id[running]["experiment_name"] == other


async def test_ui_url_and_trailing_slash(mlflow_server, unique_experiment):
    run = mlflow_server.create_run(unique_experiment, tags={TAG: "ui"})
    runs = await find_runs(
        mlflow_server.url + "/",
        "ui",
        experiment_names=[unique_experiment],
        ui_url="https://mlflow.example.org/",
    )
    exp_id = mlflow_server.experiment_id(unique_experiment)
    assert [r["url"] for r in runs] == [
        f"https://mlflow.example.org/#/experiments/{exp_id}/runs/{run}"
    ]


@pytest.mark.parametrize(
    "value",
    ["it's", 'say "hi"', "back\\slash\\", "both'\"", "per%cent_under", "' OR ''='"],
)
async def test_values_with_quotes_match_exactly(mlflow_server, unique_experiment, value):
    """Quotes and backslashes cannot break the filter nor match similar values."""
    wanted = mlflow_server.create_run(unique_experiment, tags={TAG: value})
    # values a LIKE pattern with wildcards would also select
    similar = value.replace("'", "x").replace('"', "x").replace("\\", "x").replace("%", "x")
    for decoy in {similar, "x" + value} - {value}:
        mlflow_server.create_run(unique_experiment, tags={TAG: decoy})
    runs = await find_runs(mlflow_server.url, value, experiment_names=[unique_experiment])
    assert [r["run_id"] for r in runs] == [wanted]


def test_filter_string():
    assert filter_string(TAG, "42") == "tags.`templates.execution_id` = '42'"
    assert filter_string(TAG, "a'b\"c\\") == "tags.`templates.execution_id` LIKE 'a_b_c_'"
    with pytest.raises(ValueError):
        filter_string("a`b", "1")


async def test_pages_through_results(mlflow_server, unique_experiment, monkeypatch):
    monkeypatch.setattr(mlflow_runs, "PAGE_SIZE", 2)
    created = {mlflow_server.create_run(unique_experiment, tags={TAG: "paged"}) for _ in range(5)}
    runs = await find_runs(mlflow_server.url, "paged", experiment_names=[unique_experiment])
    assert {r["run_id"] for r in runs} == created
    assert len(runs) == 5


async def test_unknown_experiment_or_execution_gives_empty_list(mlflow_server, unique_experiment):
    assert await find_runs(mlflow_server.url, "1", experiment_names=[unique_experiment]) == []
    assert await find_runs(mlflow_server.url, "1", experiment_names=[]) == []
    mlflow_server.create_run(unique_experiment, tags={TAG: "1"})
    assert await find_runs(mlflow_server.url, "2", experiment_names=[unique_experiment]) == []


async def test_server_down_raises_without_credentials():
    uri = f"http://alice:s3cr%2Ft@127.0.0.1:{_free_port()}"
    with pytest.raises(MLflowUnavailable) as info:
        await find_runs(uri, "1", experiment_names=["x"], timeout=2)
    message = str(info.value)
    assert "127.0.0.1" in message
    assert "s3cr" not in message
    assert "alice" not in message
    assert isinstance(info.value, Unavailable)
    assert info.value.status == 503


async def test_timeout_raises():
    """A server that accepts the connection but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(MLflowUnavailable, match="did not answer"):
            await find_runs(
                f"http://bob:pw@127.0.0.1:{port}", "1", experiment_names=["x"], timeout=0.5
            )
        assert time.monotonic() - started < 5


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with the class's status and body; records the headers."""

    status = 500
    body = b'{"error_code": "INTERNAL_ERROR", "message": "boom"}'
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_mlflow() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_5xx_raises_and_credentials_go_in_authorization_header(fake_mlflow):
    with pytest.raises(MLflowUnavailable) as info:
        await find_runs(f"http://al%40ice:p%3Ass@{fake_mlflow}/", "1", experiment_names=["x"])
    message = str(info.value)
    assert "500" in message and "boom" in message
    assert "p:ss" not in message and "p%3Ass" not in message and "al" not in message.lower()
    expected = base64.b64encode(b"al@ice:p:ss").decode()
    assert _Recorder.seen[0]["Authorization"] == f"Basic {expected}"


async def test_auth_error_raises(fake_mlflow, monkeypatch):
    monkeypatch.setattr(_Recorder, "status", 401)
    monkeypatch.setattr(_Recorder, "body", b"Unauthorized")
    with pytest.raises(MLflowUnavailable, match="401"):
        await find_runs(f"http://{fake_mlflow}", "1", experiment_names=["x"])
    assert "Authorization" not in _Recorder.seen[0]


async def test_404_that_is_not_mlflow_raises(fake_mlflow, monkeypatch):
    """Only MLflow's RESOURCE_DOES_NOT_EXIST means "no such experiment"."""
    monkeypatch.setattr(_Recorder, "status", 404)
    monkeypatch.setattr(_Recorder, "body", b"<html>Not Found</html>")
    with pytest.raises(MLflowUnavailable, match="404"):
        await find_runs(f"http://{fake_mlflow}/wrong-prefix", "1", experiment_names=["x"])


async def test_non_http_tracking_uri_is_refused():
    with pytest.raises(MLflowUnavailable, match="not an http"):
        await find_runs("sqlite:///mlflow.db", "1", experiment_names=["x"])
    with pytest.raises(MLflowUnavailable) as info:
        await find_runs("databricks://u:tok@profile", "1", experiment_names=["x"])
    assert "tok" not in str(info.value)


def test_redact_uri():
    assert redact_uri("https://u:p@h.example:8443/x?y=1") == "https://h.example:8443/x?y=1"
    assert redact_uri("http://[::1]:5000") == "http://[::1]:5000"
    assert redact_uri("http://h") == "http://h"


RUN_CONTEXT_SCRIPT = """
import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

with mlflow.start_run(run_name="parent"):
    with mlflow.start_run(run_name="nested", nested=True):
        mlflow.log_metric("m", 1.0)
mlflow.sklearn.autolog(log_models=False, log_datasets=False, max_tuning_runs=2)
X, y = load_iris(return_X_y=True)
GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
mlflow.sklearn.autolog(disable=True)
exp = mlflow.get_experiment_by_name(mlflow.environment_variables.MLFLOW_EXPERIMENT_NAME.get())
run = MlflowClient().create_run(exp.experiment_id, run_name="client")
MlflowClient().set_terminated(run.info.run_id)
"""


def test_mlflow_run_context_tags_fluent_nested_and_autolog_runs(mlflow_server, unique_experiment):
    """What MLflow itself does with MLFLOW_RUN_CONTEXT (its SystemEnvironmentContext):
    runs started with mlflow.start_run (nested too) and by autologging (including the
    parameter-search child runs) get the tags; MlflowClient().create_run does not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        MLFLOW_EXPERIMENT_NAME=unique_experiment,
        MLFLOW_RUN_CONTEXT=json.dumps({TAG: "ctx-1", "templates.username": "alice"}),
    )
    subprocess.run(
        [str(mlflow_server.python), "-c", RUN_CONTEXT_SCRIPT],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    found = mlflow_server.api(
        "POST",
        "runs/search",
        json={"experiment_ids": [mlflow_server.experiment_id(unique_experiment)]},
    )["runs"]
    tags = {
        r["info"]["run_name"]: {t["key"]: t["value"] for t in r["data"].get("tags", [])}
        for r in found
    }
    assert len(tags) == 6  # parent, nested, the autolog run, its 2 child runs, client
    client_run = tags.pop("client")
    assert TAG not in client_run
    for name, run_tags in tags.items():
        assert run_tags[TAG] == "ctx-1", name
        assert run_tags["templates.username"] == "alice", name


async def test_ensure_experiment_creates_it_once_however_many_ask(mlflow_server, unique_experiment):
    """Eight first runs of a template at once: one experiment, and no caller fails."""
    import asyncio

    ids = await asyncio.gather(
        *(ensure_experiment(mlflow_server.url, unique_experiment) for _ in range(8))
    )
    assert len(set(ids)) == 1, ids
    assert mlflow_server.experiment_id(unique_experiment) == ids[0]
    assert await ensure_experiment(mlflow_server.url, unique_experiment) == ids[0]
