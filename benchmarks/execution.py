"""Execution latency and throughput, against the papermill CLI.

Runs inside :func:`benchmarks.run.run`'s environment (a real JupyterHub, the service as
its own process, PostgreSQL, moto), or alone: ``python -m benchmarks.execution [--size
tiny|full] [--throughput N]``.

Three fresh users each get a real single-user server (the Hub's spawner): one configured
with ``prestart_runners = 0`` (cold, every runner started on demand), one with
``prestart_runners = PRESTART`` (spare runners) and one with spare runners that also
pre-start the kernel (``prestart_kernels = True``). Their server configuration goes in each user's
``~/.jupyter/jupyter_server_config.json`` (the demo config makes each user's ``HOME``
their folder under the Hub's ``users/``); the users' names are random.

- latency: ``POST /execute-notebook`` of a 10-cell trivial notebook, one at a time,
  from the request to its answer (the first cell has run) and to ``success`` in
  ``GET /execution-status`` (polled every 20 ms); baseline: ``papermill in out -k K``.
- throughput: N executions submitted at once to the last server, from the first
  request to the last ``success``; baselines: the papermill CLI N times one after the
  other, and N times through ``xargs -P <max_concurrent_executions>``.
- memory: RSS and PSS of every process of the user's server (the server, spares, their
  kernels) while idle, with and without spares.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import requests
from nbformat.v4 import new_code_cell, new_notebook

from jupyterhub_templates.statuses import FINAL

from .http import percentile
from .run import ROOT, Env, Row, log

PRESTART = 2
CELLS = 10
SIZES = {"tiny": (1, 2), "full": (15, 100)}  # latency repetitions, throughput executions
#: (label, prestart_runners, prestart_kernels); throughput runs on the last
CONFIGS = (("cold", 0, False), ("prestart", PRESTART, False), ("prestart+kernels", PRESTART, True))


def kernel_choice() -> str:
    """mlflow_kernel (the project's kernel, .venv-kernel) when installed, else python3."""
    spec = ROOT / ".venv" / "share" / "jupyter" / "kernels" / "mlflow_kernel" / "kernel.json"
    if spec.exists():
        argv0 = json.loads(spec.read_text())["argv"][0]
        if Path(argv0).exists():
            return "mlflow_kernel"
    return "python3"


def write_notebook(path: Path, kernel: str) -> None:
    nb = new_notebook(
        cells=[new_code_cell(f"x{i} = {i}") for i in range(CELLS)],
        metadata={"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


# -- processes of a user's server ---------------------------------------------------


def user_processes(user: str) -> list[int]:
    """Live processes started by ``user``'s server (the spawner's JUPYTERHUB_USER)."""
    needle = f"JUPYTERHUB_USER={user}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kb(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def memory_mb(user: str) -> tuple[float, float, int]:
    """RSS and PSS (MB) summed over the user's server processes, and their count."""
    rss = pss = count = 0
    for pid in user_processes(user):
        try:
            rss += _kb(Path(f"/proc/{pid}/status"), "VmRSS:")
            pss += _kb(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
            count += 1
        except OSError:
            continue
    return rss / 1024, pss / 1024, count


def ready_spares(user: str) -> int:
    """Spares of ``user`` that have imported papermill and wait for their spec."""
    ready = 0
    for pid in user_processes(user):
        try:
            if b"--spare" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            if (
                "pipe" in Path(f"/proc/{pid}/wchan").read_text()
                and "rpds" in Path(f"/proc/{pid}/maps").read_text()
            ):
                ready += 1
        except OSError:
            continue
    return ready


def wait_spares(user: str, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while ready_spares(user) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{user}: fewer than {count} spares ready")
        time.sleep(0.1)


# -- users and servers --------------------------------------------------------------


class User:
    """A fresh Hub user with its own server configuration and a token."""

    def __init__(self, env: Env, label: str, prestart: int, kernels: bool = False) -> None:
        self.env = env
        self.name = f"bench-{label.replace('+', '-')}-{secrets.token_hex(3)}"
        self.prestart = prestart
        hub = env.hub
        r = hub.api("POST", f"/users/{self.name}")
        r.raise_for_status()
        r = hub.api("POST", f"/users/{self.name}/tokens", json={"expires_in": 7200})
        r.raise_for_status()
        self.token = r.json()["token"]
        self.home = hub.user_dir(self.name)  # the spawner's HOME (jupyterhub_config.py)
        config = {
            "TemplatesExtensionApp": {"prestart_runners": prestart, "prestart_kernels": kernels}
        }
        (self.home / ".jupyter").mkdir(parents=True)
        (self.home / ".jupyter" / "jupyter_server_config.json").write_text(json.dumps(config))
        self.root = self.home
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    def start(self) -> None:
        hub = self.env.hub
        r = hub.api("POST", f"/users/{self.name}/server")
        assert r.status_code in (201, 202), r.text
        deadline = time.monotonic() + 180
        while True:
            server = hub.api("GET", f"/users/{self.name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server of {self.name} did not start")
            time.sleep(0.3)
        if self.prestart:
            wait_spares(self.name, self.prestart)

    def max_concurrent(self) -> int:
        r = self.session.get(f"{self.env.hub.url}/user/{self.name}/templates/api/executions")
        r.raise_for_status()
        return int(r.json()["max_concurrent"])

    def service(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.session.request(method, self.env.hub.service_url + path, timeout=300, **kwargs)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json()

    def stop(self) -> None:
        self.env.hub.stop_server(self.name)
        shutil.rmtree(self.home, ignore_errors=True)

    def execute(self, path: str, kernel: str) -> tuple[float, float, str]:
        """One execution: seconds to the answer and to the final status, and the status."""
        t0 = time.monotonic()
        answer = self.service(
            "POST", "execute-notebook", json={"notebook_path": path, "kernel_name": kernel}
        )
        t_answer = time.monotonic() - t0
        execution_id = answer["execution_id"]
        status = answer["status"]
        while status not in FINAL:
            time.sleep(0.02)
            status = self.service("GET", f"execution-status/{execution_id}")["status"]
        return t_answer, time.monotonic() - t0, status


# -- the papermill baseline ---------------------------------------------------------


def papermill_argv(nb: Path, out: Path, kernel: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "papermill"),
        "--no-progress-bar",
        "-k",
        kernel,
        str(nb),
        str(out),
    ]


def papermill_once(nb: Path, out: Path, kernel: str) -> float:
    t0 = time.monotonic()
    subprocess.run(papermill_argv(nb, out, kernel), check=True, capture_output=True, cwd=nb.parent)
    return time.monotonic() - t0


def papermill_parallel(nb: Path, outdir: Path, kernel: str, n: int, parallel: int) -> float:
    """``seq n | xargs -P parallel -I{} papermill ... out-{}.ipynb``: wall seconds."""
    argv = papermill_argv(nb, outdir / "par-{}.ipynb", kernel)
    t0 = time.monotonic()
    subprocess.run(
        ["xargs", "-P", str(parallel), "-I{}", *argv],
        input="\n".join(str(i) for i in range(n)),
        text=True,
        check=True,
        capture_output=True,
        cwd=nb.parent,
    )
    return time.monotonic() - t0


# -- the rows -----------------------------------------------------------------------


def _p(values: list[float]) -> tuple[float, float]:
    return round(statistics.median(values), 3), round(percentile(values, 99), 3)


def _ratio_row(
    benchmark: str,
    metric: str,
    ours: list[float],
    base: list[float],
    label: str,
    limit: float,
    notes: dict[str, Any],
) -> Row:
    o, b = _p(ours), _p(base)
    ratio = round(o[0] / b[0], 3)
    return Row(
        benchmark,
        f"{CELLS} cells",
        metric,
        o,
        b,
        ratio,
        label,
        f"≤ {limit}x",
        ratio <= limit,
        notes,
    )


def execution_rows(
    env: Env, size: str = "full", throughput: int | None = None, reps: int | None = None
) -> list[Row]:
    """The rows of parts 3 and 4 (see the module's docstring)."""
    default_reps, n_throughput = SIZES[size]
    n_throughput = throughput or n_throughput
    reps = reps or default_reps
    kernel = kernel_choice()
    log(f"execution benchmark: kernel {kernel}, {reps} runs each, throughput {n_throughput}")
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="templates-bench-exec-"))
    try:
        base_nb = work / "trivial.ipynb"
        write_notebook(base_nb, kernel)
        if size != "tiny":
            papermill_once(base_nb, work / "warmup.ipynb", kernel)  # page cache

        results: dict[str, dict[str, Any]] = {}
        for label, prestart, kernels in CONFIGS:
            user = User(env, label, prestart, kernels)
            try:
                user.start()
                time.sleep(2)  # let the server settle before measuring its memory
                rss, pss, nproc = memory_mb(user.name)
                write_notebook(user.root / "trivial.ipynb", kernel)
                answers, totals, base = [], [], []
                for i in range(reps):
                    if prestart:
                        wait_spares(user.name, prestart)
                    t_answer, t_total, status = user.execute("trivial.ipynb", kernel)
                    assert status == "success", status
                    answers.append(t_answer)
                    totals.append(t_total)
                    base.append(papermill_once(base_nb, work / f"{label}-{i}.ipynb", kernel))
                log(
                    f"{label}: success p50 {statistics.median(totals):.2f} s, answer p50 "
                    f"{statistics.median(answers):.2f} s, papermill p50 "
                    f"{statistics.median(base):.2f} s"
                )
                results[label] = dict(
                    answers=answers, totals=totals, base=base, rss=rss, pss=pss, nproc=nproc
                )
                if label == CONFIGS[-1][0]:
                    wait_spares(user.name, prestart)
                    results["throughput"] = throughput_run(user, kernel, n_throughput, work)
            finally:
                user.stop()

        kernel_note = {"kernel": kernel, "reps": reps}
        for label, limit in (("cold", 1.0), ("prestart", 0.5), ("prestart+kernels", 0.5)):
            r = results[label]
            rows.append(
                _ratio_row(
                    f"execution: latency {label}",
                    "request→success (s)",
                    r["totals"],
                    r["base"],
                    "vs papermill CLI",
                    limit,
                    kernel_note,
                )
            )
        for label, *_ in CONFIGS:
            r = results[label]
            o, b = _p(r["answers"]), _p(r["base"])
            rows.append(
                Row(
                    f"execution: first-cell answer {label}",
                    f"{CELLS} cells",
                    "POST /execute-notebook answer (s)",
                    o,
                    b,
                    round(o[0] / b[0], 3),
                    "vs papermill CLI (whole run)",
                    "p50 ≤ 0.3 s",
                    o[0] <= 0.3,
                    kernel_note,
                )
            )
        cold = results["cold"]
        for label, what in (("prestart", "spare runners"), ("prestart+kernels", "spares+kernels")):
            warm = results[label]
            rows.append(
                Row(
                    f"execution: memory of {what}",
                    f"{PRESTART} spares",
                    "idle user server + children RSS (MB)",
                    (round(warm["rss"], 1), None),
                    (round(cold["rss"], 1), None),
                    round(warm["rss"] / cold["rss"], 3),
                    "vs no spares",
                    "reported",
                    True,
                    {
                        "per_spare_rss_mb": round((warm["rss"] - cold["rss"]) / PRESTART, 1),
                        "per_spare_pss_mb": round((warm["pss"] - cold["pss"]) / PRESTART, 1),
                        "pss_with_mb": round(warm["pss"], 1),
                        "pss_without_mb": round(cold["pss"], 1),
                        "processes_with": warm["nproc"],
                        "processes_without": cold["nproc"],
                    },
                )
            )
        t = results["throughput"]
        notes = {
            "kernel": kernel,
            "server": CONFIGS[-1][0],
            "executions": n_throughput,
            "parallel": t["parallel"],
            "all_success": t["all_success"],
        }
        rows.append(
            Row(
                "execution: throughput vs sequential",
                f"{n_throughput} runs",
                "wall time (s)",
                (round(t["ours"], 2), None),
                (round(t["sequential"], 2), None),
                round(t["ours"] / t["sequential"], 3),
                "vs papermill loop",
                "≤ 0.5x, all success",
                t["ours"] / t["sequential"] <= 0.5 and t["all_success"],
                notes,
            )
        )
        rows.append(
            Row(
                "execution: throughput vs parallel",
                f"{n_throughput} runs",
                "wall time (s)",
                (round(t["ours"], 2), None),
                (round(t["xargs"], 2), None),
                round(t["ours"] / t["xargs"], 3),
                f"vs papermill xargs -P {t['parallel']}",
                "≤ 1.0x, all success",
                t["ours"] / t["xargs"] <= 1.0 and t["all_success"],
                notes,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def throughput_run(user: User, kernel: str, n: int, work: Path) -> dict[str, Any]:
    """N executions at once on ``user``'s server, then the two papermill baselines."""
    parallel = user.max_concurrent()

    def submit(_: int) -> int:
        return user.service(
            "POST",
            "execute-notebook",
            json={"notebook_path": "trivial.ipynb", "kernel_name": kernel},
        )["execution_id"]

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        ids = set(pool.map(submit, range(n)))
    statuses: dict[int, str] = {}
    while True:
        page = user.service("GET", "executions", params={"limit": 500})
        statuses = {
            e["execution_id"]: e["status"] for e in page["executions"] if e["execution_id"] in ids
        }
        if len(statuses) == n and all(s in FINAL for s in statuses.values()):
            break
        time.sleep(0.1)
    ours = time.monotonic() - t0
    all_success = all(s == "success" for s in statuses.values())
    log(
        f"throughput: {n} executions in {ours:.1f} s (parallel {parallel}), "
        f"all success {all_success}"
    )
    nb = work / "trivial.ipynb"
    t0 = time.monotonic()
    for i in range(n):
        papermill_once(nb, work / f"seq-{i}.ipynb", kernel)
    sequential = time.monotonic() - t0
    xargs = papermill_parallel(nb, work, kernel, n, parallel)
    log(f"throughput baselines: sequential {sequential:.1f} s, xargs -P {parallel} {xargs:.1f} s")
    return dict(
        ours=ours, sequential=sequential, xargs=xargs, parallel=parallel, all_success=all_success
    )


def main(argv: list[str] | None = None) -> None:
    from .run import run_standalone

    parser = argparse.ArgumentParser(prog="python -m benchmarks.execution", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--throughput", type=int, help="executions submitted at once")
    parser.add_argument("--reps", type=int, help="latency runs per configuration")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    run_standalone(
        lambda env: execution_rows(env, args.size, args.throughput, args.reps), args.json
    )


if __name__ == "__main__":
    main()
