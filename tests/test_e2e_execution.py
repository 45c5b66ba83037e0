"""End to end with the project's jupyterhub_config.py: the Hub starts the templates
service (examples loaded), users' run servers (the named server ``templates-runs``, as
in the demo) run the notebooks on ``mlflow_kernel``, and a real MLflow tracking server
(tests/fixtures/mlflow.py) receives their runs."""

from __future__ import annotations

import concurrent.futures
import json
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from fixtures.hub import Hub, start_managed_hub, stop_process
from nbformat.v4 import new_code_cell, new_notebook
from processes import children

from jupyterhub_templates.statuses import FINAL

pytestmark = pytest.mark.e2e

#: the named server that runs executions, as in the demo
RUN_SERVER = "templates-runs"

#: small parameters, so that the examples run in seconds
EXAMPLES = {
    "ml/automl_classification.ipynb": {
        "model_families": ["logistic_regression", "xgboost"],
        "time_budget_seconds": 30,
        "n_trials": 2,
        "cv_folds": 2,
    },
    "ml/regression.ipynb": {"n_estimators": "20", "cv_folds": 2},
    "etl/csv_clean.ipynb": {"output_path": "cleaned.csv", "drop_duplicates": "true"},
    "analysis/eda.ipynb": {"dataset": "iris", "max_columns": 5},
}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, mlflow_server) -> Iterator[Hub]:
    hub = start_managed_hub(
        tmp_path_factory.mktemp("e2e-execution"),
        extra_env={
            "JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES": "1",
            "JUPYTERHUB_TEMPLATES_MLFLOW": "1",
            "JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI": mlflow_server.url,
            "JUPYTERHUB_TEMPLATES_RUN_SERVER": RUN_SERVER,
        },
    )
    try:
        yield hub
    finally:
        stop_process(hub.proc)


def call(hub: Hub, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"token {hub.tokens[user]}"}
    return requests.request(method, hub.service_url + path, headers=headers, timeout=120, **kwargs)


def wait_final(hub: Hub, execution_id: int, user: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = call(hub, "GET", f"execution-status/{execution_id}", user)
        assert r.status_code == 200, r.text
        if r.json()["status"] in FINAL:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(1)


def injected_source(nb: nbformat.NotebookNode) -> str:
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def test_examples_from_template_to_mlflow(e2e: Hub, mlflow_server) -> None:
    hub = e2e
    names = {
        t["name"] for t in call(hub, "GET", "minio/list-templates", "alice").json()["templates"]
    }
    assert set(EXAMPLES) <= names

    def create_and_run(template: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        r = call(
            hub,
            "POST",
            "create-from-template",
            "alice",
            json={
                "template_name": template,
                "target_directory": "e2e",
                "new_name": template.replace("/", "_"),
                "parameters": EXAMPLES[template],
            },
        )
        assert r.status_code == 201, r.text
        created = r.json()
        r = call(
            hub,
            "POST",
            "execute-notebook",
            "alice",
            json={"notebook_path": created["new_notebook_path"]},
        )
        assert r.status_code == 202, r.text
        return template, created, wait_final(hub, r.json()["execution_id"], "alice")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(create_and_run, EXAMPLES))

    for template, created, final in results:
        assert final["status"] == "success", (template, final)
        assert final["kernel_name"] == "mlflow_kernel"
        assert final["server_name"] == RUN_SERVER
        assert final["template_name"] == template
        assert final["progress"]["cells_done"] == final["progress"]["cells_total"] > 0
        out = nbformat.read(str(hub.user_dir("alice") / final["output_path"]), as_version=4)
        source = injected_source(out)
        for name, value in created["parameters_applied"].items():
            assert f"{name} = " in source, (template, name)
            assert created["parameters_applied"][name] == value
        assert any(c.get("outputs") for c in out.cells if c.cell_type == "code")

    automl = next(final for template, _, final in results if template.startswith("ml/automl"))
    runs = automl["mlflow"]["runs"]
    assert automl["mlflow"]["experiment_name"] == "ml/automl_classification"
    assert runs, automl
    parent = runs[0]
    assert parent["parent_run_id"] is None
    assert parent["metrics"], parent
    assert parent["url"].startswith(mlflow_server.url)
    assert len(runs) >= 3  # the parent and a nested run per candidate family
    # the run in MLflow itself carries the execution's tags
    data = mlflow_server.api("GET", "runs/get", params={"run_id": parent["run_id"]})
    tags = {t["key"]: t["value"] for t in data["run"]["data"]["tags"]}
    assert tags["templates.execution_id"] == str(automl["execution_id"])
    assert tags["templates.username"] == "alice"
    assert tags["templates.template"] == "ml/automl_classification.ipynb"


def ready_spare_with_kernel(user: str, timeout: float = 120) -> int:
    """The pid of ``user``'s spare runner once its pre-started kernel runs and it waits
    for its spec."""
    needle = f"JUPYTERHUB_USER={user}\0".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                if not entry.name.isdigit() or b"--kernel" not in (entry / "cmdline").read_bytes():
                    continue
                if (
                    needle in (entry / "environ").read_bytes()
                    and "pipe" in (entry / "wchan").read_text()
                ):
                    if children(int(entry.name)):
                        return int(entry.name)
            except OSError:
                continue
        time.sleep(0.2)
    raise TimeoutError(f"no spare runner with a kernel for {user}")


def test_mlflow_sees_the_execution_on_a_pre_started_kernel(e2e: Hub, mlflow_server) -> None:
    """prestart_kernels: the kernel started before the request takes the execution's
    environment, so the MLflow run the notebook starts carries the execution's tags."""
    hub = e2e
    name = f"pre-{secrets.token_hex(3)}"
    assert hub.api("POST", f"/users/{name}").status_code == 201
    r = hub.api("POST", f"/users/{name}/tokens", json={"expires_in": 3600})
    hub.tokens[name] = r.json()["token"]
    home = hub.user_dir(name)  # the spawner's HOME (jupyterhub_config.py)
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "jupyter_server_config.json").write_text(
        json.dumps({"TemplatesExtensionApp": {"prestart_runners": 1, "prestart_kernels": True}})
    )
    try:
        # the run server takes the run: its spare runner is the one to wait for
        hub.start_server(name, timeout=120, server=RUN_SERVER)
        ready_spare_with_kernel(name)
        template = "ml/regression.ipynb"
        r = call(
            hub,
            "POST",
            "create-from-template",
            name,
            json={"template_name": template, "parameters": EXAMPLES[template]},
        )
        assert r.status_code == 201, r.text
        r = call(
            hub,
            "POST",
            "execute-notebook",
            name,
            json={"notebook_path": r.json()["new_notebook_path"]},
        )
        assert r.status_code == 202, r.text
        execution_id = r.json()["execution_id"]
        final = wait_final(hub, execution_id, name)
        assert final["status"] == "success", final
        log = call(hub, "GET", f"execution/{execution_id}/log", name).json()["log"]
        assert "on the pre-started kernel" in log, log[-2000:]
        runs = final["mlflow"]["runs"]
        assert runs, final
        data = mlflow_server.api("GET", "runs/get", params={"run_id": runs[0]["run_id"]})
        tags = {t["key"]: t["value"] for t in data["run"]["data"]["tags"]}
        assert tags["templates.execution_id"] == str(execution_id)
        assert tags["templates.username"] == name
        assert data["run"]["info"]["status"] == "FINISHED"
    finally:
        hub.stop_server(name, server=None)
        shutil.rmtree(home, ignore_errors=True)


def _sleeper(hub: Hub, user: str, path: str) -> str:
    nb = new_notebook(
        cells=[new_code_cell("print('started')"), new_code_cell("import time; time.sleep(300)")],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    target = hub.user_dir(user) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return path


def status_of(hub: Hub, execution_id: int, user: str) -> dict[str, Any]:
    r = call(hub, "GET", f"execution-status/{execution_id}", user)
    assert r.status_code == 200, r.text
    return r.json()


def test_cancel_and_server_stop(e2e: Hub) -> None:
    """A run is cancelled; stopping the user's default server leaves a run in the run
    server alone; stopping the run server fails it with reason ``server stopped``."""
    hub = e2e
    path = _sleeper(hub, "bob", "sleepy.ipynb")
    first = call(
        hub,
        "POST",
        "execute-notebook",
        "bob",
        json={"notebook_path": path, "kernel_name": "python3"},
    ).json()
    assert first["status"] == "running", first
    r = call(hub, "POST", f"execution/{first['execution_id']}/cancel", "bob")
    assert r.status_code == 200, r.text
    assert wait_final(hub, first["execution_id"], "bob")["status"] == "cancelled"

    second = call(
        hub,
        "POST",
        "execute-notebook",
        "bob",
        json={"notebook_path": path, "kernel_name": "python3"},
    ).json()
    assert second["status"] == "running", second
    assert status_of(hub, second["execution_id"], "bob")["server_name"] == RUN_SERVER
    hub.start_server("bob")  # the default server, which the run does not use
    hub.stop_server("bob")
    # the run server still runs it, and answers for its log
    assert RUN_SERVER in hub.servers("bob")
    log_url = f"execution/{second['execution_id']}/log"
    assert "started" in call(hub, "GET", log_url, "bob").json()["log"]
    assert status_of(hub, second["execution_id"], "bob")["status"] == "running"

    stopped_at = time.monotonic()
    hub.stop_server("bob", server=RUN_SERVER)
    final = wait_final(hub, second["execution_id"], "bob", timeout=90)
    assert final["status"] == "failed"
    assert final["error"]["reason"] == "server stopped"
    assert time.monotonic() - stopped_at < 60
    # the record says so in JSON too
    assert json.loads(json.dumps(final))["error"]["reason"] == "server stopped"
