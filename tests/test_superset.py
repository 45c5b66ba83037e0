"""The Superset of deploy/docker-compose.yml (the `analytics` profile), run for real.

Apache Superset 4.1.1 (the compose image's version, from PyPI in `.venv-superset`) runs
the deployment's own `deploy/superset/bootstrap.sh` with its `superset_config.py`, its
metadata in a PostgreSQL database as in the deployment, and imports the "Notebook runs"
dashboard over the analytics views of a service database holding a known set of runs.
The tests then ask Superset, through its REST API, for what each chart shows.

Not run here: the apache/superset image itself (no Docker engine), and its gunicorn
server (`run-server.sh`): Superset is served by `superset run`, its Flask server.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fixtures.analytics import NOTEBOOKS, READER, RUNS, make_reader, seed
from fixtures.hub import clean_env, free_port, wait_for_http
from fixtures.postgres import scratch_database
from processes import stop
from sqlalchemy import text
from sqlalchemy.engine import make_url

from jupyterhub_templates.db import Database

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
SUPERSET = ROOT / "deploy" / "superset"
SUPERSET_BIN = ROOT / ".venv-superset" / "bin"
#: bootstrap migrates Superset's metadata from nothing; on a busy machine that is slow
START_TIMEOUT = 600.0


@dataclass
class Superset:
    url: str
    env: dict[str, str]
    admin_password: str
    reader_password: str
    log: Path
    http: requests.Session
    metadata_url: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to Superset's REST API as its admin; answers the JSON body."""
        r = self.http.request(method, f"{self.url}/api/v1/{path}", timeout=60, **kwargs)
        assert r.status_code == 200, (path, r.status_code, r.text[:2000])
        return r.json()


def bootstrap(env: dict[str, str], *command: str, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(
        [str(SUPERSET / "bootstrap.sh"), *command],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Superset]:
    if not (SUPERSET_BIN / "superset").exists():
        pytest.fail("Superset is not installed: run `make superset` (make test does)")
    work = tmp_path_factory.mktemp("superset")
    with scratch_database() as templates_url, scratch_database() as metadata_url:
        database = Database(templates_url)
        make_reader(database)
        database.upgrade()
        seed(database)
        database.dispose()
        # (this machine's PostgreSQL trusts local connections: the password must show
        # nowhere, but the server does not check it; test_the_password_is_added_at_connect
        # checks that Superset's connection gets it)
        reader_password = secrets.token_hex(12)
        reader_url = make_url(templates_url).set(username=READER)
        admin_password = secrets.token_hex(12)
        port = free_port()
        env = clean_env()
        env.update(
            PATH=f"{SUPERSET_BIN}{os.pathsep}{env['PATH']}",
            # as the apache/superset image sets it
            FLASK_APP="superset.app:create_app()",
            SUPERSET_HOME=str(work),
            SUPERSET_CONFIG_PATH=str(SUPERSET / "superset_config.py"),
            SUPERSET_SECRET_KEY=secrets.token_hex(32),
            SUPERSET_ADMIN_PASSWORD=admin_password,
            SUPERSET_DB_URI=metadata_url,
            TEMPLATES_ANALYTICS_DB_URI=reader_url.render_as_string(hide_password=False),
            ANALYTICS_DB_PASSWORD=reader_password,
        )
        log = work / "superset.log"
        proc = bootstrap(
            env, "superset", "run", "--host", "127.0.0.1", "--port", str(port), log=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/health", START_TIMEOUT, proc, log)
            http = requests.Session()
            login = http.post(
                f"{url}/api/v1/security/login",
                json={"username": "admin", "password": admin_password, "provider": "db"},
                timeout=60,
            )
            assert login.status_code == 200, login.text
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            csrf = http.get(f"{url}/api/v1/security/csrf_token/", timeout=60)
            http.headers["X-CSRFToken"] = csrf.json()["result"]
            http.headers["Referer"] = url
            yield Superset(url, env, admin_password, reader_password, log, http, metadata_url)
        finally:
            stop(proc, timeout=30)


def assets(kind: str) -> list[dict[str, Any]]:
    folder = SUPERSET / "assets" / kind
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.rglob("*.yaml"))]


def chart_data(superset: Superset, chart: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a chart shows, asked of Superset's chart-data API the way its front end
    builds the query from the chart's saved form data."""
    params = json.loads(chart["params"])
    viz = params["viz_type"]
    if viz == "table":
        query: dict[str, Any] = {
            "columns": params["all_columns"],
            "orderby": [json.loads(o) for o in params["order_by_cols"]],
        }
    elif viz == "pie":
        query = {"columns": params["groupby"], "metrics": [params["metric"]]}
    else:  # the ECharts time series: the x axis at the chart's time grain, then groupby
        axis = {
            "columnType": "BASE_AXIS",
            "sqlExpression": params["x_axis"],
            "label": params["x_axis"],
            "expressionType": "SQL",
            "timeGrain": params["time_grain_sqla"],
        }
        query = {"columns": [axis, *params["groupby"]], "metrics": params["metrics"]}
    query.update(filters=[], row_limit=params["row_limit"])
    answer = superset.api(
        "POST",
        "chart/data",
        json={
            "datasource": {"id": chart["datasource_id"], "type": "table"},
            "queries": [query],
            "result_format": "json",
            "result_type": "full",
        },
    )
    (result,) = answer["result"]
    assert not result.get("error"), result
    return result["data"]


def test_the_dashboard_and_its_datasets_are_imported(superset: Superset) -> None:
    dashboard = superset.api("GET", "dashboard/notebook-runs")["result"]
    assert dashboard["dashboard_title"] == "Notebook runs"
    assert dashboard["published"] is True
    charts = superset.api("GET", "dashboard/notebook-runs/charts")["result"]
    assert sorted(c["slice_name"] for c in charts) == sorted(
        c["slice_name"] for c in assets("charts")
    )
    # every chart placed on the dashboard's grid
    position = json.loads(dashboard["position_json"])
    placed = {
        v["meta"]["sliceName"]
        for v in position.values()
        if isinstance(v, dict) and v.get("type") == "CHART"
    }
    assert placed == {c["slice_name"] for c in charts}

    datasets = superset.api("GET", "dataset/", params={"q": "(page_size:100)"})["result"]
    assert sorted(d["table_name"] for d in datasets) == sorted(
        d["table_name"] for d in assets("datasets")
    )
    # each dataset's columns are the view's columns, with the view's types
    columns = view_columns(superset.env["TEMPLATES_ANALYTICS_DB_URI"])
    for summary in datasets:
        dataset = superset.api("GET", f"dataset/{summary['id']}")["result"]
        assert dataset["database"]["database_name"] == "jupyterhub-templates"
        got = {c["column_name"]: c["type"] for c in dataset["columns"]}
        assert got == columns[dataset["table_name"]], dataset["table_name"]


def view_columns(url: str) -> dict[str, dict[str, str]]:
    """The analytics views' columns and types as PostgreSQL reports them."""
    database = Database(url)
    views: dict[str, dict[str, str]] = collections.defaultdict(dict)
    try:
        with database.session() as session:
            for name, column, kind in session.execute(
                text(
                    "SELECT table_name, column_name, upper(data_type)"
                    " FROM information_schema.columns WHERE table_name LIKE 'analytics_%'"
                )
            ):
                views[name][column] = "VARCHAR" if kind == "CHARACTER VARYING" else kind
    finally:
        database.dispose()
    return views


def day_of(run: tuple) -> str:
    """A run's UTC day as the tests compare days."""
    return run[1].date().isoformat()


def test_each_chart_shows_the_known_runs(superset: Superset) -> None:
    charts = {
        c["slice_name"]: superset.api("GET", f"chart/{c['id']}")["result"]
        for c in superset.api("GET", "dashboard/notebook-runs/charts")["result"]
    }
    for chart in charts.values():
        chart["datasource_id"] = chart_datasource(chart)

    # runs per day, by outcome
    expected: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for run in RUNS:
        expected[day_of(run)][run[2]] += 1
    rows = chart_data(superset, charts["Runs per day"])
    got = {day(r): (r["succeeded"], r["failed"], r["cancelled"]) for r in rows}
    assert got == {d: (c["success"], c["failed"], c["cancelled"]) for d, c in expected.items()}

    # success rate of the finished runs, per template and day
    finished: dict[tuple, list[bool]] = collections.defaultdict(list)
    for run in RUNS:
        if run[2] in ("success", "failed", "cancelled"):
            finished[(run[0] or "(no template)", day_of(run))].append(run[2] == "success")
    rows = chart_data(superset, charts["Success rate per day"])
    got_rates = {(r["template_name"], day(r)): float(r["success_rate"]) for r in rows}
    assert got_rates == pytest.approx({k: sum(v) / len(v) for k, v in finished.items()})

    # failures by reason
    reasons = collections.Counter(run[3] for run in RUNS if run[2] == "failed")
    rows = chart_data(superset, charts["Failures by reason"])
    assert {r["reason"]: r["failures"] for r in rows} == dict(reasons)

    # active users (who ran or created a notebook) and notebooks created, per day
    users: dict[str, set[str]] = collections.defaultdict(set)
    for run in RUNS:
        users[day_of(run)].add(run[5])
    created = collections.Counter(d.date().isoformat() for _, d in NOTEBOOKS)
    for user, d in NOTEBOOKS:
        users[d.date().isoformat()].add(user)
    rows = chart_data(superset, charts["Active users per day"])
    got_users = {day(r): (r["active_users"], r["notebooks_created"]) for r in rows}
    assert got_users == {d: (len(u), created[d]) for d, u in users.items()}

    # the template table, most runs first
    per_template = collections.Counter(run[0] or "(no template)" for run in RUNS)
    rows = chart_data(superset, charts["Templates"])
    assert [(r["template_name"], r["runs"]) for r in rows] == per_template.most_common()
    # the import and the dashboard's queries logged no error
    assert "Traceback" not in superset.log.read_text()


def chart_datasource(chart: dict[str, Any]) -> int:
    """The id of the dataset a chart reads: the import writes it into the chart's form
    data as "ID__table"."""
    return int(json.loads(chart["params"])["datasource"].split("__")[0])


def day(row: dict[str, Any]) -> str:
    """A day as Superset answers it (epoch milliseconds at the day's UTC midnight)."""
    return (
        datetime.datetime.fromtimestamp(row["day"] / 1000, tz=datetime.timezone.utc)
        .date()
        .isoformat()
    )


def test_the_connection_reads_the_views_only_and_hides_its_password(
    superset: Superset,
) -> None:
    (database,) = [
        d
        for d in superset.api("GET", "database/")["result"]
        if d["database_name"] == "jupyterhub-templates"
    ]
    detail = superset.api("GET", f"database/{database['id']}")["result"]
    assert detail["allow_dml"] is False
    assert superset.reader_password not in json.dumps(detail)
    # the connection as Superset's UI shows it: the reader role, the password masked
    connection = superset.api("GET", f"database/{database['id']}/connection")["result"]
    assert superset.reader_password not in json.dumps(connection)
    assert make_url(connection["sqlalchemy_uri"]).username == READER
    # nor stored in Superset's own database
    metadata = Database(superset.metadata_url)
    try:
        with metadata.session() as session:
            stored = session.execute(text("SELECT * FROM dbs")).all()
        assert stored and superset.reader_password not in str(stored)
    finally:
        metadata.dispose()

    # SQL Lab through the connection: the views answer, the tables do not, nor a change
    def sql_lab(query: str) -> requests.Response:
        return superset.http.post(
            f"{superset.url}/api/v1/sqllab/execute/",
            json={"database_id": database["id"], "sql": query, "runAsync": False},
            timeout=60,
        )

    ok = sql_lab("SELECT sum(runs) AS n FROM analytics_templates")
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"] == [{"n": len(RUNS)}]
    refused = sql_lab("SELECT parameters FROM notebook_executions")
    assert refused.status_code >= 400 and "permission denied" in refused.text
    changed = sql_lab("DELETE FROM notebook_executions")
    assert changed.status_code >= 400 and "does not allow" in changed.text


def test_bootstrap_runs_again_and_keeps_secrets_out_of_its_log(superset: Superset) -> None:
    """A restart of the container runs bootstrap.sh again: it succeeds, keeps the one
    dashboard and the admin's password, and nothing secret reaches the log."""
    proc = bootstrap(superset.env, "true", log=superset.log)
    assert proc.wait(timeout=START_TIMEOUT) == 0, superset.log.read_text()[-4000:]
    found = superset.api("GET", "dashboard/", params={"q": "(page_size:100)"})["result"]
    assert [d["dashboard_title"] for d in found] == ["Notebook runs"]
    assert len(superset.api("GET", "chart/", params={"q": "(page_size:100)"})["result"]) == 5
    login = requests.post(
        f"{superset.url}/api/v1/security/login",
        json={"username": "admin", "password": superset.admin_password, "provider": "db"},
        timeout=60,
    )
    assert login.status_code == 200
    log = superset.log.read_text()
    for secret in (
        superset.admin_password,
        superset.reader_password,
        superset.env["SUPERSET_SECRET_KEY"],
    ):
        assert secret not in log


def test_the_password_is_added_at_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """superset_config.py's connection mutator, as Superset calls it before each engine:
    the analytics connection gets the password from the environment, others keep theirs."""
    import runpy

    monkeypatch.setenv("SUPERSET_SECRET_KEY", "k")
    monkeypatch.setenv("SUPERSET_DB_URI", "sqlite://")
    monkeypatch.setenv(
        "TEMPLATES_ANALYTICS_DB_URI",
        "postgresql+psycopg2://templates_analytics@postgres:5432/notebook_manager",
    )
    monkeypatch.setenv("ANALYTICS_DB_PASSWORD", "from-the-env")
    config = runpy.run_path(str(SUPERSET / "superset_config.py"))
    mutate = config["DB_CONNECTION_MUTATOR"]
    ours = make_url("postgresql+psycopg2://templates_analytics@postgres:5432/notebook_manager")
    uri, params = mutate(ours, {"pool_size": 1}, "admin", None, None)
    assert uri.password == "from-the-env" and params == {"pool_size": 1}
    other = make_url("postgresql+psycopg2://warehouse:theirs@db:5432/sales")
    assert mutate(other, {}, "admin", None, None)[0].password == "theirs"
    # the same role on another database is not ours either
    elsewhere = ours.set(database="other")
    assert mutate(elsewhere, {}, "admin", None, None)[0].password is None


def test_the_bundle_refuses_an_address_with_a_password(tmp_path: Path) -> None:
    """The connection's password must never be written into Superset's database."""
    import runpy

    build = runpy.run_path(str(SUPERSET / "bundle.py"))["build"]
    with pytest.raises(SystemExit, match="ANALYTICS_DB_PASSWORD"):
        build(tmp_path / "b.zip", {"TEMPLATES_ANALYTICS_DB_URI": "postgresql://r:pw@h/db"})
    with pytest.raises(SystemExit, match="TEMPLATES_ANALYTICS_DB_URI"):
        build(tmp_path / "b.zip", {})
    names = build(tmp_path / "b.zip", {"TEMPLATES_ANALYTICS_DB_URI": "postgresql://r@h/db"})
    assert "jupyterhub_templates_dashboard/metadata.yaml" in names
