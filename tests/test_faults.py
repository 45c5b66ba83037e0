"""Faults: dependencies and processes dying mid-operation.

Each test breaks one real part while the service works, checks that the answers are
clear JSON errors (503) and that nothing is left half-written, then that the service
recovers by itself, without a restart, once the part is back:

- the S3 server (moto's, over HTTP) stopped while the service is sending it an upload's
  body, reading a template for a create, or looking up the object of a download URL;
- a private PostgreSQL cluster stopped (``pg_ctl stop -m fast``) and started again while
  requests run;
- the service SIGKILLed while 10 executions run or wait in users' servers;
- a kernel SIGKILLed during a run (the server stopped during a run is
  ``tests/test_executions_api.py::test_a_stopped_server_fails_its_runs``);
- concurrent uploads and deletes of one template name, then ``sync --dry-run``.

Moto keeps its state in memory only: after its restart the bucket is empty, where a
real S3 server would still hold the objects written before the stop. The tests put
those objects back by hand where the recovering operation needs them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess, clean_env, free_port
from fixtures.postgres import scratch_database
from fixtures.s3 import MotoServer, make_s3_store
from notebooks import make_notebook, write_python_notebook
from processes import PIDS_CELL, alive, wait_gone
from sqlalchemy import create_engine, text

from jupyterhub_templates.statuses import FINAL

# -- helpers -----------------------------------------------------------------------


class GateRelay:
    """A TCP relay in front of a server that can park the connection carrying a given
    request: :meth:`hold` arms it with bytes to look for (e.g. ``b"PUT /bucket/key "``);
    the connection whose client data contains them stops being forwarded, and
    :attr:`held` is set. :meth:`release` then drops every parked connection. Lets a test
    stop the server while the service is in the middle of sending that request."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pattern: bytes | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, pattern: bytes) -> None:
        self.held.clear()
        self._release.clear()
        self._pattern = pattern

    def release(self) -> None:
        self._pattern = None
        self._release.set()

    def close(self) -> None:
        self._closed = True
        self._release.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the server is down: the client sees a dropped connection
                continue
            upstream.settimeout(None)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self._pattern is not None:
                    window = tail + data
                    tail = window[-512:]
                    if self._pattern in window:
                        self.held.set()
                        self._release.wait(60)
                        break  # drop the connection, the request half sent
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (the machine's server is shared and must not be
    stopped), made with the Debian binaries in a temporary directory, run as the
    ``postgres`` user when we are root (initdb refuses root)."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            pytest.fail("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = found[-1].parent
        # not under pytest's tmp_path: its parents are closed to other users
        self.base = Path(tempfile.mkdtemp(prefix="templates-faults-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *args],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "postgres.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the cluster if it runs, and delete it."""
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def upload(service: ServiceProcess, name: str, data: bytes, **form: str) -> requests.Response:
    category, filename = name.split("/", 1)
    return service.request(
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": (filename, data)},
        data={"category": category, **form},
    )


def rows(db_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def catalog_rows(db_url: str, name: str) -> tuple[list[tuple], list[tuple]]:
    """The template row of ``name`` (name, sha256, current_version) and its versions
    (version, object_key, sha256)."""
    templates = rows(
        db_url, "SELECT name, sha256, current_version FROM templates WHERE name = :n", n=name
    )
    versions = rows(
        db_url,
        "SELECT v.version, v.object_key, v.sha256 FROM template_versions v "
        "JOIN templates t ON t.id = v.template_id WHERE t.name = :n ORDER BY v.version",
        n=name,
    )
    return templates, versions


def assert_error(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "error" and body["message"], body
    return body


def in_thread(fn: Any, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(fn, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def kill_service(service: ServiceProcess) -> None:
    assert service.proc is not None
    os.killpg(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)
    service.proc = None


# -- S3 stopped mid-operation ------------------------------------------------------------


@pytest.fixture(scope="class")
def s3_setup(
    hub: Hub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, MotoServer, GateRelay, str, str]]:
    """The service on a scratch PostgreSQL database and an S3 store on a moto server of
    this module's own, reached through a :class:`GateRelay`. No content cache, so every
    read goes to the store."""
    workdir = tmp_path_factory.mktemp("faults-s3")
    moto = MotoServer(workdir / "moto.log")
    moto.start()
    relay = GateRelay(("127.0.0.1", moto.port))
    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    with scratch_database() as db_url:
        service = ServiceProcess(
            hub,
            {
                "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
                **moto.service_env(bucket, endpoint=f"127.0.0.1:{relay.port}"),
            },
            workdir,
        )
        service.start(
            [
                "--TemplatesService.health_cache_seconds=0",
                "--Catalog.cache_bytes=0",
                "--S3TemplateStore.timeout=5",
            ]
        )
        try:
            yield service, moto, relay, bucket, db_url
        finally:
            service.stop()
            relay.close()
            moto.stop()
            log = service.log.read_text()
            assert moto.secret_key not in log
            assert "Traceback" not in log


def sync_dry_run(service: ServiceProcess) -> dict[str, Any]:
    """``jupyterhub-templates sync --dry-run`` with the service's settings."""
    env = clean_env()
    env.update(service.hub.service_env())
    env.update(service.env)
    out = subprocess.run(
        [sys.executable, "-m", "jupyterhub_templates.service", "sync", "--dry-run"],
        env=env,
        cwd=service.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout[out.stdout.index("{") :])


def stop_s3_during(
    moto: MotoServer, relay: GateRelay, pattern: bytes, request: Any
) -> requests.Response:
    """Run ``request()`` in a thread; once the relay sees ``pattern`` go to the S3 server,
    stop the server (the request being sent is cut) and return the answer."""
    relay.hold(pattern)
    future = in_thread(request)
    assert relay.held.wait(60), "the service never sent the request"
    moto.stop()
    relay.release()
    return future.result(timeout=120)


def put_back(moto: MotoServer, bucket: str, name: str, data: bytes) -> None:
    """What a real S3 server would still hold after its restart (moto lost it)."""
    store = make_s3_store(moto, bucket=bucket)
    store.put(name, data)
    store.put(f".versions/{name}/1.ipynb", data)


class TestS3Faults:
    """On the S3 setup (its service stops when the class ends, before the next tests
    start theirs on the same port). The concurrency test comes first: the S3 stops
    after it lose objects (moto keeps none over a restart)."""

    def test_concurrent_uploads_and_deletes_of_one_name(
        self,
        s3_setup: tuple[ServiceProcess, MotoServer, GateRelay, str, str],
    ) -> None:
        service, moto, relay, bucket, db_url = s3_setup
        moto.start()
        relay.release()
        store = make_s3_store(moto, bucket=bucket)
        name = "race/one.ipynb"
        bodies = [make_notebook(body=f"print({i})") for i in range(10)]

        def act(i: int) -> int:
            if i % 2:
                return service.request(
                    "DELETE", f"minio/delete-template/{name}", "carol"
                ).status_code
            return upload(service, name, bodies[i], overwrite="true").status_code

        outcomes: list[int] = []
        for _ in range(2):
            with concurrent.futures.ThreadPoolExecutor(10) as pool:
                outcomes += list(pool.map(act, range(10)))
            report = sync_dry_run(service)
            assert report["dry_run"] is True
            differences = {k: report[k] for k in ("added", "updated", "removed", "orphans_removed")}
            assert differences == {k: [] for k in differences}, report
            # rows against objects, directly
            templates, versions = catalog_rows(db_url, name)
            keys = {
                o.key
                for o in store.list()
                if o.key == name or o.key.startswith(f".versions/{name}/")
            }
            if templates:
                ((_, sha, current),) = templates
                assert keys == {name} | {key for _, key, _ in versions}
                assert hashlib.sha256(store.get(name)).hexdigest() == sha
                for _, key, vsha in versions:
                    assert hashlib.sha256(store.get(key)).hexdigest() == vsha
                assert versions[-1][0] == current
                r = service.request(
                    "GET", f"minio/get-template/{name}", "alice", params={"content": "true"}
                )
                assert r.status_code == 200, r.text
            else:
                assert keys == set()
                assert (
                    service.request("GET", f"minio/get-template/{name}", "alice").status_code == 404
                )
        assert set(outcomes) <= {200, 201, 404}, outcomes
        assert 404 not in outcomes or {200, 201} & set(outcomes)

    def test_s3_stopped_during_upload(
        self,
        s3_setup: tuple[ServiceProcess, MotoServer, GateRelay, str, str],
    ) -> None:
        service, moto, relay, bucket, db_url = s3_setup
        moto.start()
        name = "faults/big.ipynb"
        data = make_notebook(padding=3 * 1024 * 1024)  # a large body, still being sent
        # the version object is written; the service dies with the current object's body
        r = stop_s3_during(
            moto, relay, f"PUT /{bucket}/{name} ".encode(), lambda: upload(service, name, data)
        )
        body = assert_error(r, 503)
        assert "store" in body["message"].lower()
        assert moto.secret_key not in r.text
        assert catalog_rows(db_url, name) == ([], [])  # no template row, no version row
        assert_error(service.request("GET", f"minio/get-template/{name}", "alice"), 404)
        moto.start()
        store = make_s3_store(moto, bucket=bucket)
        assert not [o.key for o in store.list() if name in o.key]
        # back: the same upload succeeds, without a service restart
        r = upload(service, name, data)
        assert r.status_code == 201, r.text
        sha = hashlib.sha256(data).hexdigest()
        assert catalog_rows(db_url, name) == (
            [(name, sha, 1)],
            [(1, f".versions/{name}/1.ipynb", sha)],
        )
        assert {o.key for o in store.list() if name in o.key} == {name, f".versions/{name}/1.ipynb"}
        assert store.get(name) == data

    def test_s3_stopped_during_create(
        self, s3_setup: tuple[ServiceProcess, MotoServer, GateRelay, str, str], hub: Hub
    ) -> None:
        service, moto, relay, bucket, db_url = s3_setup
        moto.start()
        name = "faults/create.ipynb"
        data = make_notebook()
        assert upload(service, name, data).status_code == 201
        hub.start_server("alice")
        target = f"faults-create-{uuid.uuid4().hex[:6]}"

        def create() -> requests.Response:
            return service.request(
                "POST",
                "create-from-template",
                "alice",
                json={"template_name": name, "target_directory": target},
            )

        r = stop_s3_during(moto, relay, f"GET /{bucket}/.versions/{name}/1.ipynb ".encode(), create)
        assert "store" in assert_error(r, 503)["message"].lower()
        assert not (hub.user_dir("alice") / target).exists()  # no file, no folder
        records = service.request("GET", "notebooks", "alice").json()["notebooks"]
        assert not [n for n in records if n["path"].startswith(target)]
        assert rows(
            db_url, "SELECT count(*) FROM notebooks WHERE path LIKE :p", p=f"{target}%"
        ) == [(0,)]
        moto.start()
        put_back(moto, bucket, name, data)
        r = create()
        assert r.status_code == 201, r.text
        assert r.json()["new_notebook_path"] == f"{target}/create.ipynb"
        assert (hub.user_dir("alice") / target / "create.ipynb").is_file()

    def test_s3_stopped_during_download_url(
        self,
        s3_setup: tuple[ServiceProcess, MotoServer, GateRelay, str, str],
    ) -> None:
        service, moto, relay, bucket, _ = s3_setup
        moto.start()
        name = "faults/download.ipynb"
        data = make_notebook()
        assert upload(service, name, data).status_code == 201

        def download_url() -> requests.Response:
            return service.request("GET", f"minio/download-url/{name}", "alice")

        assert download_url().status_code == 200
        r = stop_s3_during(
            moto, relay, f"HEAD /{bucket}/.versions/{name}/1.ipynb ".encode(), download_url
        )
        assert "store" in assert_error(r, 503)["message"].lower()
        moto.start()
        # the object is gone (moto forgot it): no URL to nothing
        assert "missing" in assert_error(download_url(), 404)["message"]
        put_back(moto, bucket, name, data)
        r = download_url()
        assert r.status_code == 200, r.text
        # the presigned URL is for the relay's address; fetch it through the relay
        got = requests.get(r.json()["url"], timeout=30)
        assert got.status_code == 200 and got.content == data


# -- PostgreSQL stopped and started ----------------------------------------------------


def test_postgres_stopped_and_started_while_the_service_runs(hub: Hub, tmp_path: Path) -> None:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
    except BaseException:
        pg.remove()
        raise
    store_dir = tmp_path / "store"
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": pg.url,
            "JUPYTERHUB_TEMPLATES_STORE": "directory",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(store_dir),
        },
        tmp_path,
    )
    answers: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        # requests all the while: each answer must be 200 or a 503 JSON error
        paths = ["minio/list-templates", "minio/get-template/ml/a.ipynb", "executions", "notebooks"]
        i = 0
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            try:
                r = service.request("GET", path, "alice", timeout=60)
            except requests.RequestException as e:
                answers.append((path, 0, type(e).__name__))
                continue
            answers.append((path, r.status_code, r.text[:300]))
            time.sleep(0.05)

    try:
        service.start(["--TemplatesService.health_cache_seconds=0"])
        pid = service.proc.pid
        assert upload(service, "ml/a.ipynb", make_notebook()).status_code == 201
        worker = threading.Thread(target=hammer, daemon=True)
        worker.start()
        time.sleep(1)
        pg.stop()
        stopped_at = time.monotonic()
        try:
            for path in ("minio/list-templates", "minio/get-template/ml/a.ipynb", "executions"):
                body = assert_error(service.request("GET", path, "alice"), 503)
                assert body["message"].startswith("The database is unavailable"), body
            assert_error(upload(service, "ml/b.ipynb", make_notebook()), 503)
            assert not (store_dir / "ml" / "b.ipynb").exists()
            assert not list(store_dir.rglob("b.ipynb"))
            r = requests.get(service.url + "health", timeout=30)
            assert r.status_code == 503 and r.json()["checks"]["database"]["ok"] is False
            time.sleep(1)
        finally:
            pg.start()
        started_at = time.monotonic()
        # back by itself: no service restart
        deadline = time.monotonic() + 30
        while (r := service.request("GET", "minio/list-templates", "alice")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.2)
        recovered_at = time.monotonic()
        assert [t["name"] for t in r.json()["templates"]] == ["ml/a.ipynb"]
        assert upload(service, "ml/b.ipynb", make_notebook()).status_code == 201
        assert service.request("GET", "minio/get-template/ml/b.ipynb", "alice").status_code == 200
        assert requests.get(service.url + "health", timeout=30).status_code == 200
        time.sleep(1)
        stop.set()
        worker.join(90)
        assert service.proc is not None and service.proc.pid == pid
        assert service.proc.poll() is None
        codes = {code for _, code, _ in answers}
        print(
            f"PostgreSQL down {started_at - stopped_at:.1f} s, service answering again "
            f"{recovered_at - started_at:.1f} s after the start; background answers: "
            f"{sum(c == 200 for _, c, _ in answers)} x 200, "
            f"{sum(c == 503 for _, c, _ in answers)} x 503"
        )
        assert 503 in codes and 200 in codes, codes
        bad = [a for a in answers if a[1] not in (200, 503)]
        assert not bad, bad[:5]
        for _, code, text_ in answers:
            if code == 503:
                assert json.loads(text_)["status"] == "error"
        # the answers after recovery are all 200
        last = [code for _, code, _ in answers[-5:]]
        assert last == [200] * len(last), answers[-5:]
        assert "Traceback" not in service.log.read_text()
    finally:
        stop.set()
        service.stop()
        pg.remove()


# -- the service killed during executions ---------------------------------------------


@pytest.fixture(scope="module")
def exec_service(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("faults-executions")
    with scratch_database() as db_url:
        service = ServiceProcess(
            hub,
            {
                "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
                "JUPYTERHUB_TEMPLATES_STORE": "directory",
                "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
            },
            workdir,
        )
        service.start(EXEC_ARGS)
        try:
            yield service
        finally:
            service.stop()


EXEC_ARGS = [
    "--ExecutionMonitor.stopped_grace=10",
    "--Executions.first_cell_timeout=5",
    "--ExecutionMonitor.poll_wait=5",
]


def execute(service: ServiceProcess, user: str, path: str) -> dict[str, Any]:
    r = service.request(
        "POST", "execute-notebook", user, json={"notebook_path": path, "kernel_name": "python3"}
    )
    assert r.status_code == 202, r.text
    return r.json()


def wait_final(
    service: ServiceProcess, user: str, execution_id: int, timeout: float = 120
) -> dict[str, Any]:
    return service.wait_final(execution_id, user, timeout)


def extension(hub: Hub, user: str, method: str, path: str = "") -> requests.Response:
    """The server extension in the user's server, called directly (not through the
    service), with the user's own token."""
    return requests.request(
        method,
        f"{hub.url}/user/{user}/templates/api/executions{path}",
        headers={"Authorization": f"token {hub.tokens[user]}"},
        timeout=30,
    )


def test_service_killed_during_10_executions(
    exec_service: ServiceProcess, hub: Hub, tmp_path: Path
) -> None:
    service = exec_service
    users = ["alice", "bob", "carol", "admin"]
    for user in users:
        hub.start_server(user)
    tag = uuid.uuid4().hex[:6]
    gate = tmp_path / "gate"
    # the runs wait for the gate, so all are active when the service dies
    wait = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.1)"
    # (user, cells, expected status, expected reason); 3, 3, 2, 2 runs per server
    plan: list[tuple[str, tuple[str, ...], str, str | None]] = [
        (users[i % 4], ("print('start')", wait, "print('end')"), "success", None) for i in range(8)
    ]
    plan.append(("bob", ("print('start')", wait, "1/0"), "failed", "cell error"))
    plan.append(("alice", ("print('start')", "import time; time.sleep(120)"), "cancelled", None))
    paths = [f"faults-kill-{tag}/run{i}.ipynb" for i in range(len(plan))]
    for path, (user, cells, _, _) in zip(paths, plan, strict=True):
        write_python_notebook(hub.user_dir(user) / path, *cells)
    # one after another (each answer waits for the run's first cell): kernels starting
    # all at once on a busy machine can pass the kernel start timeout
    answers = [execute(service, user, path) for path, (user, *_) in zip(paths, plan, strict=True)]
    runs = [
        (user, path, answer["execution_id"], expected, reason)
        for path, (user, _, expected, reason), answer in zip(paths, plan, answers, strict=True)
    ]
    cancel_user, cancel_path = runs[-1][0], runs[-1][1]
    active = [
        run
        for run in runs
        if service.request("GET", f"execution-status/{run[2]}", run[0]).json()["status"]
        in ("pending", "running")
    ]
    assert len(active) == len(runs), f"only {len(active)} of the runs were active"
    kill_service(service)
    # while the service is dead: cancel one run in its server directly
    models = extension(hub, cancel_user, "GET").json()["executions"]
    remote = [m for m in models if m["input_path"] == cancel_path]
    assert len(remote) == 1, models
    r = extension(hub, cancel_user, "POST", f"/{remote[0]['id']}/cancel")
    assert r.status_code == 200, r.text
    gate.touch()
    time.sleep(3)  # runs end, and queued ones start, while nobody follows them
    service.start(EXEC_ARGS)

    for user, path, execution_id, expected, reason in runs:
        final = wait_final(service, user, execution_id)
        assert final["status"] == expected, (path, final["status"], final["error"])
        if reason:
            assert final["error"]["reason"] == reason, final
        if expected == "success":
            assert final["progress"]["cells_done"] == final["progress"]["cells_total"]
            assert (hub.user_dir(user) / final["output_path"]).is_file()
    for user in users:
        r = service.request("GET", "executions", user, params={"limit": 1000})
        mine = {e["execution_id"]: e["status"] for e in r.json()["executions"]}
        for u, _, execution_id, _, _ in runs:
            if u == user:
                assert mine[execution_id] in FINAL


def test_kernel_killed_fails_with_kernel_died(
    exec_service: ServiceProcess, hub: Hub, tmp_path: Path
) -> None:
    hub.start_server("alice")
    pids_file = tmp_path / "pids"
    path = f"faults-kernel-{uuid.uuid4().hex[:6]}.ipynb"
    write_python_notebook(
        hub.user_dir("alice") / path,
        f"PIDS_FILE = {str(pids_file)!r}\n" + PIDS_CELL,
        "import time; time.sleep(120)",
    )
    execution_id = execute(exec_service, "alice", path)["execution_id"]
    deadline = time.monotonic() + 60
    while not (pids_file.exists() and pids_file.read_text()):
        assert time.monotonic() < deadline, "the kernel never wrote its pid"
        time.sleep(0.1)
    kernel_pid = int(pids_file.read_text().split()[0])
    started = time.monotonic()
    os.kill(kernel_pid, signal.SIGKILL)
    assert not wait_gone(kernel_pid)
    final = wait_final(exec_service, "alice", execution_id, timeout=60)
    assert final["status"] == "failed"
    assert final["error"]["reason"] == "kernel died", final
    assert time.monotonic() - started < 60
    assert not alive(kernel_pid)
