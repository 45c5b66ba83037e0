"""The load test through a load balancer: one replica, then two, behind Debian's haproxy.

The same list + read mix as the direct load rows (``benchmarks/run.py``), sent to
haproxy (round robin, no sticky sessions; ``tests/fixtures/haproxy.py``) in front of the
benchmark's service, then in front of it and a second replica on the same database and
store. Both are measured in the same run, one after the other; the ratio is two
replicas ÷ one. On this 2-core machine the load generator, haproxy, PostgreSQL and the
replicas share the two cores, so a second replica cannot double the throughput here; the
figure says what it costs or gains on the same hardware.
"""

from __future__ import annotations

import asyncio

from fixtures.haproxy import Haproxy
from fixtures.hub import ServiceProcess, free_port

from .http import percentile
from .run import Env, LoadResult, Profile, Row, load_paths, log, run_load


def replica_load_rows(env: Env, profile: Profile, n: int) -> list[Row]:
    """Rows ``load: … through haproxy``: 1 and 2 replicas, throughput and latency."""
    size = f"{n:,} tpl, {profile.load_clients} clients, {profile.load_seconds:g} s"
    headers = {"Authorization": f"token {env.token}"}
    pick = load_paths(n)
    workdir = env.service.workdir.parent / "replicas"
    workdir.mkdir(exist_ok=True)
    second = ServiceProcess(
        env.hub, env.service.env, workdir / "r2", log_level="INFO", port=free_port()
    )
    second.workdir.mkdir()
    results: dict[int, LoadResult] = {}
    second.start()
    try:
        for count in (1, 2):
            backends = {"r1": env.hub.service_port}
            if count == 2:
                backends["r2"] = second.port
            with Haproxy(workdir / f"haproxy-{count}", free_port(), backends) as lb:
                for name in backends:
                    lb.wait_state(name, "UP", timeout=30)
                results[count] = asyncio.run(
                    run_load(
                        "127.0.0.1",
                        lb.port,
                        headers,
                        pick,
                        profile.load_clients,
                        profile.load_seconds,
                    )
                )
            r = results[count]
            log(
                f"load through haproxy, {count} replica(s): {r.rps:.0f} req/s, {r.errors} "
                f"errors, p50 {percentile(r.latencies, 50):.1f} ms, "
                f"p99 {percentile(r.latencies, 99):.1f} ms"
            )
    finally:
        second.stop()
    one, two = results[1], results[2]
    p50, p99 = percentile(two.latencies, 50), percentile(two.latencies, 99)
    b50, b99 = percentile(one.latencies, 50), percentile(one.latencies, 99)
    bench = "load: list + read, through haproxy, 2 replicas"
    return [
        Row(bench, size, "throughput req/s", (two.rps, None), (one.rps, None),
            two.rps / one.rps, "1 replica", ">= 1 replica", two.rps >= one.rps,
            {"requests": len(two.latencies), "requests_one": len(one.latencies)}),
        Row(bench, size, "latency ms", (p50, p99), (b50, b99), p99 / b99 if b99 else None,
            "1 replica (p99)", "p99 <= 1 replica", p99 <= b99),
        Row(bench, size, "errors", (two.errors, None), (one.errors, None), None, "",
            "0", two.errors == 0 and one.errors == 0,
            {"error_samples": two.error_samples + one.error_samples}),
    ]  # fmt: skip
