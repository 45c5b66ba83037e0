"""Concurrent creates of one notebook, by one service process and by two
replicas sharing one PostgreSQL database (the per-process lock cannot cover those).

Real JupyterHub, proxy and alice's single-user server; two real service processes on a
scratch PostgreSQL database with one shared directory store. Each round fires 20
``POST /create-from-template`` at once (threads released by a barrier), each with its
own parameter value, so the file tells which request wrote it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import requests
from fixtures.hub import Hub, ServiceProcess, free_port, wait_for_http
from fixtures.postgres import scratch_database
from notebooks import make_notebook
from sqlalchemy import create_engine, text

from jupyterhub_templates.catalog.parameters import inject_parameters
from jupyterhub_templates.catalog.parsing import parse_notebook
from jupyterhub_templates.hub.contents import notebook_body
from jupyterhub_templates.notebooks.creator import ParsedTemplate

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TEMPLATE = "tests/race.ipynb"
N = 20


class Replicas:
    """Two service processes on one database and store; ``urls`` are their own ports."""

    def __init__(self, hub: Hub, db_url: str, urls: list[str]) -> None:
        self.hub = hub
        self.db_url = db_url
        self.urls = urls

    def post(self, replica: int, body: dict) -> requests.Response:
        return requests.post(
            self.urls[replica] + "create-from-template",
            headers={"Authorization": f"token {self.hub.tokens['alice']}"},
            json=body,
            timeout=120,
        )


@pytest.fixture(scope="module")
def replicas(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    workdir = tmp_path_factory.mktemp("create-concurrency")
    with scratch_database() as db_url:
        env = {
            "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        }
        first = ServiceProcess(hub, env, workdir / "one")
        port = free_port()
        second_url = f"http://127.0.0.1:{port}/services/templates/"
        # the second replica listens on a port of its own; it is called directly
        second = ServiceProcess(hub, {**env, "JUPYTERHUB_SERVICE_URL": second_url}, workdir / "two")
        for service in (first, second):
            service.workdir.mkdir()
        first.start()
        try:
            second.start()
            try:
                wait_for_http(second_url + "health", 60, second.proc, second.log)
                r = first.request(
                    "POST",
                    "minio/upload-template",
                    "carol",
                    # 1 MB: each write takes long enough for the others to race it
                    files={"file": ("race.ipynb", make_notebook(padding=1_000_000))},
                    data={"category": "tests", "overwrite": "true"},
                )
                assert r.status_code in (200, 201), r.text
                both = Replicas(hub, db_url, [first.direct_url, second_url])
                for replica in (0, 1):  # warm: alice's server runs, the template is parsed
                    body = {"template_name": TEMPLATE, "new_name": "warm", "overwrite": True}
                    r = both.post(replica, {**body, "target_directory": "race-warm"})
                    assert r.status_code == 201, r.text
                yield both
            finally:
                second.stop()
        finally:
            first.stop()


def fire(replicas: Replicas, bodies: list[tuple[int, dict]]) -> list[requests.Response]:
    """Send every ``(replica, body)`` at the same moment; the answers in that order."""
    barrier = threading.Barrier(len(bodies))

    def send(item: tuple[int, dict]) -> requests.Response:
        barrier.wait(30)
        return replicas.post(*item)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def injected_value(path: Path) -> int:
    """The ``n_estimators`` the notebook at ``path`` was created with."""
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"]["tags"]]
    assert len(cells) == 1, cells
    lines = [line for line in "".join(cells[0]["source"]).splitlines() if "n_estimators" in line]
    assert len(lines) == 1 and lines[0].startswith("n_estimators = "), lines
    return int(lines[0].split("=", 1)[1])


def listing(root: Path) -> list[str]:
    """Every file and folder under ``root``, but Jupyter's checkpoint of the notebook."""
    checkpoints = {".ipynb_checkpoints", ".ipynb_checkpoints/race-checkpoint.ipynb"}
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    return [name for name in names if name not in checkpoints]


def records(replicas: Replicas, path: str) -> list[tuple[int, int]]:
    """``(id, n_estimators)`` of every record of ``path`` in alice's server, by id."""
    engine = create_engine(replicas.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT n.id, p.value FROM notebooks n JOIN notebook_params p "
                    "ON p.notebook_id = n.id AND p.name = 'n_estimators' "
                    "WHERE n.username = 'alice' AND n.path = :path ORDER BY n.id"
                ),
                {"path": path},
            ).all()
            # no claim is left behind: no advisory lock, no transaction left open
            locks = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
            idle = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            ).scalar()
    finally:
        engine.dispose()
    assert locks == 0 and idle == 0, (locks, idle)
    return [(row[0], json.loads(row[1])) for row in rows]


def bodies(folder: str, *, overwrite: bool, spread: bool) -> list[tuple[int, dict]]:
    """N creates of ``folder/race.ipynb``, each with n_estimators = its index; with
    ``spread``, alternately to each replica."""
    return [
        (
            i % 2 if spread else 0,
            {
                "template_name": TEMPLATE,
                "target_directory": folder,
                "new_name": "race",
                "parameters": {"n_estimators": i},
                "overwrite": overwrite,
            },
        )
        for i in range(N)
    ]


@pytest.mark.parametrize("spread", [False, True], ids=["one replica", "two replicas"])
def test_concurrent_creates_of_one_new_notebook(replicas: Replicas, spread: bool) -> None:
    folder = f"race-{secrets.token_hex(4)}"
    path = f"{folder}/race.ipynb"
    answers = fire(replicas, bodies(folder, overwrite=False, spread=spread))

    created = [i for i, r in enumerate(answers) if r.status_code == 201]
    assert len(created) == 1, [(r.status_code, r.text[:200]) for r in answers]
    for i, r in enumerate(answers):
        if i in created:
            continue
        assert r.status_code == 409, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        body = r.json()
        assert body["status"] == "error" and "already exists" in body["message"], body
    winner = created[0]
    answer = answers[winner].json()
    assert answer["new_notebook_path"] == path
    assert answer["parameters_applied"] == {"n_estimators": winner}

    # one file, holding the winner's parameters, and nothing else in its folder
    root = replicas.hub.user_dir("alice") / folder
    assert listing(root) == ["race.ipynb"]
    assert injected_value(root / "race.ipynb") == winner
    # one record, the winner's
    assert records(replicas, path) == [(answer["notebook_id"], winner)]


def test_concurrent_overwrites_leave_one_file_and_consistent_records(
    replicas: Replicas,
) -> None:
    folder = f"race-{secrets.token_hex(4)}"
    path = f"{folder}/race.ipynb"
    answers = fire(replicas, bodies(folder, overwrite=True, spread=True))

    assert [r.status_code for r in answers] == [201] * N, [r.text[:200] for r in answers]
    ids = {r.json()["notebook_id"]: i for i, r in enumerate(answers)}
    rows = records(replicas, path)
    # every request recorded once, with its own parameters
    assert sorted(rows) == sorted(ids.items())
    # the writes ran one after another: the newest record describes the file there
    root = replicas.hub.user_dir("alice") / folder
    assert listing(root) == ["race.ipynb"]
    newest_id, newest_value = rows[-1]
    assert injected_value(root / "race.ipynb") == newest_value
    # and the API's view agrees (the record as GET /notebook/{id} shows it)
    r = requests.get(
        replicas.urls[1] + f"notebook/{newest_id}",
        headers={"Authorization": f"token {replicas.hub.tokens['alice']}"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["parameters"] == {"n_estimators": newest_value}


def _without_new_ids(body: bytes) -> dict:
    """The body's JSON, without the ids papermill draws at random for new cells."""
    value = json.loads(body)
    for cell in value["content"]["cells"]:
        if "injected-parameters" in cell["metadata"]["tags"]:
            cell.pop("id", None)
    return value


def _notebooks() -> list[tuple[str, bytes]]:
    with_injected = nbformat.reads(make_notebook(padding=5000).decode(), as_version=4)
    for cell in with_injected.cells:
        cell.metadata.setdefault("tags", [])
    with_injected = inject_parameters(with_injected, {"x": 1}, kernel_name=None, language=None)
    with_injected.cells.append(
        nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["parameters"]})
    )
    return [
        ("parameters cell", make_notebook(padding=5000)),
        ("no parameters cell", make_notebook(parameters=None)),
        ("injected cell already", nbformat.writes(with_injected).encode()),
    ]


@pytest.mark.parametrize(
    ("label", "data"), _notebooks(), ids=lambda x: x if isinstance(x, str) else ""
)
@pytest.mark.parametrize(
    "params", [{}, {"n_estimators": 3, "s": 'a"b\\n'}, {"x": [1, {"z": None}]}]
)
def test_spliced_body_is_the_injected_notebook(label: str, data: bytes, params: dict) -> None:
    """Creation joins pre-encoded cells around papermill's work on a skeleton (see
    ``ParsedTemplate``); the JSON must be what encoding the injected notebook gives."""
    info = parse_notebook(data)
    template = ParsedTemplate(info)
    assert template.spliced
    plain = notebook_body(
        inject_parameters(
            info.notebook, params, kernel_name=info.kernel_name, language=info.language
        )
    )
    for _ in range(2):  # the second build reuses the encoded cells
        assert _without_new_ids(template.body(params)) == _without_new_ids(plain)


def test_creates_into_one_new_folder_from_two_replicas_make_it_once(replicas: Replicas) -> None:
    """Creates of different notebooks into one folder that does not exist yet, spread
    over two replicas, make the folder once: the user's server logs no error (a second
    creation of a folder is a logged 500 "File exists" there)."""
    folder = f"together-{secrets.token_hex(4)}/inner"
    answers = fire(
        replicas,
        [
            (
                i % 2,
                {
                    "template_name": TEMPLATE,
                    "target_directory": folder,
                    "new_name": f"n{i}",
                    "parameters": {"n_estimators": i},
                },
            )
            for i in range(8)
        ],
    )
    assert [r.status_code for r in answers] == [201] * 8, [r.text[:200] for r in answers]
    root = replicas.hub.user_dir("alice") / folder
    assert sorted(p.name for p in root.glob("*.ipynb")) == sorted(f"n{i}.ipynb" for i in range(8))
    troubles = [
        line
        for line in replicas.hub.log.read_text(errors="replace").splitlines()
        if folder.split("/")[0] in line and (line.startswith("[E") or "wrote error" in line)
    ]
    assert troubles == [], troubles[:3]
