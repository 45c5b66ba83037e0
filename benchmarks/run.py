"""Run the benchmark suite and print one markdown table.

``python -m benchmarks [--size tiny|full] [--json FILE]`` (``make bench`` runs full).

It reuses the test harness: ``tests/`` goes on ``sys.path`` so that ``fixtures.hub``
(a real JupyterHub with configurable-http-proxy, the service as its own process),
``fixtures.s3`` (moto's S3 server) and ``fixtures.postgres`` (a scratch database on the
local PostgreSQL) can be imported. Everything runs on one machine, in one run: each
figure and its baseline are measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.hub import (  # noqa: E402
    Hub,
    ServiceProcess,
    free_port,
    start_hub,
    stop_process,
)
from fixtures.postgres import scratch_database  # noqa: E402
from fixtures.s3 import MotoServer  # noqa: E402
from minio import Minio  # noqa: E402

from . import seed  # noqa: E402
from .http import Connection, Stats, percentile  # noqa: E402

PREFIX = "/services/templates/"
PAGE = 50


@dataclass
class Profile:
    sizes: list[int]
    load_size: int  # the catalog size the load test runs at
    baseline_max: int  # largest catalog whose objects are put in the bucket
    service_reps: int
    baseline_reps: int
    baseline_budget: float  # seconds per baseline query and size
    load_seconds: float
    load_clients: int
    profile_dir: Path | None = None  # py-spy profile of the service under load, if set
    execution_size: str = "full"  # parts 3-4 (benchmarks/execution.py SIZES)
    catalog_only: bool = False  # part 1 alone: no load test, create or execution rows
    skip_runs: bool = False  # part 1 and the load tests: no create or execution rows


PROFILES = {
    "full": Profile(
        sizes=[1_000, 10_000, 100_000],
        load_size=10_000,
        baseline_max=10_000,
        service_reps=200,
        baseline_reps=30,
        baseline_budget=20.0,
        load_seconds=20.0,
        load_clients=50,
    ),
    "tiny": Profile(
        sizes=[50],
        load_size=50,
        baseline_max=50,
        service_reps=10,
        baseline_reps=3,
        baseline_budget=2.0,
        load_seconds=2.0,
        load_clients=10,
        execution_size="tiny",
    ),
}


@dataclass
class Row:
    benchmark: str
    size: str
    metric: str
    ours: tuple[float, float | None]
    baseline: tuple[float, float | None] | None
    ratio: float | None
    ratio_label: str
    target: str
    met: bool | None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "size": self.size,
            "metric": self.metric,
            "ours_p50": self.ours[0],
            "ours_p99": self.ours[1],
            "baseline_p50": self.baseline[0] if self.baseline else None,
            "baseline_p99": self.baseline[1] if self.baseline else None,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            **self.notes,
        }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# -- the environment ----------------------------------------------------------------


@dataclass
class Env:
    hub: Hub
    service: ServiceProcess
    moto: MotoServer
    minio: Minio
    bucket: str
    db_url: str
    token: str


@contextlib.contextmanager
def environment(workdir: Path) -> Iterator[Env]:
    moto = MotoServer(workdir / "moto.log")
    moto.start()
    try:
        with scratch_database() as db_url:
            # the Hub as deployed too: not the tests' DEBUG logs
            hub = start_hub(
                workdir / "hub", external_service=True, extra_env={"TEMPLATES_TEST_DEBUG": "0"}
            )
            try:
                bucket = "bench-templates"
                env = {
                    "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
                    **moto.service_env(bucket),
                }
                (workdir / "service").mkdir()
                # INFO, not the harness's DEBUG: the service as deployed
                service = ServiceProcess(hub, env, workdir / "service", log_level="INFO")
                service.start()
                try:
                    client = Minio(
                        moto.endpoint,
                        access_key=moto.access_key,
                        secret_key=moto.secret_key,
                        secure=False,
                        region="us-east-1",
                    )
                    if not client.bucket_exists(bucket):
                        client.make_bucket(bucket)
                    yield Env(hub, service, moto, client, bucket, db_url, hub.tokens["alice"])
                finally:
                    service.stop()
            finally:
                stop_process(hub.proc)
    finally:
        moto.stop()


def run_standalone(measure: Callable[[Env], list[Row]], json_path: Path | None) -> None:
    """Run one part of the suite on its own (``python -m benchmarks.create``, ...): a
    scratch :func:`environment`, its rows printed as a table and, if asked, as JSON."""
    with tempfile.TemporaryDirectory(prefix="templates-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "hub").mkdir()
        with environment(workdir) as env:
            rows = measure(env)
    print(table(rows))
    if json_path:
        json_path.write_text(json.dumps([r.as_dict() for r in rows], indent=1))


# -- catalog listing ----------------------------------------------------------------


@dataclass
class Query:
    label: str
    params: Callable[[random.Random, int], dict[str, Any]]
    baseline: Callable[[Env, dict[str, Any]], int]  # returns the number of matches
    expected_total: Callable[[int], int]


def _all_keys(env: Env) -> list[str]:
    return [
        o.object_name
        for o in env.minio.list_objects(env.bucket, recursive=True)
        if not o.object_name.startswith(".versions/")
    ]


def baseline_page(env: Env, params: dict[str, Any]) -> int:
    """The original service listed every object; the page is sliced from that (sorted by key)."""
    keys = _all_keys(env)
    page = keys[params["offset"] : params["offset"] + PAGE]
    assert page, "empty page"
    return len(keys)


def baseline_category(env: Env, params: dict[str, Any]) -> int:
    objs = list(env.minio.list_objects(env.bucket, prefix=f"{params['category']}/", recursive=True))
    return len(objs)


def baseline_search(env: Env, params: dict[str, Any]) -> int:
    needle = params["q"].lower()
    return sum(1 for key in _all_keys(env) if needle in key.lower())


def _search_total(n: int) -> int:
    return sum(1 for i in range(n) if seed.SEARCH_WORD in seed.template_name(i))


QUERIES = [
    Query(
        "page of 50",
        lambda rng, n: {"limit": PAGE, "offset": rng.randrange(0, max(1, n - PAGE + 1))},
        baseline_page,
        lambda n: n,
    ),
    Query(
        "category filter",
        lambda rng, n: {"category": rng.choice(seed.CATEGORIES), "limit": PAGE},
        baseline_category,
        lambda n: n // len(seed.CATEGORIES),
    ),
    Query(
        "text search",
        lambda rng, n: {"q": seed.SEARCH_WORD, "limit": PAGE},
        baseline_search,
        _search_total,
    ),
]


async def _measure_service(
    host: str, port: int, token: str, query: Query, n: int, reps: int
) -> tuple[Stats, int]:
    conn = Connection(host, port, {"Authorization": f"token {token}"})
    rng = random.Random(1)  # noqa: S311 (a reproducible mix, not a secret)
    samples: list[float] = []
    total = -1
    try:
        for i in range(reps + 5):
            params = query.params(rng, n)
            path = f"{PREFIX}minio/list-templates?{urlencode(params)}"
            t0 = time.perf_counter()
            status, body = await conn.get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise RuntimeError(f"{path}: {status} {body[:300]!r}")
            if i >= 5:  # the first few warm up the token cache and connections
                samples.append(elapsed)
            total = json.loads(body)["total"]
    finally:
        await conn.close()
    return Stats(samples), total


def measure_baseline(env: Env, query: Query, n: int, profile: Profile) -> tuple[Stats, int]:
    rng = random.Random(1)  # noqa: S311 (a reproducible mix, not a secret)
    samples: list[float] = []
    total = -1
    query.baseline(env, query.params(rng, n))  # warm-up
    started = time.monotonic()
    while len(samples) < profile.baseline_reps and (
        len(samples) < 3 or time.monotonic() - started < profile.baseline_budget
    ):
        params = query.params(rng, n)
        t0 = time.perf_counter()
        total = query.baseline(env, params)
        samples.append((time.perf_counter() - t0) * 1000)
    return Stats(samples), total


def catalog_rows(env: Env, profile: Profile, n: int, with_baseline: bool) -> list[Row]:
    rows = []
    hub_port = int(env.hub.url.rsplit(":", 1)[1])
    for query in QUERIES:
        expected = query.expected_total(n)
        paths = {
            "direct": ("127.0.0.1", env.hub.service_port),
            "via proxy": ("127.0.0.1", hub_port),
        }
        ours: dict[str, Stats] = {}
        for label, (host, port) in paths.items():
            stats, total = asyncio.run(
                _measure_service(host, port, env.token, query, n, profile.service_reps)
            )
            if total != expected:
                raise RuntimeError(f"{query.label}: service total {total} != {expected}")
            ours[label] = stats
        base: Stats | None = None
        if with_baseline:
            base, total = measure_baseline(env, query, n, profile)
            if total != expected:
                raise RuntimeError(f"{query.label}: bucket total {total} != {expected}")
        for label, stats in ours.items():
            ratio = base.p50 / stats.p50 if base else None
            met = stats.p50 <= 10 and (ratio is not None and ratio >= 20) if base else None
            if base is None and stats.p50 > 10:
                met = False
            rows.append(
                Row(
                    benchmark=f"catalog: {query.label} ({label})",
                    size=f"{n:,}",
                    metric=f"latency ms (n={stats.n}/{base.n if base else 0})",
                    ours=(stats.p50, stats.p99),
                    baseline=(base.p50, base.p99) if base else None,
                    ratio=ratio,
                    ratio_label="faster",
                    target="p50 <= 10 ms, >= 20x faster",
                    met=met,
                    notes={"matches": expected},
                )
            )
        log(
            f"{n:>7,} {query.label}: direct p50 {ours['direct'].p50:.2f} ms, proxy p50 "
            f"{ours['via proxy'].p50:.2f} ms, bucket p50 "
            f"{f'{base.p50:.1f} ms' if base else 'not measured'}"
        )
    return rows


# -- service under load ---------------------------------------------------------------


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float]
    errors: int
    error_samples: list[str]

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


def load_paths(n: int) -> Callable[[random.Random], str]:
    readable = min(n, seed.READABLE)

    def pick(rng: random.Random) -> str:
        x = rng.random()
        if x < 0.35:  # a page of the whole catalog
            offset = rng.randrange(0, max(1, n - PAGE + 1))
            return f"{PREFIX}minio/list-templates?limit={PAGE}&offset={offset}"
        if x < 0.45:  # a category
            category = rng.choice(seed.CATEGORIES)
            return f"{PREFIX}minio/list-templates?category={category}&limit={PAGE}"
        if x < 0.50:  # a search
            return f"{PREFIX}minio/list-templates?q={rng.choice(seed.WORDS)}&limit={PAGE}"
        if x < 0.90:  # a template's metadata and versions
            return f"{PREFIX}minio/get-template/{quote(seed.template_name(rng.randrange(n)))}"
        name = seed.template_name(rng.randrange(readable))  # with the notebook itself
        return f"{PREFIX}minio/get-template/{quote(name)}?content=true"

    return pick


async def run_load(
    host: str,
    port: int,
    headers: dict[str, str],
    pick: Callable[[random.Random], str],
    clients: int,
    seconds: float,
) -> LoadResult:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(k: int) -> None:
        rng = random.Random(k)  # noqa: S311 (a reproducible mix, not a secret)
        conn = Connection(host, port, headers)
        try:
            while time.perf_counter() < deadline:
                path = pick(rng)
                t0 = time.perf_counter()
                try:
                    status, _body = await asyncio.wait_for(conn.get(path), 10)
                except Exception as e:  # every failure counts as an error
                    errors.append(f"{path}: {e!r}")
                    await conn.close()
                    continue
                if status == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors.append(f"{path}: HTTP {status}")
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return LoadResult(time.perf_counter() - started, latencies, len(errors), errors[:5])


def load_rows(env: Env, profile: Profile, n: int, rss_idle: float) -> list[Row]:
    size = f"{n:,} tpl, {profile.load_clients} clients, {profile.load_seconds:g} s"
    pick = load_paths(n)
    headers = {"Authorization": f"token {env.token}"}
    assert env.service.proc is not None
    pid = env.service.proc.pid
    rss_before = rss_mb(pid)
    spy = _start_profiler(pid, profile) if profile.profile_dir else None
    ours = asyncio.run(
        run_load(
            "127.0.0.1",
            env.hub.service_port,
            headers,
            pick,
            profile.load_clients,
            profile.load_seconds,
        )
    )
    rss_after = rss_mb(pid)
    if spy is not None:
        spy.wait(60)
    log(
        f"load: {ours.rps:.0f} req/s, {ours.errors} errors, p50 "
        f"{percentile(ours.latencies, 50):.1f} ms, p99 {percentile(ours.latencies, 99):.1f} ms, "
        f"RSS {rss_idle:.0f} -> {rss_before:.0f} -> {rss_after:.0f} MB"
    )
    if ours.error_samples:
        log(f"load errors, e.g.: {ours.error_samples}")

    # the baseline: a bare Tornado app under the same load generator
    port = free_port()
    floor = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.floor", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(port, floor)
        floor_idle = rss_mb(floor.pid)
        base = asyncio.run(
            run_load("127.0.0.1", port, headers, pick, profile.load_clients, profile.load_seconds)
        )
        floor_after = rss_mb(floor.pid)
    finally:
        stop_process(floor)
    log(f"floor: {base.rps:.0f} req/s, p99 {percentile(base.latencies, 99):.1f} ms")

    p50, p99 = percentile(ours.latencies, 50), percentile(ours.latencies, 99)
    b50, b99 = percentile(base.latencies, 50), percentile(base.latencies, 99)
    bench = "load: list + read, direct to service port"
    return [
        Row(bench, size, "throughput req/s", (ours.rps, None), (base.rps, None),
            ours.rps / base.rps, "floor", ">= 500 req/s", ours.rps >= 500,
            {"requests": len(ours.latencies)}),
        Row(bench, size, "latency ms", (p50, p99), (b50, b99), p99 / b99 if b99 else None,
            "floor (p99)", "p99 <= 100 ms", p99 <= 100),
        Row(bench, size, "errors", (ours.errors, None), (base.errors, None), None, "",
            "0", ours.errors == 0, {"error_samples": ours.error_samples}),
        Row(bench, size, "RSS idle MB", (rss_idle, None), (floor_idle, None),
            rss_idle / floor_idle, "floor", "<= 120 MB", rss_idle <= 120,
            {"rss_before_load_mb": rss_before}),
        Row(bench, size, "RSS after MB", (rss_after, None), (floor_after, None),
            rss_after / floor_after, "floor", "<= 200 MB", rss_after <= 200),
    ]  # fmt: skip


def _start_profiler(pid: int, profile: Profile) -> subprocess.Popen:
    """py-spy (``pip install py-spy``) sampling the service for the load's duration,
    as collapsed stacks (``load.folded``) and a flame graph (``load.svg``)."""
    assert profile.profile_dir is not None
    profile.profile_dir.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    out = profile.profile_dir / "load.folded"
    log(f"profiling the service with py-spy into {out}")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--duration", str(int(profile.load_seconds)),
         "--rate", "200", "--threads", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the floor app exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise TimeoutError("the floor app did not listen")


# -- the table ------------------------------------------------------------------------


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _pair(p: tuple[float, float | None] | None, gap: str = "not measured") -> str:
    if p is None:
        return gap
    return _num(p[0]) if p[1] is None else f"{_num(p[0])} / {_num(p[1])}"


def table(rows: list[Row]) -> str:
    head = [
        "benchmark",
        "size",
        "metric",
        "ours p50 / p99",
        "baseline p50 / p99",
        "ratio",
        "target",
        "met?",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{_num(r.ratio)}x {r.ratio_label}".strip()
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        cells = [r.benchmark, r.size, r.metric, _pair(r.ours), _pair(r.baseline), ratio]
        lines.append("| " + " | ".join([*cells, r.target, met]) + " |")
    return "\n".join(lines)


def run(profile: Profile) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="templates-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "hub").mkdir()
        log("starting moto, PostgreSQL scratch database, JupyterHub and the service")
        with environment(workdir) as env:
            assert env.service.proc is not None
            rss_idle = rss_mb(env.service.proc.pid)
            seeded = objects = 0
            for n in profile.sizes:
                t0 = time.monotonic()
                seed.seed_database(env.db_url, seeded, n)
                t_db = time.monotonic() - t0
                seeded = n
                if objects == 0:
                    first = range(min(n, seed.READABLE))
                    readable = [seed.version_key(seed.template_name(i)) for i in first]
                    seed.seed_bucket(env.minio, env.bucket, readable)
                with_baseline = n <= profile.baseline_max
                t0 = time.monotonic()
                if with_baseline:
                    keys = [seed.template_name(i) for i in range(objects, n)]
                    seed.seed_bucket(env.minio, env.bucket, keys)
                    objects = n
                t_s3 = time.monotonic() - t0
                log(
                    f"seeded {n:,} templates: database {t_db:.1f} s, bucket {t_s3:.1f} s"
                    + ("" if with_baseline else " (bucket not seeded at this size)")
                )
                rows += catalog_rows(env, profile, n, with_baseline)
                if n == profile.load_size and not profile.catalog_only:
                    rows += load_rows(env, profile, n, rss_idle)
                    from .replicas import replica_load_rows  # the same through haproxy

                    rows += replica_load_rows(env, profile, n)
            if profile.catalog_only or profile.skip_runs:
                return rows
            from .create import create_rows  # part 2 (benchmarks/create.py)

            rows += create_rows(env, profile.service_reps, profile.profile_dir)
            from .execution import execution_rows  # parts 3-4 (benchmarks/execution.py)

            rows += execution_rows(env, profile.execution_size)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=sorted(PROFILES), default="full")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--baseline-max",
        type=int,
        help="largest catalog whose objects are put in the bucket for the baseline "
        "(full: 10,000; moto takes ~220 puts/s here, so 100,000 adds ~8 minutes)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the service with py-spy during the load test (needs py-spy)",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated catalog sizes instead of the profile's (e.g. 10000); the "
        "load test runs at the profile's load size if listed, else at the largest",
    )
    parser.add_argument("--load-seconds", type=float, help="length of the load test")
    parser.add_argument(
        "--catalog-only",
        action="store_true",
        help="part 1 alone, e.g. the bucket baseline at 100,000: --sizes 100000 "
        "--baseline-max 100000 --catalog-only (~10 minutes, most of it putting objects)",
    )
    parser.add_argument(
        "--skip-runs",
        action="store_true",
        help="part 1 and the load tests, without the create and execution parts, e.g. "
        "--sizes 10000 --baseline-max 0 --skip-runs (~3 minutes)",
    )
    args = parser.parse_args(argv)
    profile = PROFILES[args.size]
    if args.sizes:
        profile.sizes = [int(x) for x in args.sizes.split(",")]
        if profile.load_size not in profile.sizes:
            profile.load_size = max(profile.sizes)
    if args.load_seconds:
        profile.load_seconds = args.load_seconds
    profile.profile_dir = args.profile
    profile.catalog_only = args.catalog_only
    profile.skip_runs = args.skip_runs
    if args.baseline_max is not None:
        profile.baseline_max = args.baseline_max
    started = time.monotonic()
    rows = run(profile)
    print(table(rows))
    log(f"done in {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in rows], indent=1))


if __name__ == "__main__":
    main()
