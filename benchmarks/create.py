"""Creating a notebook from a 1 MB template with 20 parameters, end to end.

Ours: ``POST /create-from-template`` to the service (its own port, a keep-alive
connection, alice's token) writing into alice's running server: a new path each time,
and ``overwrite=true`` on one path. The floor, measured in the same run and interleaved
with ours request by request so both see the same noise: papermill's
``parameterize_notebook`` on the same notebook (already parsed) with the same
parameters, the contents-API body encoded, and one ``PUT /user/alice/api/contents/...``
of it through the same proxy to the same server with alice's token (keep-alive).

Where the time goes is in each row's notes: the floor's two parts, an existence check
(``GET ...?content=0``) and a Hub API ``GET /users/alice`` round trip, each measured the
same way.

``python -m benchmarks.create [--reps N] [--profile DIR]`` runs it alone (``python -m
benchmarks`` runs it after the catalog and load tests).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import requests
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from papermill.parameterize import parameterize_notebook

from .http import Stats
from .run import Env, Row, log

PREFIX = "/services/templates/"
TEMPLATE = "bench/big_template.ipynb"
TARGET = "p50 <= 50 ms, <= 1.5x floor"
_KINDS = ["int", "float", "str", "bool", "list", "dict"]
_DEFAULTS = {
    "int": "10",
    "float": "0.5",
    "str": '"abc"',
    "bool": "False",
    "list": "[1, 2]",
    "dict": '{"a": 1}',
}


def make_template(target_bytes: int = 1_000_000, n_params: int = 20) -> tuple[bytes, dict]:
    """A valid Python notebook of at least ``target_bytes`` (about 320 cells: code with
    stream outputs, markdown, a 80 kB PNG every 20 steps) whose ``parameters`` cell
    declares ``n_params`` typed parameters; and values for all of them."""
    rng = random.Random(7)  # noqa: S311 (reproducible filler, not a secret)
    lines, values = [], {}
    for i in range(n_params):
        kind = _KINDS[i % len(_KINDS)]
        name = f"p{i:02d}_{kind}"
        lines.append(f"{name}: {kind} = {_DEFAULTS[kind]}  # parameter {i}")
        values[name] = {
            "int": 7 + i,
            "float": 0.25 * i,
            "str": f"value {i}",
            "bool": True,
            "list": [i, i + 1],
            "dict": {"k": i},
        }[kind]
    cells = [
        new_markdown_cell("# A big template"),
        new_code_cell("\n".join(lines), metadata={"tags": ["parameters"]}),
    ]
    png = base64.b64encode(rng.randbytes(60_000)).decode()
    size, step = 0, 0
    while size < target_bytes:
        step += 1
        source = "\n".join(f"x_{step}_{j} = compute({j}, p00_int)  # step {j}" for j in range(25))
        text = "".join(f"line {j}: {rng.random():.6f}\n" for j in range(30))
        outputs = [new_output("stream", name="stdout", text=text)]
        if step % 20 == 0:
            outputs.append(
                new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
            )
        cells.append(new_code_cell(source, outputs=outputs, execution_count=step))
        cells.append(new_markdown_cell(f"## Step {step}\n\n" + "Some explanation. " * 20))
        if step % 10 == 0:
            size = len(json.dumps(cells, indent=1))
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb).encode(), values


class Client:
    """Keep-alive JSON requests to one host:port with a token (http.client)."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return (time.perf_counter() - t0) * 1000, result


def _expect(status: int, body: bytes, want: int | tuple[int, ...], what: str) -> None:
    if status not in ((want,) if isinstance(want, int) else want):
        raise RuntimeError(f"{what}: HTTP {status} {body[:300]!r}")


def create_rows(env: Env, reps: int, profile_dir: Path | None = None) -> list[Row]:
    """The rows of part 2 (new path; overwrite of one path), ``reps`` requests each."""
    hub = env.hub
    data, values = make_template()
    r = requests.post(
        hub.service_url + "minio/upload-template",
        headers={"Authorization": f"token {hub.tokens['carol']}"},
        files={"file": ("big_template.ipynb", data)},
        data={"category": "bench", "overwrite": "true"},
        timeout=120,
    )
    if r.status_code not in (200, 201):
        raise RuntimeError(f"upload: {r.status_code} {r.text[:300]}")
    log(f"create: uploaded a {len(data) / 1e6:.2f} MB template with {len(values)} parameters")

    token = hub.tokens["alice"]
    ours = Client(f"http://127.0.0.1:{hub.service_port}", token)
    proxy = Client(hub.url, token)
    create_path = PREFIX + "create-from-template"

    def create(name: str, overwrite: bool) -> dict:
        body = {
            "template_name": TEMPLATE,
            "target_directory": "bench",
            "new_name": name,
            "parameters": values,
            "overwrite": overwrite,
        }
        status, answer = ours.request("POST", create_path, json.dumps(body).encode())
        _expect(status, answer, 201, f"create {name}")
        return json.loads(answer)

    # warm-up: starts alice's server, fills caches, opens connections
    applied = create("warmup", True)["parameters_applied"]
    nb = nbformat.reads(data.decode(), as_version=4)
    nb.metadata["papermill"] = nbformat.NotebookNode()
    for cell in nb.cells:  # as papermill's own loader does before it parameterizes
        cell.metadata.setdefault("tags", [])
    contents = "/user/alice/api/contents/bench/"

    def floor(name: str) -> tuple[float, float]:
        t_param, out = _timed(lambda: parameterize_notebook(nb, applied))
        t_put, _ = _timed(
            lambda: _expect(
                *proxy.request(
                    "PUT",
                    contents + name,
                    json.dumps({"type": "notebook", "format": "json", "content": out}).encode(),
                ),
                (200, 201) if name.startswith("floor-same") else 201,
                f"PUT {name}",
            )
        )
        return t_param, t_put

    floor("floor-same.ipynb")
    for i in range(3):
        create(f"warm-{i}", False)
        floor(f"floor-warm-{i}.ipynb")

    spy = _start_profiler(env, profile_dir, reps) if profile_dir else None
    run_id = int(time.time())
    samples: dict[str, list[float]] = {
        k: [] for k in ("new", "overwrite", "floor new", "floor same", "param", "put")
    }
    for i in range(reps):
        t, _ = _timed(lambda i=i: create(f"new-{run_id}-{i}", False))
        samples["new"].append(t)
        t_param, t_put = floor(f"floor-{run_id}-{i}.ipynb")
        samples["floor new"].append(t_param + t_put)
        samples["param"].append(t_param)
        samples["put"].append(t_put)
        t, _ = _timed(lambda: create("same", True))
        samples["overwrite"].append(t)
        t_param, t_put = floor("floor-same.ipynb")
        samples["floor same"].append(t_param + t_put)
    if spy is not None:
        spy.wait(60)

    # single round trips, for where the time goes
    check: list[float] = []
    hub_api: list[float] = []
    hub_client = Client(f"http://127.0.0.1:{hub.api_port}", hub.service_token)
    for _ in range(min(reps, 50)):
        t, _ = _timed(lambda: proxy.request("GET", contents + "same.ipynb?content=0"))
        check.append(t)
        t, _ = _timed(lambda: hub_client.request("GET", "/hub/api/users/alice"))
        hub_api.append(t)
    for c in (ours, proxy, hub_client):
        c.close()

    notes = {
        "template_bytes": len(data),
        "parameters": len(values),
        "floor_parameterize_p50_ms": Stats(samples["param"]).p50,
        "floor_put_p50_ms": Stats(samples["put"]).p50,
        "exists_check_p50_ms": Stats(check).p50,
        "hub_api_user_p50_ms": Stats(hub_api).p50,
    }
    log(
        "create: new p50 {:.1f} ms, overwrite p50 {:.1f} ms; floor new {:.1f} ms "
        "(parameterize {:.1f} + PUT {:.1f}), same {:.1f} ms; GET check {:.1f} ms; Hub API "
        "{:.1f} ms".format(
            Stats(samples["new"]).p50,
            Stats(samples["overwrite"]).p50,
            Stats(samples["floor new"]).p50,
            notes["floor_parameterize_p50_ms"],
            notes["floor_put_p50_ms"],
            Stats(samples["floor same"]).p50,
            notes["exists_check_p50_ms"],
            notes["hub_api_user_p50_ms"],
        )
    )
    size = f"{len(data) / 1e6:.1f} MB, {len(values)} params"
    rows = []
    for label, key, base_key in (
        ("new path", "new", "floor new"),
        ("overwrite one path", "overwrite", "floor same"),
    ):
        stats, base = Stats(samples[key]), Stats(samples[base_key])
        ratio = stats.p50 / base.p50
        rows.append(
            Row(
                benchmark=f"create: from template, {label} (direct)",
                size=size,
                metric=f"latency ms (n={stats.n}/{base.n})",
                ours=(stats.p50, stats.p99),
                baseline=(base.p50, base.p99),
                ratio=ratio,
                ratio_label="floor",
                target=TARGET,
                met=stats.p50 <= 50 and ratio <= 1.5,
                notes=notes,
            )
        )
    return rows


def _start_profiler(env: Env, profile_dir: Path, reps: int) -> subprocess.Popen:
    """py-spy sampling the service while the measured creates run (``create.folded``)."""
    assert env.service.proc is not None
    profile_dir.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    out = profile_dir / "create.folded"
    log(f"profiling the service with py-spy into {out}")
    seconds = max(2, int(reps * 0.25))
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(env.service.proc.pid), "--duration", str(seconds),
         "--rate", "500", "--threads", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    from .run import run_standalone

    parser = argparse.ArgumentParser(prog="python -m benchmarks.create", description=__doc__)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--profile", type=Path, metavar="DIR")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    run_standalone(lambda env: create_rows(env, args.reps, args.profile), args.json)


if __name__ == "__main__":
    main()
