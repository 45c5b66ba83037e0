"""Three replicas of the service behind haproxy, as an operator runs them: one
PostgreSQL database, one store, no sticky sessions, the Hub routing
``/services/templates/`` to the load balancer (external-service mode).

Real JupyterHub and proxy, real users' servers and kernels, Debian's haproxy (``make
haproxy``), three service processes. Checked: a browser's OAuth login whose callback
lands on another replica than the one that started it; runs followed by one replica per
user (the ``watch`` lease) while one replica is killed with SIGKILL mid-run and another
restarted: every run ends with its true status, each end is recorded once, creates are
neither lost nor doubled, and the only 5xx answers are the load balancer's 503 for
requests the killed replica was answering.
"""

from __future__ import annotations

import datetime
import itertools
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from fixtures.haproxy import REPLICA_HEADER, Haproxy
from fixtures.hub import Hub, ServiceProcess, browser_login, free_port
from fixtures.postgres import scratch_database
from fixtures.secrets_watch import WATCH
from notebooks import make_notebook, write_python_notebook
from sqlalchemy import create_engine, text

from jupyterhub_templates.jobs.schedule import next_slot
from jupyterhub_templates.statuses import FINAL

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

#: a short lease, so that a dead replica's users are taken over within seconds
LEASE_TTL = 3.0
STOPPED_GRACE = 15.0
ARGS = [
    f"--ExecutionMonitor.lease_ttl={LEASE_TTL}",
    f"--ExecutionMonitor.stopped_grace={STOPPED_GRACE}",
    # a schedule every few seconds, and a scheduler taken over within seconds
    "--JobScheduler.min_interval=1",
    f"--JobScheduler.lease_ttl={LEASE_TTL}",
    "--JobScheduler.tick=0.5",
]
#: every four seconds (croniter's sixth field is the second)
EVERY_4S = "* * * * * */4"
ENDED = re.compile(r"execution (\d+) ended: (\w+)")
WATCHERS = re.compile(r"^jupyterhub_templates_monitor_watchers (\S+)$", re.MULTILINE)


@dataclass
class Answer:
    at: float  # monotonic time the answer came
    method: str
    path: str
    status: int
    replica: str | None


@dataclass
class Cluster:
    hub: Hub
    haproxy: Haproxy
    replicas: dict[str, ServiceProcess]
    db_url: str
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
        """A request through the Hub's proxy and haproxy, remembered with its replica."""
        kwargs.setdefault("timeout", 90)
        r = requests.request(  # noqa: S113 (timeout set above)
            method,
            self.hub.service_url + path,
            headers={"Authorization": f"token {self.hub.tokens[user]}"},
            **kwargs,
        )
        WATCH.scan_response(self.hub, r)
        with self.lock:
            self.answers.append(
                Answer(time.monotonic(), method, path, r.status_code, r.headers.get(REPLICA_HEADER))
            )
        return r

    def revive(self) -> None:
        """Start every replica an earlier test left dead, and wait until haproxy sends
        it requests again."""
        for name, service in self.replicas.items():
            if service.proc is None or service.proc.poll() is not None:
                service.start(ARGS)
                self.haproxy.wait_state(name, "UP", timeout=30)

    def replica_of(self, holder: str) -> str:
        """The replica whose process holds a lease (holder: host/pid/random)."""
        pid = int(holder.split("/")[1])
        for name, service in self.replicas.items():
            if service.proc is not None and service.proc.pid == pid:
                return name
        raise LookupError(holder)

    def leases(self, kind: str = "watch") -> dict[str, str]:
        """The leases of a kind (held or lapsed): name → holder."""
        rows = self.query("SELECT name, holder FROM leases WHERE kind = :kind", kind=kind)
        return {name: holder for name, holder in rows}

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()

    def watchers(self) -> dict[str, float]:
        """Each running replica's count of users it follows, from its own /metrics."""
        counts = {}
        for name, service in self.replicas.items():
            if service.proc is None or service.proc.poll() is not None:
                continue
            try:
                r = requests.get(
                    service.direct_url + "metrics",
                    headers={"Authorization": f"token {self.hub.tokens['admin']}"},
                    timeout=10,
                )
            except requests.RequestException:
                continue  # stopping or starting
            found = WATCHERS.search(r.text) if r.status_code == 200 else None
            if found:
                counts[name] = float(found.group(1))
        return counts


@pytest.fixture(scope="module")
def cluster(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("replicas")
    names = ("r1", "r2", "r3")
    ports = {name: free_port() for name in names}
    with scratch_database() as db_url:
        env = {
            "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        }
        # the Hub sends the service's requests to hub.service_port: haproxy listens there
        haproxy = Haproxy(workdir / "haproxy", hub.service_port, ports)
        haproxy.start()
        replicas: dict[str, ServiceProcess] = {}
        try:
            for name in names:
                (workdir / name).mkdir()
                replicas[name] = ServiceProcess(hub, env, workdir / name, port=ports[name])
                replicas[name].start(ARGS)
            for name in names:
                haproxy.wait_state(name, "UP", timeout=30)
            yield Cluster(hub, haproxy, replicas, db_url)
        finally:
            for service in replicas.values():
                service.stop()
            haproxy.stop()


def test_oauth_login_completes_on_another_replica(cluster: Cluster) -> None:
    """A browser's login starts on one replica (which sets the OAuth state cookie and
    PKCE verifier) and its callback lands on another: it completes, and the cookie it
    sets is good on every replica."""
    hub = cluster.hub
    crossed = 0
    for _ in range(3):
        s = browser_login(hub, "alice")
        nav = {"Sec-Fetch-Mode": "navigate"}
        r = s.get(hub.service_url, headers=nav, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        started_on = r.headers[REPLICA_HEADER]
        # the Hub's authorize step sends the browser back to the service's callback
        r = s.get(urljoin(r.url, r.headers["Location"]), allow_redirects=False, timeout=30)
        assert r.status_code == 302 and "oauth_callback" in r.headers["Location"], r.text[:300]
        r = s.get(urljoin(r.url, r.headers["Location"]), allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        finished_on = r.headers[REPLICA_HEADER]
        crossed += started_on != finished_on
        # the cookie identifies alice on every replica
        seen = set()
        for _ in range(len(cluster.replicas)):
            as_json = {**nav, "Accept": "application/json"}
            r = s.get(hub.service_url, headers=as_json, allow_redirects=False, timeout=30)
            assert r.status_code == 200 and r.json()["user"] == "alice", r.text[:300]
            seen.add(r.headers[REPLICA_HEADER])
        assert seen == set(cluster.replicas)
    assert crossed >= 1, "round robin never sent a callback to another replica"


def _runs_notebook(hub: Hub, user: str, name: str, *cells: str) -> str:
    path = f"replicas/{name}.ipynb"
    write_python_notebook(hub.user_dir(user) / path, "import time", *cells, params="x = 1")
    return path


def test_runs_survive_a_killed_and_a_restarted_replica(cluster: Cluster) -> None:
    hub = cluster.hub
    r = cluster.call(
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": ("made.ipynb", make_notebook())},
        data={"category": "replicas"},
    )
    assert r.status_code in (200, 201), r.text
    users = ("alice", "bob", "carol")
    for user in users:
        hub.start_server(user)

    # runs: (user, notebook, expected status, expected reason); about 8 s of work each
    ok = ["time.sleep(1)"] * 8 + ["print('done', x)"]
    plan = [
        ("alice", _runs_notebook(hub, "alice", "ok", *ok), "success", None),
        (
            "alice",
            _runs_notebook(hub, "alice", "fails", *["time.sleep(1)"] * 5, "1/0"),
            "failed",
            "cell error",
        ),
        ("alice", _runs_notebook(hub, "alice", "long", "time.sleep(600)"), "cancelled", None),
        ("bob", _runs_notebook(hub, "bob", "ok", *ok), "success", None),
        (
            "bob",
            _runs_notebook(hub, "bob", "fails", *["time.sleep(1)"] * 4, "1/0"),
            "failed",
            "cell error",
        ),
        ("carol", _runs_notebook(hub, "carol", "ok", *ok), "success", None),
    ]
    runs: list[tuple[int, str, str, str | None]] = []
    long_run = None
    for user, path, status, reason in plan:
        r = cluster.call(
            "POST", "execute-notebook", user, json={"notebook_path": path, "kernel_name": "python3"}
        )
        assert r.status_code == 202, r.text
        execution_id = r.json()["execution_id"]
        runs.append((execution_id, user, status, reason))
        if status == "cancelled":
            long_run = execution_id

    # creates go on all along, through the load balancer
    stop = threading.Event()
    creates: list[tuple[str, int, int | None]] = []  # (name, final status, notebook id)

    def create_all_along() -> None:
        i = 0
        while not stop.is_set():
            name = f"c{i}"
            body = {
                "template_name": "replicas/made.ipynb",
                "target_directory": "replicas-created",
                "new_name": name,
                "parameters": {"n_estimators": i},
            }
            r = cluster.call("POST", "create-from-template", "bob", json=body)
            if r.status_code == 503:  # cut by the killed replica: once more
                r = cluster.call("POST", "create-from-template", "bob", json=body)
            notebook_id = r.json().get("notebook_id") if r.status_code == 201 else None
            creates.append((name, r.status_code, notebook_id))
            i += 1
            stop.wait(0.2)

    watcher_counts: list[tuple[float, dict[str, float]]] = []

    def sample_watchers() -> None:
        while not stop.is_set():
            watcher_counts.append((time.monotonic(), cluster.watchers()))
            stop.wait(0.5)

    threads = [threading.Thread(target=create_all_along), threading.Thread(target=sample_watchers)]
    for t in threads:
        t.start()
    try:
        # kill the replica following alice, mid-run
        deadline = time.monotonic() + 30
        while "alice" not in cluster.leases():
            assert time.monotonic() < deadline, "nobody follows alice's runs"
            time.sleep(0.1)
        old_holder = cluster.leases()["alice"]
        victim = cluster.replica_of(old_holder)
        killed_at = time.monotonic()
        os.kill(cluster.replicas[victim].proc.pid, signal.SIGKILL)
        cluster.replicas[victim].proc.wait(10)
        cluster.haproxy.wait_state(victim, "DOWN", timeout=15)
        down_at = time.monotonic()
        # another replica takes alice over within stopped_grace
        while cluster.leases().get("alice", old_holder) == old_holder:
            assert time.monotonic() - killed_at < STOPPED_GRACE, "alice was not taken over"
            time.sleep(0.1)
        takeover = time.monotonic() - killed_at

        # restart another one (SIGTERM: it finishes what it answers, then stops)
        restarted = next(n for n in cluster.replicas if n != victim)
        cluster.replicas[restarted].stop()
        cluster.replicas[restarted].start(ARGS)
        cluster.haproxy.wait_state(restarted, "UP", timeout=30)

        # a run dispatched now, and the cancel of a run the dead replica followed
        path = _runs_notebook(hub, "alice", "after", "print('after', x)")
        r = cluster.call(
            "POST",
            "execute-notebook",
            "alice",
            json={"notebook_path": path, "kernel_name": "python3"},
        )
        assert r.status_code == 202, r.text
        runs.append((r.json()["execution_id"], "alice", "success", None))
        r = cluster.call("POST", f"execution/{long_run}/cancel", "alice")
        assert r.status_code == 200, r.text

        finals: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 120
        while len(finals) < len(runs):
            for execution_id, user, _, _ in runs:
                if execution_id in finals:
                    continue
                r = cluster.call("GET", f"execution-status/{execution_id}", user)
                assert r.status_code == 200, r.text
                if r.json()["status"] in FINAL:
                    finals[execution_id] = r.json()
            assert time.monotonic() < deadline, {i: f["status"] for i, f in finals.items()}
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    # every run ends with its true status
    for execution_id, user, status, reason in runs:
        final = finals[execution_id]
        assert final["status"] == status, final
        assert (final["error"] or {}).get("reason") == reason, final
        if status == "success":
            printed = "after" if final["notebook_path"].endswith("after.ipynb") else "done"
            assert printed in (hub.user_dir(user) / final["output_path"]).read_text()

    # each end recorded once, in whichever replica wrote it (the killed one's log too)
    ended: Counter[int] = Counter()
    for service in cluster.replicas.values():
        for found in ENDED.finditer(service.log.read_text(errors="replace")):
            execution_id = int(found.group(1))
            if execution_id in finals:
                ended[execution_id] += 1
                assert found.group(2) == finals[execution_id]["status"]
    assert ended == Counter({execution_id: 1 for execution_id in finals}), ended

    # one replica at a time follows a user: never more watchers than users
    assert watcher_counts, "no sample of the replicas' watchers"
    busiest = max(sum(counts.values()) for _, counts in watcher_counts)
    assert busiest <= len(users), watcher_counts

    # creates: none lost, none doubled
    assert len(creates) >= 10, creates
    recorded = set(
        cluster.query(
            "SELECT path, count(*) FROM notebooks WHERE username = 'bob' "
            "AND path LIKE 'replicas-created/%' GROUP BY path"
        )
    )
    ids = dict(cluster.query("SELECT path, id FROM notebooks WHERE path LIKE 'replicas-created/%'"))
    assert all(n == 1 for _, n in recorded), recorded
    folder = hub.user_dir("bob") / "replicas-created"
    for name, status, notebook_id in creates:
        path = f"replicas-created/{name}.ipynb"
        assert status in (201, 409), (name, status)
        assert (folder / f"{name}.ipynb").exists(), name
        if status == 201:
            assert ids.get(path) == notebook_id, (name, notebook_id)

    # 5xx: only haproxy's 503, only for what the killed replica was answering
    troubles = [a for a in cluster.answers if a.status >= 500]
    for a in troubles:
        assert a.status == 503 and killed_at <= a.at <= down_at + 2.0, (a, killed_at, down_at)
    # no ERROR in any replica's log, nor in the users' servers for this test's paths
    for name, service in cluster.replicas.items():
        errors = [
            line
            for line in service.log.read_text(errors="replace").splitlines()
            if line.startswith(("[E", "[C"))
        ]
        assert errors == [], (name, errors[:5])
    server_errors = [
        line
        for line in hub.log.read_text(errors="replace").splitlines()
        if "replicas" in line and (line.startswith("[E") or " 500 " in line)
    ]
    assert server_errors == [], server_errors[:5]
    print(
        f"\nreplicas: killed {victim}, alice taken over in {takeover:.1f} s; "
        f"restarted {restarted}; {len(creates)} creates; {len(troubles)} 503s; "
        f"busiest {busiest:.0f} watchers"
    )


def test_a_stopping_replica_finishes_what_it_answers(cluster: Cluster) -> None:
    """SIGTERM: the replica refuses new connections at once, so the load balancer sends
    new requests elsewhere, and answers the requests under way before it exits (here
    ``POST /execute``, which answers when the run has ended)."""
    hub = cluster.hub
    cluster.revive()  # the replica the test above killed may be this one
    name = "r2"
    service = cluster.replicas[name]
    hub.start_server("alice")
    path = _runs_notebook(hub, "alice", "drain", "time.sleep(4)", "print('drained', x)")
    answer: dict[str, Any] = {}

    def execute() -> None:
        try:
            answer["r"] = requests.post(
                service.direct_url + "execute",
                headers={"Authorization": f"token {hub.tokens['alice']}"},
                json={"notebook_path": path, "kernel_name": "python3"},
                timeout=90,
            )
        except requests.RequestException as e:
            answer["error"] = e

    thread = threading.Thread(target=execute)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the request is under way once its run runs
            r = cluster.call("GET", "executions", "alice", params={"status": "running"})
            if any(e["notebook_path"] == path for e in r.json()["executions"]):
                break
            assert "r" not in answer and "error" not in answer, answer
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        assert "r" not in answer and "error" not in answer
        service.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while True:  # new connections are refused while the run goes on
            try:
                requests.get(service.direct_url + "health", timeout=5)
            except requests.ConnectionError:
                break
            assert time.monotonic() < deadline, "the stopping replica still accepts"
            time.sleep(0.05)
        assert "r" not in answer, "the run ended before the test could stop the replica"
        thread.join(60)
        assert "error" not in answer, answer.get("error")
        assert answer["r"].status_code == 200, answer["r"].text
        assert answer["r"].json()["status"] == "success", answer["r"].text
        assert service.proc.wait(30) == 0
    finally:
        thread.join(60)
        service.stop()
        service.start(ARGS)
        cluster.haproxy.wait_state(name, "UP", timeout=30)


def test_scheduled_slots_run_once_each_across_a_killed_scheduler(cluster: Cluster) -> None:
    """A job fires every four seconds; the replica firing the schedules is killed
    (SIGKILL) mid-way and another takes over: every slot from the first to the last is
    recorded once, each has exactly one execution, and each ends in success."""
    hub = cluster.hub
    cluster.revive()
    hub.start_server("bob")
    r = cluster.call(
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": ("ticks.ipynb", make_notebook(body="print('tick' * 2, dataset_path)"))},
        data={"category": "replica-jobs"},
    )
    assert r.status_code in (200, 201), r.text
    r = cluster.call(
        "POST",
        "jobs",
        "bob",
        json={
            "name": "ticks",
            "template_name": "replica-jobs/ticks.ipynb",
            "target_directory": "replica-jobs",
            "kernel_name": "python3",
            "schedule": EVERY_4S,
            "timezone": "UTC",
            "overlap": "queue",
        },
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    def job_runs() -> list[dict[str, Any]]:
        r = cluster.call("GET", f"jobs/{job_id}/runs", "bob", params={"limit": 500})
        assert r.status_code == 200, r.text
        return r.json()["runs"]

    def wait_for_runs(count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(job_runs()) < count:
            assert time.monotonic() < deadline, f"fewer than {count} runs fired"
            time.sleep(0.2)

    victim = None
    try:
        wait_for_runs(2, 30)
        holder = cluster.leases("schedule")["jobs"]
        victim = cluster.replica_of(holder)
        os.kill(cluster.replicas[victim].proc.pid, signal.SIGKILL)
        cluster.replicas[victim].proc.wait(10)
        fired_before = len(job_runs())
        deadline = time.monotonic() + 30
        while cluster.leases("schedule").get("jobs", holder) == holder:
            assert time.monotonic() < deadline, "no replica took the schedules over"
            time.sleep(0.1)
        wait_for_runs(fired_before + 10, 90)  # slots keep firing under the new scheduler
        r = cluster.call("POST", f"jobs/{job_id}/pause", "bob")
        assert r.status_code == 200, r.text

        # every run dispatched (queued ones too) and its execution ended
        deadline = time.monotonic() + 120
        while True:
            runs = job_runs()
            settled = all(
                run["state"] == "dispatched" and run.get("execution", {}).get("status") in FINAL
                for run in runs
            )
            if settled:
                break
            assert time.monotonic() < deadline, [
                (run["state"], run.get("execution", {}).get("status")) for run in runs
            ]
            time.sleep(0.3)
    finally:
        cluster.revive()

    # the slots: consecutive, four seconds apart, each once
    slots = sorted(datetime.datetime.fromisoformat(run["slot"]) for run in runs)
    assert len(slots) == len(set(slots)) >= fired_before + 10
    for earlier, later in itertools.pairwise(slots):
        assert next_slot(EVERY_4S, "UTC", earlier) == later, (earlier, later)
    # one execution per run, each a success, each recorded once in the database
    executions = [run["execution"] for run in runs]
    assert all(e["status"] == "success" for e in executions), executions
    ids = {e["execution_id"] for e in executions}
    assert len(ids) == len(runs)
    recorded = cluster.query(
        "SELECT e.id FROM notebook_executions e JOIN job_runs r ON e.job_run_id = r.id "
        "WHERE r.job_id = :job_id",
        job_id=job_id,
    )
    assert {row[0] for row in recorded} == ids and len(recorded) == len(ids)
    # one notebook per run, in bob's server
    made = sorted(p.name for p in (hub.user_dir("bob") / "replica-jobs").glob("*.ipynb"))
    assert len(made) == len(runs), made
    assert all(
        "ticktick" in (hub.user_dir("bob") / run["notebook_path"]).read_text() for run in runs
    )
    # each end recorded once, in whichever replica wrote it
    ended = Counter(
        int(found.group(1))
        for service in cluster.replicas.values()
        for found in ENDED.finditer(service.log.read_text(errors="replace"))
        if int(found.group(1)) in ids
    )
    assert ended == Counter({i: 1 for i in ids}), ended
    errors = [
        line
        for service in cluster.replicas.values()
        for line in service.log.read_text(errors="replace").splitlines()
        if line.startswith(("[E", "[C"))
    ]
    assert errors == [], errors[:5]
    print(f"\njobs: killed scheduler {victim}; {len(runs)} slots, {len(ids)} executions")
