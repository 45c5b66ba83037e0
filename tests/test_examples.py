"""The shipped example templates: clean, well-formed, and green on ``mlflow_kernel``.

The execution tests run each example with papermill (from this test environment, whose
Jupyter prefix holds the ``mlflow_kernel`` kernelspec that ``make kernel`` registers) and
small parameters, all four at once, against the session's MLflow server, with the
environment an execution gets: MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME and
MLFLOW_RUN_CONTEXT. MLflow's own run context provider must tag every run with the latter.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from jupyterhub_templates.examples import EXAMPLES_DIR, example_templates
from jupyterhub_templates.execution.mlflow_runs import find_runs

KERNEL = "mlflow_kernel"
EXPECTED = {
    "analysis/eda.ipynb",
    "etl/csv_clean.ipynb",
    "ml/automl_classification.ipynb",
    "ml/regression.ipynb",
}
# small parameters: the point is that every cell runs, not the models' quality
PARAMETERS: dict[str, dict[str, Any]] = {
    "ml/automl_classification.ipynb": {
        "model_families": ["logistic_regression", "random_forest", "xgboost"],
        "n_trials": 2,
        "cv_folds": 2,
        "time_budget_seconds": 120,
    },
    "ml/regression.ipynb": {"model": "xgboost", "n_estimators": 30, "cv_folds": 2},
    "etl/csv_clean.ipynb": {"output_path": "out/cleaned.csv"},
    "analysis/eda.ipynb": {"dataset": "iris", "figure_path": "figures/eda.png"},
}
EXECUTION_TIMEOUT = 240


def test_example_templates_lists_the_examples():
    templates = example_templates()
    assert set(templates) == EXPECTED
    for key, path in templates.items():
        assert path == EXAMPLES_DIR / key
        assert path.is_file()


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_example_is_clean_and_parameterized(key):
    path = EXAMPLES_DIR / key
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == KERNEL
    assert nb.metadata.kernelspec.language == "python"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "commit examples clean"
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all("parameters" not in c.metadata.get("tags", []) for c in code[1:])
    # one annotated assignment per line, each with a help comment
    lines = [line for line in code[0].source.splitlines() if line.strip()]
    for line in lines:
        statement = ast.parse(line).body[0]
        assert isinstance(statement, ast.AnnAssign), line
        assert "  # " in line, f"no help comment: {line}"
    inferred = papermill.inspect_notebook(str(path))
    assert len(inferred) == len(lines)
    for name, param in inferred.items():
        assert param["inferred_type_name"] != "None", name
        assert param["help"], name
    assert set(PARAMETERS[key]) <= set(inferred)


@dataclass
class Execution:
    key: str
    execution_id: str
    cwd: Path
    output: Path
    returncode: int
    log: str
    seconds: float


@pytest.fixture(scope="module")
def experiment() -> str:
    return f"examples-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def executions(mlflow_server, experiment, tmp_path_factory) -> dict[str, Execution]:
    """Run every example at once with papermill; wait for all (they are independent)."""
    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(
            f"kernelspec {KERNEL} is not installed in {sys.prefix}: run `make test` "
            "(or `make kernel`)",
            pytrace=False,
        )
    # created first, as the service does before it dispatches a run: the notebooks' own
    # first start_run() calls would race to create it
    mlflow_server.experiment_id(experiment)
    started: dict[str, tuple[subprocess.Popen, Path, Path, str, float]] = {}
    base = tmp_path_factory.mktemp("examples")
    for key in sorted(EXPECTED):
        execution_id = f"{uuid.uuid4().hex[:8]}'{key.split('/')[0]}"  # a quote, on purpose
        cwd = base / key.replace("/", "_").removesuffix(".ipynb")
        cwd.mkdir()
        output = cwd / "executed.ipynb"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(
            MLFLOW_TRACKING_URI=mlflow_server.url,
            MLFLOW_EXPERIMENT_NAME=experiment,
            MLFLOW_RUN_CONTEXT=json.dumps(
                {
                    "templates.execution_id": execution_id,
                    "templates.username": "alice",
                    "templates.template": key,
                }
            ),
        )
        command = [
            sys.executable,
            "-m",
            "papermill",
            str(EXAMPLES_DIR / key),
            str(output),
            "--kernel",
            KERNEL,
            "--cwd",
            str(cwd),
            "--no-progress-bar",
            "--parameters_yaml",
            json.dumps(PARAMETERS[key]),
        ]
        log = cwd / "papermill.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        started[key] = (proc, cwd, output, execution_id, time.monotonic())
    done: dict[str, Execution] = {}
    for key, (proc, cwd, output, execution_id, t0) in started.items():
        try:
            proc.wait(timeout=EXECUTION_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        done[key] = Execution(
            key,
            execution_id,
            cwd,
            output,
            proc.returncode,
            (cwd / "papermill.log").read_text(errors="replace"),
            time.monotonic() - t0,
        )
    return done


def _check_green(execution: Execution) -> nbformat.NotebookNode:
    assert execution.returncode == 0, execution.log[-5000:]
    nb = nbformat.read(execution.output, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    assert any(c.outputs for c in code), "no outputs at all"
    # papermill injected the parameters right after the parameters cell
    assert "injected-parameters" in code[1].metadata.get("tags", [])
    return nb


def _run_tags(mlflow_server, run_id: str) -> dict[str, str]:
    run = mlflow_server.api("GET", "runs/get", params={"run_id": run_id})["run"]
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _assert_context_tags(mlflow_server, execution: Execution, run_id: str) -> None:
    tags = _run_tags(mlflow_server, run_id)
    assert tags["templates.execution_id"] == execution.execution_id
    assert tags["templates.username"] == "alice"
    assert tags["templates.template"] == execution.key


async def test_automl_classification(executions, mlflow_server, experiment):
    execution = executions["ml/automl_classification.ipynb"]
    _check_green(execution)
    runs = await find_runs(mlflow_server.url, execution.execution_id, experiment_names=[experiment])
    parents = [r for r in runs if r["parent_run_id"] is None]
    assert len(parents) == 1, runs
    parent = parents[0]
    assert runs[0] == parent
    assert parent["status"] == "FINISHED"
    for metric in ("test_accuracy", "test_f1", "test_roc_auc", "best_cv_roc_auc"):
        assert 0.5 < parent["metrics"][metric] <= 1.0, metric
    children = runs[1:]
    assert len(children) == 6  # 3 families x 2 trials
    assert {c["parent_run_id"] for c in children} == {parent["run_id"]}
    assert all("cv_roc_auc_mean" in c["metrics"] for c in children)
    for run in runs:
        _assert_context_tags(mlflow_server, execution, run["run_id"])
    # the best model was logged from the parent run (MLflow 3: a logged model)
    exp_id = parent["experiment_id"]
    models = mlflow_server.api(
        "POST", "logged-models/search", json={"experiment_ids": [exp_id]}
    ).get("models", [])
    assert parent["run_id"] in {m["info"].get("source_run_id") for m in models}


async def test_regression(executions, mlflow_server, experiment):
    execution = executions["ml/regression.ipynb"]
    nb = _check_green(execution)
    runs = await find_runs(mlflow_server.url, execution.execution_id, experiment_names=[experiment])
    assert len(runs) == 1, runs
    run = runs[0]
    assert run["status"] == "FINISHED"
    assert {"test_rmse", "test_mae", "test_r2", "cv_r2_mean"} <= set(run["metrics"])
    assert run["metrics"]["test_r2"] > 0
    _assert_context_tags(mlflow_server, execution, run["run_id"])
    artifacts = mlflow_server.api("GET", "artifacts/list", params={"run_id": run["run_id"]})
    assert "residuals.png" in {f["path"] for f in artifacts.get("files", [])}
    assert any(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_csv_clean(executions):
    execution = executions["etl/csv_clean.ipynb"]
    _check_green(execution)
    with (execution.cwd / "out" / "cleaned.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    assert header == [
        "sepal_length_cm",
        "sepal_width_cm",
        "petal_length_cm",
        "petal_width_cm",
        "species",
    ]
    assert rows and all(len(row) == len(header) and all(row) for row in rows)  # no gaps
    assert len({tuple(row) for row in rows}) == len(rows)  # no duplicates
    assert {row[-1].lower() for row in rows} == {"setosa", "versicolor", "virginica"}


def test_eda(executions):
    execution = executions["analysis/eda.ipynb"]
    nb = _check_green(execution)
    assert (execution.cwd / "figures" / "eda.png").stat().st_size > 0
    assert (execution.cwd / "figures" / "eda_correlations.png").stat().st_size > 0
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 2


def test_examples_run_quickly(executions):
    """With these small parameters each example takes well under a minute."""
    slow = {k: round(e.seconds) for k, e in executions.items() if e.seconds > 90}
    assert not slow, slow
