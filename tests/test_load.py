"""Load: many concurrent clients against the service on PostgreSQL and
the S3 store (moto), with a real Hub and the users' real single-user servers.

Each client loops over a mix of calls (template lists with filters, search and pages,
categories, template reads with and without content, download URLs, notebooks created
from templates in the users' running servers, some overwriting, execution status and
listings, notebook listings) for a fixed time. Checked: not one 5xx, not one transport
error, every answer the documented success; and afterwards, once idle, the service's
open file descriptors, its TCP connections and its PostgreSQL connections are back
within a small bound of what they were before (see :func:`check_no_growth`).

The clients call the service directly on loopback (its own port), not through
configurable-http-proxy: the proxy is a separate single process the load would measure
instead. The service's own calls (Hub API, users' servers through the proxy) are real.

Requests/s, latencies and RSS are printed (``-s``) for RELIABILITY.md, never asserted.
Short run in ``make test`` (:data:`SHORT`); the long one (``make test-long``) is 200
clients for 60 s.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psutil
import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from fixtures.postgres import ADMIN_URL, _connect, scratch_database
from notebooks import make_notebook, write_python_notebook
from sqlalchemy.engine import make_url

from jupyterhub_templates.statuses import FINAL

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.s3]

SHORT = (50, 10.0)  # clients, seconds
LONG = (200, 60.0)
USERS = ("alice", "bob", "carol")
CATEGORIES = ("ml", "etl", "analysis", "reports")
TEMPLATES_PER_CATEGORY = 6
DB_POOL_SIZE = 10  # the service's default db_pool_size, set explicitly here
MAX_WORKERS = 8  # the service's default max_workers (its thread pool), set explicitly
#: fds or sockets that may be open beyond the pools: calls still closing, a log file
SLACK = 3
PG_PORT = make_url(ADMIN_URL).port or 5432


@dataclass
class World:
    hub: Hub
    service: ServiceProcess
    db_name: str
    s3_port: int
    templates: list[str]
    executions: dict[str, list[int]]  # user -> seeded execution ids


def seed_execution(svc: ServiceProcess, hub: Hub, user: str, i: int) -> int:
    path = f"load-seed/run{i}.ipynb"
    write_python_notebook(hub.user_dir(user) / path, "print(x)")
    r = svc.request(
        "POST", "execute-notebook", user, json={"notebook_path": path, "kernel_name": "python3"}
    )
    assert r.status_code == 202, r.text
    return r.json()["execution_id"]


@pytest.fixture(scope="module")
def world(hub: Hub, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    moto_server.start()
    workdir = tmp_path_factory.mktemp("load")
    with scratch_database() as db_url:
        service = ServiceProcess(
            hub,
            {
                "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
                **moto_server.service_env(f"load-{uuid.uuid4().hex[:16]}"),
            },
            workdir,
            log_level="INFO",
        )
        service.start(
            [
                f"--TemplatesService.db_pool_size={DB_POOL_SIZE}",
                f"--TemplatesService.max_workers={MAX_WORKERS}",
            ]
        )
        try:
            templates = []
            for category in CATEGORIES:
                for i in range(TEMPLATES_PER_CATEGORY):
                    r = service.request(
                        "POST",
                        "minio/upload-template",
                        "carol",
                        files={"file": (f"load_{i}.ipynb", make_notebook(body=f"print({i})"))},
                        data={
                            "category": category,
                            "overwrite": "true",
                            "description": f"load template {i} for {category}",
                        },
                    )
                    assert r.status_code in (200, 201), r.text
                    templates.append(f"{category}/load_{i}.ipynb")
            for user in USERS:
                hub.start_server(user, timeout=90)
            executions = {
                user: [seed_execution(service, hub, user, i) for i in range(2)] for user in USERS
            }
            deadline = time.monotonic() + 120
            for user, ids in executions.items():
                for execution_id in ids:
                    while True:
                        r = service.request("GET", f"execution-status/{execution_id}", user)
                        assert r.status_code == 200, r.text
                        if r.json()["status"] in FINAL:
                            assert r.json()["status"] == "success", r.json()
                            break
                        assert time.monotonic() < deadline, r.json()
                        time.sleep(0.5)
            yield World(
                hub, service, make_url(db_url).database, moto_server.port, templates, executions
            )
        finally:
            service.stop()


# -- measuring the service process ------------------------------------------------


@dataclass
class Usage:
    fds: int
    tcp: int  # all TCP sockets of the process
    tcp_pg: int  # ... to PostgreSQL
    tcp_s3: int  # ... to the S3 server
    pg: int  # pg_stat_activity rows of the scratch database
    rss_mb: float

    @property
    def tcp_other(self) -> int:
        """Listening sockets, clients, the Hub API and the proxy."""
        return self.tcp - self.tcp_pg - self.tcp_s3

    def __str__(self) -> str:
        return (
            f"fds={self.fds} tcp={self.tcp} (PostgreSQL {self.tcp_pg}, S3 {self.tcp_s3}, "
            f"other {self.tcp_other}) pg_stat_activity={self.pg} rss={self.rss_mb:.1f}MB"
        )


def pg_connections(db_name: str) -> int:
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db_name,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def usage(world: World) -> Usage:
    assert world.service.proc is not None
    proc = psutil.Process(world.service.proc.pid)
    connections = proc.net_connections(kind="tcp")
    remote_ports = Counter(c.raddr.port for c in connections if c.raddr)
    return Usage(
        fds=proc.num_fds(),
        tcp=len(connections),
        tcp_pg=remote_ports[PG_PORT],
        tcp_s3=remote_ports[world.s3_port],
        pg=pg_connections(world.db_name),
        rss_mb=proc.memory_info().rss / 2**20,
    )


def check_no_growth(before: Usage, after: Usage) -> list[str]:
    """What grew beyond the bound; empty when all held.

    The bound is what the service may keep open by design once idle:
    - PostgreSQL: at most 2 x db_pool_size sessions (two pools, main and autocommit,
      keep up to ``pool_size`` idle connections each and close their overflow);
    - S3: at most :data:`MAX_WORKERS` keep-alive connections (urllib3 keeps one per
      worker thread that called the store at once);
    - every other TCP socket (listeners, clients, Hub API, proxy): at most
      :data:`SLACK` more than before — all of them close after each call;
    - file descriptors: at most the growth of those pools plus :data:`SLACK`.
    A leak of one fd or socket per request (or per failed one) would show as hundreds
    to thousands here."""
    problems = []
    if after.pg > 2 * DB_POOL_SIZE:
        problems.append(f"PostgreSQL sessions {before.pg} -> {after.pg}")
    if after.tcp_s3 > MAX_WORKERS:
        problems.append(f"S3 connections {before.tcp_s3} -> {after.tcp_s3}")
    if after.tcp_other > before.tcp_other + SLACK:
        problems.append(f"other TCP sockets {before.tcp_other} -> {after.tcp_other}")
    pools = max(0, after.tcp_pg - before.tcp_pg) + max(0, after.tcp_s3 - before.tcp_s3)
    if after.fds > before.fds + pools + SLACK:
        problems.append(f"open fds {before.fds} -> {after.fds}")
    return problems


# -- the load ------------------------------------------------------------------------


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)  # (op, status)
    unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transport errors

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Client:
    """One simulated client: a user, a random generator, and its own counter of
    created notebooks (distinct paths)."""

    def __init__(
        self, n: int, world: World, session: aiohttp.ClientSession, base: str, run: str
    ) -> None:
        self.n = n
        self.run_id = run
        self.world = world
        self.session = session
        self.base = base
        self.user = USERS[n % len(USERS)]
        self.headers = {"Authorization": f"token {world.hub.tokens[self.user]}"}
        self.rng = random.Random(n)
        self.created = 0

    def pick(self) -> tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]:
        """(op, method, path, query, json body)"""
        rng, w = self.rng, self.world
        roll = rng.random()
        name = rng.choice(w.templates)
        if roll < 0.30:
            params: dict[str, Any] = rng.choice(
                [
                    {},
                    {"category": rng.choice(CATEGORIES)},
                    {"q": f"load template {rng.randrange(6)}"},
                    {"q": "load", "limit": 5, "offset": rng.randrange(0, 24, 5)},
                    {"sort": rng.choice(["size", "created", "last_modified"]), "order": "desc"},
                ]
            )
            return "list-templates", "GET", "minio/list-templates", params, None
        if roll < 0.35:
            return "list-categories", "GET", "minio/list-categories", None, None
        if roll < 0.50:
            params = {"content": "true"} if rng.random() < 0.4 else {}
            return "get-template", "GET", f"minio/get-template/{name}", params, None
        if roll < 0.58:
            return "download-url", "GET", f"minio/download-url/{name}", None, None
        if roll < 0.68:
            body: dict[str, Any] = {
                "template_name": name,
                "target_directory": f"load/{self.run_id}/c{self.n}",
                "parameters": {"n_estimators": rng.randrange(1, 500)},
            }
            if rng.random() < 0.3:
                body.update(new_name="again.ipynb", overwrite=True)
                return "create-overwrite", "POST", "create-from-template", None, body
            self.created += 1
            body["new_name"] = f"nb{self.created}.ipynb"
            return "create", "POST", "create-from-template", None, body
        if roll < 0.80:
            execution_id = rng.choice(w.executions[self.user])
            return "execution-status", "GET", f"execution-status/{execution_id}", None, None
        if roll < 0.90:
            return "executions", "GET", "executions", {"limit": 20}, None
        return "notebooks", "GET", "notebooks", {"limit": 20}, None

    async def run(self, until: float, results: Results) -> None:
        expected = {"create": 201, "create-overwrite": 201}
        while time.monotonic() < until:
            op, method, path, params, body = self.pick()
            started = time.perf_counter()
            try:
                async with self.session.request(
                    method, self.base + path, params=params, json=body, headers=self.headers
                ) as r:
                    text = await r.text()
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                results.errors.append(f"{op} {path}: {type(e).__name__}: {e}")
                continue
            results.latencies[op].append(time.perf_counter() - started)
            results.statuses[(op, status)] += 1
            if status != expected.get(op, 200) and len(results.unexpected) < 40:
                results.unexpected.append(f"{op} {method} {path} -> {status} {text[:200]}")


async def load(world: World, clients: int, seconds: float) -> tuple[Results, float, str]:
    """``clients`` concurrent clients for ``seconds``; their results, the time taken and
    the run's folder name (under ``load/`` in the users' servers)."""
    results = Results()
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        until = started + seconds
        run = uuid.uuid4().hex[:8]  # each run creates its notebooks in a folder of its own
        workers = [Client(n, world, session, world.service.direct_url, run) for n in range(clients)]
        await asyncio.gather(*(c.run(until, results) for c in workers))
        elapsed = time.monotonic() - started
    return results, elapsed, run


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def summary(results: Results, elapsed: float, clients: int) -> dict[str, Any]:
    every = [x for v in results.latencies.values() for x in v]
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": results.total,
        "requests_per_s": round(results.total / elapsed, 1),
        "p50_ms": round(1000 * percentile(every, 50), 1),
        "p99_ms": round(1000 * percentile(every, 99), 1),
        "by_op": {
            op: {
                "n": len(v),
                "p50_ms": round(1000 * percentile(v, 50), 1),
                "p99_ms": round(1000 * percentile(v, 99), 1),
            }
            for op, v in sorted(results.latencies.items())
        },
        "statuses": {f"{op} {s}": n for (op, s), n in sorted(results.statuses.items())},
        "transport_errors": len(results.errors),
    }


async def settle(world: World, before: Usage, timeout: float = 30) -> tuple[Usage, list[str]]:
    """Poll until the usage is back within the bound (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        await asyncio.sleep(1)
        after = await asyncio.to_thread(usage, world)
        problems = check_no_growth(before, after)
        if not problems or time.monotonic() > deadline:
            return after, problems


async def run_load(world: World, clients: int, seconds: float) -> None:
    # A short warm-up with the same mix fills the pools (database, S3, threads), so
    # that "before" is the service at rest after use, not freshly started.
    warm, _, _ = await load(world, 10, 3)
    assert not warm.errors, warm.errors[:5]
    await asyncio.sleep(3)
    before = await asyncio.to_thread(usage, world)

    results, elapsed, run = await load(world, clients, seconds)
    after, problems = await settle(world, before)

    report = summary(results, elapsed, clients)
    report["before"], report["after"] = str(before), str(after)
    print("\nLOAD", json.dumps(report, indent=1))
    print("\n".join(results.unexpected))

    fives = {k: n for k, n in results.statuses.items() if k[1] >= 500}
    assert not fives, (fives, results.unexpected)
    assert not results.errors, (len(results.errors), results.errors[:10])
    assert not results.unexpected, results.unexpected
    assert results.total > clients, report  # every client got answers
    assert not problems, (problems, str(before), str(after))
    # the service is still well and its writes happened
    r = await asyncio.to_thread(requests.get, world.service.direct_url + "health", timeout=30)
    assert r.status_code == 200, r.text
    created = results.statuses[("create", 201)]
    assert created > 0, report
    # every new notebook answered 201 is in its user's server, once
    files = sum(
        len(list((world.hub.user_dir(user) / "load" / run).glob("c*/nb*.ipynb"))) for user in USERS
    )
    assert files == created, (files, created)


@pytest.mark.timeout(600)  # the Hub's start and the seeding count too
async def test_load_short(world: World) -> None:
    await run_load(world, *SHORT)


@pytest.mark.long
@pytest.mark.timeout(900)
async def test_load_long(request: pytest.FixtureRequest, world: World) -> None:
    if "long" not in (request.config.option.markexpr or ""):
        pytest.skip("long load run: make test-long (pytest -m long)")
    await run_load(world, *LONG)


# -- heavy requests beside a /health probe ---------------------------------------------

#: the /health probe: its own process, so that what the heavy clients do in the test's
#: process (reading 20 MB answers) is not counted; probes every 20 ms until its stdin
#: closes, then prints the latencies (seconds) as JSON
PROBE = """
import http.client, json, sys, threading, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
latencies = []
while not stop.is_set():
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    latencies.append(time.perf_counter() - started)
    conn.close()
    time.sleep(0.02)
print(json.dumps(latencies))
"""

#: about as large as a parameters body may be (TemplatesService.max_body_bytes is 1 MiB)
HEAVY_VALUE = 900_000
BIG_TEMPLATE_PADDING = 9_800_000  # a 9.9 MB template (Catalog.max_upload_bytes is 10 MiB)


async def heavy_load(world: World, rounds: int) -> tuple[list[float], Counter, list[str]]:
    """``rounds`` bursts of heavy requests, each burst all at once, while /health is
    polled every 20 ms: the probe's latencies, the heavy answers' (op, status) counts,
    and unexpected answers.

    A burst: 4 notebook records submitted with a 0.9 MB parameter, one of them changed
    with another (PUT), a run of a notebook with one (first burst only: it starts a
    kernel), the records listed with limit=500 (their pages are bounded), 4 reads of a
    9.9 MB template's content, and a 2.5 MB body (413)."""
    svc, hub = world.service, world.hub
    alice = {"Authorization": f"token {hub.tokens['alice']}"}
    base = svc.direct_url
    statuses: Counter = Counter()
    unexpected: list[str] = []
    probe: list[float] = []
    record_ids: list[int] = []
    write_python_notebook(hub.user_dir("alice") / "heavy" / "run.ipynb", "print(len(blob))")

    async def call(
        session: aiohttp.ClientSession, op: str, method: str, path: str, *, expect: int, **kw: Any
    ) -> tuple[int, str]:
        async with session.request(method, base + path, headers=alice, **kw) as r:
            text = (await r.read()).decode()
        statuses[(op, r.status)] += 1
        if r.status != expect and len(unexpected) < 20:
            unexpected.append(f"{op} -> {r.status} {text[:200]}")
        return r.status, text

    async def submit(session: aiohttp.ClientSession, i: int) -> None:
        body = {"notebook_path": f"heavy/rec{i}.ipynb", "parameters": {"blob": "x" * HEAVY_VALUE}}
        status, text = await call(
            session, "submit 0.9 MB", "POST", "submit-notebook", json=body, expect=201
        )
        if status == 201:
            record_ids.append(json.loads(text)["notebook_id"])

    async def put(session: aiohttp.ClientSession) -> None:
        if record_ids:
            body = {"parameters": {"blob": "y" * HEAVY_VALUE}}
            await call(
                session, "put 0.9 MB", "PUT", f"notebook/{record_ids[0]}", json=body, expect=200
            )

    async def run(session: aiohttp.ClientSession) -> None:
        body = {
            "notebook_path": "heavy/run.ipynb",
            "kernel_name": "python3",
            "parameters": {"blob": "z" * HEAVY_VALUE},
        }
        await call(session, "execute 0.9 MB", "POST", "execute-notebook", json=body, expect=202)

    async def listing(session: aiohttp.ClientSession) -> None:
        status, text = await call(
            session, "notebooks limit=500", "GET", "notebooks", params={"limit": 500}, expect=200
        )
        if status == 200:
            page = json.loads(text)
            assert len(text) <= 8 * 1024 * 1024 + HEAVY_VALUE, len(text)
            assert page["count"] == len(page["notebooks"])
            assert page["count"] >= 1 or page["total"] == 0, page["total"]
            if page["total"] > page["count"]:
                assert page["next_offset"] == page["count"], page["next_offset"]

    async def template(session: aiohttp.ClientSession) -> None:
        await call(
            session,
            "get-template 9.9 MB content",
            "GET",
            "minio/get-template/heavy/big.ipynb",
            params={"content": "true"},
            expect=200,
        )

    async def oversized(session: aiohttp.ClientSession) -> None:
        body = {"notebook_path": "heavy/x.ipynb", "parameters": {"blob": "z" * 2_500_000}}
        await call(session, "submit 2.5 MB", "POST", "submit-notebook", json=body, expect=413)

    url = urlsplit(base + "health")
    prober = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROBE,
        url.hostname or "127.0.0.1",
        str(url.port),
        url.path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.sleep(0.5)  # a few probes at rest first
        for n in range(rounds):
            await asyncio.gather(
                *(submit(session, n * 10 + i) for i in range(4)),
                put(session),
                *([run(session)] if n == 0 else []),
                listing(session),
                *(template(session) for _ in range(4)),
                oversized(session),
            )
        out, _ = await prober.communicate(b"")  # closes its stdin: the probe stops
        probe.extend(json.loads(out))
        for record_id in record_ids:
            await call(session, "cleanup", "DELETE", f"notebook/{record_id}", expect=204)
    return probe, statuses, unexpected


@pytest.mark.timeout(600)
async def test_health_answers_while_heavy_requests_run(world: World) -> None:
    """Large parameter bodies (at the limit and over it), large listings and a large
    template's content, all at once, with /health polled beside them: every answer is
    the documented one, the listing's pages are bounded, and the probe's latencies are
    printed (RELIABILITY.md), not asserted."""
    svc = world.service
    r = await asyncio.to_thread(
        svc.request,
        "POST",
        "minio/upload-template",
        "carol",
        files={"file": ("big.ipynb", make_notebook(padding=BIG_TEMPLATE_PADDING))},
        data={"category": "heavy", "overwrite": "true"},
    )
    assert r.status_code in (200, 201), r.text
    probe, statuses, unexpected = await heavy_load(world, rounds=4)
    report = {
        "health_probes": len(probe),
        "health_p50_ms": round(1000 * percentile(probe, 50), 1),
        "health_p99_ms": round(1000 * percentile(probe, 99), 1),
        "health_max_ms": round(1000 * max(probe), 1),
        "statuses": {f"{op} {s}": n for (op, s), n in sorted(statuses.items())},
    }
    print("\nHEAVY", json.dumps(report, indent=1))
    assert not unexpected, unexpected
    assert not [k for k in statuses if k[1] >= 500], statuses
    assert statuses[("submit 0.9 MB", 201)] == 16 and statuses[("submit 2.5 MB", 413)] == 4
    assert statuses[("get-template 9.9 MB content", 200)] == 16, statuses
    assert statuses[("notebooks limit=500", 200)] == 4, statuses
    assert statuses[("execute 0.9 MB", 202)] == 1, statuses
