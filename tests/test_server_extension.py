"""The server extension's executions API, in a real jupyter_server with real kernels.

The server runs as a subprocess (``python -m jupyter_server`` with the extension enabled,
a token, a JupyterHub-like base_url): pytest-jupyter's in-process fixtures come with a
plugin that replaces the event loop of every async test in the session, which the rest of
this suite (session-scoped pytest-asyncio loop) cannot share. Notebooks use the
``python3`` kernel (ipykernel) to stay fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from fixtures.hub import free_port
from notebooks import write_python_notebook as write_notebook
from processes import PIDS_CELL, alive, children, wait_file, wait_gone
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyterhub_templates.catalog.parameters import MAX_DEPTH

BASE_URL = "/user/alice/"
API = "templates/api/executions"
MAX_LOG_BYTES = 65536


# ---------------------------------------------------------------- helpers


def marked_processes(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (runners and their kernels)."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes() and alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_no_marked(marker: str, timeout: float = 10.0) -> list[int]:
    """Wait until no process carries ``marker``; returns the survivors (empty if none)."""
    deadline = time.monotonic() + timeout
    while (left := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@dataclass
class Server:
    url: str
    token: str
    root: Path
    outside: Path
    process: subprocess.Popen[bytes]

    async def call(
        self,
        method: str,
        path: str = "",
        body: Any = None,
        *,
        raw_body: bytes | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        token: str | None = None,
    ) -> tuple[int, Any]:
        """One API request (with the server's token unless ``auth`` is false or ``token``
        is given); returns (status, parsed JSON or None)."""
        url = self.url + API + (f"/{path}" if path else "")
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        headers = {}
        if auth:
            headers["Authorization"] = f"token {token or self.token}"
        data = raw_body
        if data is None and body is not None:
            data = json.dumps(body).encode()
        if data is None and method == "POST":
            data = b""
        response = await AsyncHTTPClient().fetch(
            HTTPRequest(url, method=method, body=data, headers=headers, request_timeout=90),
            raise_error=False,
        )
        parsed = json.loads(response.body) if response.body else None
        return response.code, parsed

    async def submit(self, **body: Any) -> dict[str, Any]:
        body.setdefault("id", "e" + secrets.token_hex(6))
        body.setdefault("kernel_name", "python3")
        code, model = await self.call("POST", body=body)
        assert code == 202, model
        return model

    async def get(self, execution_id: str) -> dict[str, Any]:
        code, model = await self.call("GET", execution_id)
        assert code == 200, model
        return model

    async def wait_for(
        self, execution_id: str, *statuses: str, timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            model = await self.get(execution_id)
            if model["status"] in statuses:
                return model
            assert time.monotonic() < deadline, model
            await asyncio.sleep(0.1)

    async def wait_file(self, path: Path, timeout: float = 30.0) -> str:
        return await wait_file(path, timeout)


def start_server(base: Path, **extension_config: Any) -> Server:
    root, outside = base / "root", base / "outside"
    for d in (root, outside, base / "config", base / "data", base / "runtime"):
        d.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    config = {
        "ServerApp": {
            "jpserver_extensions": {"jupyterhub_templates": True},
            "root_dir": str(root),
            "port": port,
            "port_retries": 0,
            "ip": "127.0.0.1",
            "open_browser": False,
            "base_url": BASE_URL,
        },
        "IdentityProvider": {"token": token},
        "TemplatesExtensionApp": {
            "default_kernel_name": "python3",
            "kill_grace": 1.0,
            **extension_config,
        },
    }
    (base / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    argv = [sys.executable, "-m", "jupyter_server"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = (base / "server.log").open("wb")
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=base
    )
    url = f"http://127.0.0.1:{port}{BASE_URL}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (base / "server.log").read_text()
        try:
            r = requests.get(url + API, headers={"Authorization": f"token {token}"}, timeout=2)
            if r.status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, (base / "server.log").read_text()
        time.sleep(0.2)
    return Server(url=url, token=token, root=root, outside=outside, process=process)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, one execution at a time."""
    srv = start_server(
        tmp_path_factory.mktemp("srvext"),
        max_concurrent_executions=1,
        max_log_bytes=MAX_LOG_BYTES,
        max_timeout=600,
    )
    yield srv
    stop_server(srv)


# ---------------------------------------------------------------- tests


async def test_requests_without_token_get_403(server: Server) -> None:
    for method, path in (("GET", ""), ("POST", ""), ("GET", "x"), ("POST", "x/cancel")):
        code, body = await server.call(method, path, auth=False)
        assert code == 403, (method, path, body)
        assert body["status"] == "error" and body["message"]
    code, body = await server.call("GET", token="wrong")
    assert code == 403 and body["status"] == "error"


async def test_successful_run(server: Server) -> None:
    nb = write_notebook(
        server.root / "sub" / "nb.ipynb",
        "import os, pathlib\n_ = pathlib.Path('cwd.txt').write_text(os.getcwd())",
        "print('hello', x, name, os.environ.get('MLFLOW_TEST_VAR'))",
        "x * 2",
        params="x = 1\nname = 'a'",
    )
    model = await server.submit(
        input_path="/sub/nb.ipynb",
        output_path="out/deep/result.ipynb",
        parameters={"x": 21, "name": "b"},
        env={"MLFLOW_TEST_VAR": "v1"},
        timeout=120,
    )
    assert model["status"] in ("pending", "running")
    assert model["input_path"] == "sub/nb.ipynb"
    assert model["output_path"] == "out/deep/result.ipynb"
    assert model["kernel_name"] == "python3" and model["timeout"] == 120
    assert model["created"].endswith("Z") and model["error"] is None

    done = await server.wait_for(model["id"], "success", "failed", "cancelled")
    assert done["status"] == "success", done
    assert done["started"].endswith("Z") and done["finished"].endswith("Z")
    assert done["seq"] > model["seq"]

    out = nbformat.read(str(server.root / "out" / "deep" / "result.ipynb"), as_version=4)
    code_cells = [c for c in out.cells if c.cell_type == "code"]
    injected = [c for c in code_cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "x = 21" in injected[0].source and 'name = "b"' in injected[0].source
    texts = [o.get("text", "") for c in code_cells for o in c.outputs]
    assert "hello 21 b v1\n" in texts
    results = [o for c in code_cells for o in c.outputs if o.output_type == "execute_result"]
    assert results[0]["data"]["text/plain"] == "42"
    progress = done["progress"]
    assert progress["cells_total"] == len(code_cells) == 5
    assert progress["cells_done"] == 5 and progress["current_cell"] is None
    assert progress["elapsed"] > 0
    # the kernel ran in the notebook's folder; the input notebook is untouched
    assert (server.root / "sub" / "cwd.txt").read_text() == str(server.root.resolve() / "sub")
    assert all(not c.get("outputs") for c in nbformat.read(str(nb), as_version=4).cells)

    code, log = await server.call("GET", f"{model['id']}/log")
    assert code == 200 and log["id"] == model["id"] and log["offset"] == 0
    assert "hello 21 b v1" in log["log"] and not log["truncated"]
    assert log["next_offset"] == len(log["log"].encode())

    code, listing = await server.call("GET")
    assert code == 200 and listing["max_concurrent"] == 1 and listing["boot_id"]
    assert model["id"] in {e["id"] for e in listing["executions"]}
    code, listing = await server.call("GET", params={"ids": f"{model['id']},nope"})
    assert [e["id"] for e in listing["executions"]] == [model["id"]]

    code, body = await server.call("POST", body={"id": model["id"], "input_path": "sub/nb.ipynb"})
    assert code == 409 and body["status"] == "error"
    code, body = await server.call("POST", f"{model['id']}/cancel")
    assert code == 409
    code, body = await server.call("DELETE", model["id"])
    assert code == 204 and body is None
    code, body = await server.call("GET", model["id"])
    assert code == 404 and body["status"] == "error"


def nested(depth: int) -> Any:
    """A JSON value ``depth`` containers deep."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_refused_requests(server: Server) -> None:
    write_notebook(server.root / "ok.ipynb", "1")
    secret = write_notebook(server.outside / "secret.ipynb", "1")
    (server.root / "link.ipynb").symlink_to(secret)
    (server.root / "linkdir").symlink_to(server.outside, target_is_directory=True)
    bad_inputs = [
        "../outside/secret.ipynb",
        "a/../../x.ipynb",
        "//etc/x.ipynb",
        "a\\b.ipynb",
        "a\x00.ipynb",
        "a\nb.ipynb",
        "~/x.ipynb",
        "",
        "link.ipynb",
        "linkdir/secret.ipynb",
        # the service's own path rules (notebooks.paths): hidden names, look-alike dots
        ".hidden/x.ipynb",
        "a/.x.ipynb",
        "\uff0e\uff0e/x.ipynb",
    ]
    for path in bad_inputs:
        code, body = await server.call("POST", body={"id": "bad", "input_path": path})
        assert code == 400, (path, body)
        assert body["status"] == "error" and body["message"]
    bad_bodies: list[dict[str, Any]] = [
        {"input_path": "ok.ipynb", "output_path": "linkdir/new/out.ipynb"},
        {"input_path": "ok.ipynb", "output_path": "out.txt"},
        {"input_path": "ok.ipynb", "output_path": "../out.ipynb"},
        {"input_path": "ok.ipynb", "env": {"PATH": "/tmp"}},
        {"input_path": "ok.ipynb", "env": {"mlflow_lower": "x"}},
        {"input_path": "ok.ipynb", "env": {"MLFLOW_X": 1}},
        {"input_path": "ok.ipynb", "parameters": {"class": 1}},
        {"input_path": "ok.ipynb", "parameters": {"1x": 1}},
        {"input_path": "ok.ipynb", "parameters": []},
        # the service's nesting limit (catalog.parameters.MAX_DEPTH), not a looser one
        {"input_path": "ok.ipynb", "parameters": {"deep": nested(MAX_DEPTH + 1)}},
        {"input_path": "ok.ipynb", "parameters": {"__x__": 1}},
        {"input_path": "ok.ipynb", "timeout": 0},
        {"input_path": "ok.ipynb", "timeout": 601},
        {"input_path": "ok.ipynb", "timeout": "10"},
        {"input_path": "ok.ipynb", "kernel_name": "a b"},
        {"output_path": "ok.ipynb"},
    ]
    for extra in bad_bodies:
        code, body = await server.call("POST", body={"id": "bad", **extra})
        assert code == 400, (extra, body)
    assert not (server.outside / "new").exists()
    for bad_id in ("", "a/b", "x" * 65, "a.b"):
        code, _ = await server.call("POST", body={"id": bad_id, "input_path": "ok.ipynb"})
        assert code == 400, bad_id
    for raw in (
        b"[]",
        b"not json",
        b'{"id": "n", "input_path": "ok.ipynb", "parameters": {"x": NaN}}',
    ):
        code, body = await server.call("POST", raw_body=raw)
        assert code == 400, raw
    code, _ = await server.call("POST", body={"id": "m", "input_path": "missing.ipynb"})
    assert code == 404
    (server.root / "plain.txt").write_text("x")
    code, _ = await server.call("POST", body={"id": "m", "input_path": "plain.txt"})
    assert code == 404
    for method, path in (
        ("GET", "nope"),
        ("GET", "nope/log"),
        ("POST", "nope/cancel"),
        ("DELETE", "nope"),
    ):
        code, body = await server.call(method, path)
        assert code == 404 and body["status"] == "error", (method, path)
    for params in ({"since": "x"}, {"wait": "61"}, {"since": "-1"}):
        code, _ = await server.call("GET", params=params)
        assert code == 400, params
    code, listing = await server.call("GET")
    assert "bad" not in {e["id"] for e in listing["executions"]}


async def test_queue_is_fifo_and_cancel(server: Server) -> None:
    pids_file = server.root / "q" / "pids_a.txt"
    write_notebook(
        server.root / "q" / "long.ipynb",
        PIDS_CELL + "import time\ntime.sleep(60)",
        params="PIDS_FILE = ''",
    )
    write_notebook(server.root / "q" / "quick.ipynb", "import time\nprint(time.time())")
    a = await server.submit(input_path="q/long.ipynb", parameters={"PIDS_FILE": str(pids_file)})
    # B and C need no kernel to show the order: a missing kernel fails fast
    b = await server.submit(input_path="q/quick.ipynb", kernel_name="missing-b")
    c = await server.submit(input_path="q/quick.ipynb", kernel_name="missing-c")
    d = await server.submit(input_path="q/quick.ipynb", output_path="q/d.ipynb")
    kernel_pid, runner_pid = map(int, (await server.wait_file(pids_file)).split())
    assert alive(kernel_pid) and alive(runner_pid)
    running = await server.get(a["id"])
    assert running["status"] == "running" and running["progress"]["current_cell"] is not None
    for _ in range(5):
        for other in (b, c, d):
            assert (await server.get(other["id"]))["status"] == "pending"
        await asyncio.sleep(0.1)
    code, _ = await server.call("DELETE", b["id"])
    assert code == 409

    code, cancelled = await server.call("POST", f"{d['id']}/cancel")
    assert code == 200 and cancelled["status"] == "cancelled" and cancelled["started"] is None
    code, cancelled = await server.call("POST", f"{a['id']}/cancel")
    assert code == 200 and cancelled["status"] == "cancelled", cancelled
    assert cancelled["error"] is None and cancelled["finished"]
    assert not wait_gone(kernel_pid, runner_pid), "runner or kernel survived the cancel"

    b_done = await server.wait_for(b["id"], "success", "failed")
    c_done = await server.wait_for(c["id"], "success", "failed")
    assert b_done["status"] == c_done["status"] == "failed"
    assert b_done["error"]["reason"] == c_done["error"]["reason"] == "kernel not found"
    assert cancelled["finished"] <= b_done["started"] <= b_done["finished"] <= c_done["started"]
    assert (await server.get(d["id"]))["status"] == "cancelled"
    assert not (server.root / "q" / "d.ipynb").exists()
    code, _ = await server.call("POST", f"{d['id']}/cancel")
    assert code == 409


async def test_cancel_while_starting_leaves_no_process(server: Server) -> None:
    write_notebook(server.root / "s" / "nb.ipynb", "import time\ntime.sleep(60)")
    marker = secrets.token_hex(8)
    model = await server.submit(
        input_path="s/nb.ipynb", env={"JUPYTERHUB_TEMPLATES_TEST_MARK": marker}
    )
    await server.wait_for(model["id"], "running")
    assert marked_processes(marker), "the runner does not carry the request's env"
    code, cancelled = await server.call("POST", f"{model['id']}/cancel")
    assert code == 200 and cancelled["status"] == "cancelled"
    assert await asyncio.to_thread(wait_no_marked, marker) == []


async def test_timeout_kills_runner_and_kernel(server: Server) -> None:
    pids_file = server.root / "t" / "pids.txt"
    write_notebook(
        server.root / "t" / "slow.ipynb",
        PIDS_CELL + "import time\ntime.sleep(60)",
        params="PIDS_FILE = ''",
    )
    model = await server.submit(
        input_path="t/slow.ipynb", parameters={"PIDS_FILE": str(pids_file)}, timeout=15
    )
    kernel_pid, runner_pid = map(int, (await server.wait_file(pids_file)).split())
    done = await server.wait_for(model["id"], "success", "failed", "cancelled", timeout=30)
    assert done["status"] == "failed", done
    assert done["error"]["reason"] == "timeout"
    assert 14.9 < done["progress"]["elapsed"] < 40
    assert not wait_gone(kernel_pid, runner_pid), "runner or kernel survived the timeout"


async def test_dead_kernel(server: Server) -> None:
    write_notebook(server.root / "dead.ipynb", "import os\nos._exit(1)", "print('never')")
    model = await server.submit(input_path="dead.ipynb")
    done = await server.wait_for(model["id"], "success", "failed", timeout=60)
    assert done["status"] == "failed"
    assert done["error"]["reason"] == "kernel died", done["error"]


async def test_missing_kernel(server: Server) -> None:
    write_notebook(server.root / "nokernel.ipynb", "1")
    model = await server.submit(input_path="nokernel.ipynb", kernel_name="no-such-kernel-xyz")
    done = await server.wait_for(model["id"], "success", "failed")
    assert done["status"] == "failed"
    assert done["error"]["reason"] == "kernel not found", done["error"]
    assert done["kernel_name"] == "no-such-kernel-xyz"


async def test_cell_error(server: Server) -> None:
    write_notebook(
        server.root / "err.ipynb", "print('before')", "raise ValueError('boom')", "print('never')"
    )
    model = await server.submit(
        input_path="err.ipynb", output_path="err-out.ipynb", parameters={"x": 2}
    )
    done = await server.wait_for(model["id"], "success", "failed")
    assert done["status"] == "failed"
    error = done["error"]
    assert error["reason"] == "cell error"
    assert error["ename"] == "ValueError" and error["evalue"] == "boom"
    # markdown, parameters, injected-parameters, print, raise: the raising cell is index 4
    assert error["cell_index"] == 4
    assert done["progress"]["cells_total"] == 5 and done["progress"]["cells_done"] == 3
    out = nbformat.read(str(server.root / "err-out.ipynb"), as_version=4)
    assert any(o.get("ename") == "ValueError" for c in out.cells for o in c.get("outputs", []))


async def test_long_poll(server: Server) -> None:
    code, listing = await server.call("GET")
    seq = listing["seq"]
    started = time.monotonic()
    code, empty = await server.call("GET", params={"since": seq, "wait": 1})
    assert code == 200 and empty["executions"] == [] and empty["seq"] == seq
    assert 0.9 <= time.monotonic() - started < 5

    write_notebook(server.root / "poll.ipynb", "1")
    poll = asyncio.create_task(server.call("GET", params={"since": seq, "wait": 30}))
    await asyncio.sleep(0.5)
    assert not poll.done()
    started = time.monotonic()
    # a missing kernel ends fast: the poll only needs changes
    model = await server.submit(input_path="poll.ipynb", kernel_name="missing")
    code, changed = await asyncio.wait_for(poll, 10)
    assert time.monotonic() - started < 5
    assert code == 200 and [e["id"] for e in changed["executions"]] == [model["id"]]
    assert (
        changed["executions"][0]["seq"] > seq and changed["seq"] >= changed["executions"][0]["seq"]
    )
    done = await server.wait_for(model["id"], "success", "failed")
    assert done["status"] == "failed"
    code, later = await server.call("GET", params={"since": changed["seq"], "ids": model["id"]})
    assert [e["status"] for e in later["executions"]] == ["failed"]


async def test_log_keeps_only_the_tail(server: Server) -> None:
    write_notebook(
        server.root / "loud.ipynb",
        "for i in range(4000):\n    print(f'line {i:05d} ' + 'x' * 40)",
    )
    model = await server.submit(input_path="loud.ipynb")
    done = await server.wait_for(model["id"], "success", "failed")
    assert done["status"] == "success"
    code, log = await server.call("GET", f"{model['id']}/log", params={"offset": 0})
    assert code == 200 and log["truncated"] is True
    assert log["offset"] > 100_000
    assert len(log["log"].encode()) <= MAX_LOG_BYTES
    assert "line 03999" in log["log"] and "line 00000" not in log["log"]
    assert log["next_offset"] == log["offset"] + len(log["log"].encode())
    code, rest = await server.call(
        "GET", f"{model['id']}/log", params={"offset": log["next_offset"]}
    )
    assert rest["log"] == "" and rest["truncated"] is False
    assert rest["next_offset"] == log["next_offset"]


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_server_shutdown_kills_executions(tmp_path: Path, stop: str) -> None:
    """SIGTERM runs the extension's shutdown; SIGKILL ends the server without it, as
    does a plain jupyter_server's KeyboardInterrupt on SIGINT (JupyterHub's first
    signal; through the Hub: tests/test_executions_api.py): then the runner sees its
    parent gone and takes its kernel along. (SIGINT itself is not sent here: where the
    KeyboardInterrupt lands is a race, and it may be swallowed.)"""
    srv = start_server(tmp_path)
    try:
        pids_file = srv.root / "pids.txt"
        write_notebook(
            srv.root / "long.ipynb",
            PIDS_CELL + "import time\ntime.sleep(60)",
            params="PIDS_FILE = ''",
        )
        await srv.submit(input_path="long.ipynb", parameters={"PIDS_FILE": str(pids_file)})
        kernel_pid, runner_pid = map(int, (await srv.wait_file(pids_file)).split())
        if stop != "SIGTERM":
            srv.process.send_signal(getattr(signal, stop))
            await asyncio.to_thread(srv.process.wait, 30)
    finally:
        await asyncio.to_thread(stop_server, srv)
    assert srv.process.returncode is not None
    assert not wait_gone(kernel_pid, runner_pid), "runner or kernel survived the server"


async def test_a_symlink_loop_is_a_400_not_a_500(server: Server) -> None:
    (server.root / "round").symlink_to(server.root / "round")
    for method, body in (("GET", None), ("PUT", {"type": "directory"})):
        r = await asyncio.to_thread(
            requests.request,
            method,
            f"{server.url}api/contents/round/x.ipynb",
            headers={"Authorization": f"token {server.token}"},
            json=body,
            timeout=30,
        )
        assert r.status_code == 400, (method, r.status_code, r.text)
        assert "symbolic link loop" in r.json()["message"]
    assert not (server.root / "round").exists()  # still the loop, nothing made


# ---------------------------------------------------------------- pre-started runners


def spare_pids(server_pid: int) -> list[int]:
    """Live children of the server started as spare runners (``runner --spare``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == server_pid and b"--spare" in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def wait_spares(server_pid: int, count: int, timeout: float = 60.0) -> list[int]:
    """Wait until exactly ``count`` spares are alive; returns their pids."""
    deadline = time.monotonic() + timeout
    while len(pids := spare_pids(server_pid)) != count:
        assert time.monotonic() < deadline, f"spares {pids}, expected {count}"
        time.sleep(0.1)
    return pids


def wait_spare_ready(pid: int, timeout: float = 60.0) -> None:
    """Wait until the spare has imported papermill and blocks on reading its spec."""
    deadline = time.monotonic() + timeout
    while True:
        maps = Path(f"/proc/{pid}/maps").read_text() if alive(pid) else ""
        wchan = Path(f"/proc/{pid}/wchan").read_text() if alive(pid) else ""
        # jsonschema's C-accelerated dependencies are mapped once papermill is imported
        if "rpds" in maps and "pipe" in wchan:
            return
        assert time.monotonic() < deadline, f"spare {pid} never became ready"
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["runner", "runner+kernel"])
def spare_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server keeping one pre-started runner (with its kernel, python3, in the second
    variant), one execution at a time."""
    srv = start_server(
        tmp_path_factory.mktemp("spares"),
        max_concurrent_executions=1,
        prestart_runners=1,
        prestart_kernels=request.param == "runner+kernel",
    )
    srv.prestart_kernels = request.param == "runner+kernel"  # type: ignore[attr-defined]
    yield srv
    stop_server(srv)


async def test_run_through_a_spare_has_the_execution_cwd_and_env(spare_server: Server) -> None:
    srv = spare_server
    (spare,) = await asyncio.to_thread(wait_spares, srv.process.pid, 1)
    await asyncio.to_thread(wait_spare_ready, spare)
    waiting = children(spare)  # the pre-started kernel, when there is one
    assert len(waiting) == (1 if srv.prestart_kernels else 0), waiting
    pids_file = srv.root / "w" / "pids.txt"
    write_notebook(
        srv.root / "w" / "env.ipynb",
        PIDS_CELL,
        "import os, pathlib, sys\n"
        "pathlib.Path('seen.json').write_text(__import__('json').dumps("
        "[os.getcwd(), os.environ.get('MLFLOW_TRACKING_URI'), "
        "os.environ.get('JUPYTERHUB_TEMPLATES_RUN'), sys.argv[0]]))",
        params="PIDS_FILE = ''",
    )
    model = await srv.submit(
        input_path="w/env.ipynb",
        parameters={"PIDS_FILE": str(pids_file)},
        env={"MLFLOW_TRACKING_URI": "http://mlflow.example:5000", "JUPYTERHUB_TEMPLATES_RUN": "r1"},
    )
    done = await srv.wait_for(model["id"], "success", "failed", "cancelled")
    assert done["status"] == "success", done
    kernel_pid, runner_pid = map(int, (await srv.wait_file(pids_file)).split())
    assert runner_pid == spare, "the execution did not run in the pre-started runner"
    if srv.prestart_kernels:
        assert [kernel_pid] == waiting, "the execution did not run on the pre-started kernel"
        assert (
            "on the pre-started kernel" in (await srv.call("GET", f"{model['id']}/log"))[1]["log"]
        )
    cwd, uri, run, argv0 = json.loads((srv.root / "w" / "seen.json").read_text())
    assert cwd == str(srv.root.resolve() / "w")
    assert (uri, run) == ("http://mlflow.example:5000", "r1")
    assert "ipykernel" in argv0  # the notebook's kernel is the one asked for (python3)
    # the spare was used once: a new one replaced it, and it is gone with its kernel
    assert not await asyncio.to_thread(wait_gone, spare, kernel_pid)
    (replacement,) = await asyncio.to_thread(wait_spares, srv.process.pid, 1)
    assert replacement != spare


async def test_cancel_and_timeout_kill_a_spare_runner_and_its_kernel(spare_server: Server) -> None:
    srv = spare_server
    write_notebook(
        srv.root / "k" / "slow.ipynb",
        PIDS_CELL + "import time\ntime.sleep(60)",
        params="PIDS_FILE = ''",
    )
    for how in ("cancel", "timeout"):
        (spare,) = await asyncio.to_thread(wait_spares, srv.process.pid, 1)
        await asyncio.to_thread(wait_spare_ready, spare)
        pids_file = srv.root / "k" / f"{how}.txt"
        model = await srv.submit(
            input_path="k/slow.ipynb",
            parameters={"PIDS_FILE": str(pids_file)},
            timeout=15 if how == "timeout" else 600,
        )
        kernel_pid, runner_pid = map(int, (await srv.wait_file(pids_file)).split())
        assert runner_pid == spare
        if how == "cancel":
            code, done = await srv.call("POST", f"{model['id']}/cancel")
            assert code == 200 and done["status"] == "cancelled"
        else:
            done = await srv.wait_for(model["id"], "failed", "success", "cancelled")
            assert done["status"] == "failed" and done["error"]["reason"] == "timeout"
        assert not await asyncio.to_thread(wait_gone, kernel_pid, runner_pid), how


async def test_a_killed_spare_is_replaced_and_not_counted(spare_server: Server) -> None:
    srv = spare_server
    (spare,) = await asyncio.to_thread(wait_spares, srv.process.pid, 1)
    await asyncio.to_thread(wait_spare_ready, spare)
    kernels = children(spare)
    os.kill(spare, signal.SIGKILL)
    # its pre-started kernel follows it (ipykernel watches its parent)
    assert not await asyncio.to_thread(wait_gone, spare, *kernels)
    (replacement,) = await asyncio.to_thread(wait_spares, srv.process.pid, 1)
    assert replacement != spare
    code, listing = await srv.call("GET")
    assert code == 200 and listing["max_concurrent"] == 1
    assert all(e["status"] != "running" for e in listing["executions"])
    # executions still run, through the replacement
    write_notebook(srv.root / "r" / "nb.ipynb", "1 + 1")
    model = await srv.submit(input_path="r/nb.ipynb")
    done = await srv.wait_for(model["id"], "success", "failed", "cancelled")
    assert done["status"] == "success", done


@pytest.mark.parametrize("kernels", [False, True], ids=["runners", "runners+kernels"])
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_no_spare_outlives_the_server(tmp_path: Path, stop: str, kernels: bool) -> None:
    srv = start_server(tmp_path, prestart_runners=2, prestart_kernels=kernels)
    try:
        spares = await asyncio.to_thread(wait_spares, srv.process.pid, 2)
        for spare in spares:
            await asyncio.to_thread(wait_spare_ready, spare)
        kernel_pids = [k for spare in spares for k in children(spare)]
        assert len(kernel_pids) == (2 if kernels else 0), kernel_pids
        if stop == "SIGKILL":
            srv.process.kill()  # no cleanup at all: the spares see their parent gone
            srv.process.wait()
    finally:
        await asyncio.to_thread(stop_server, srv)
    assert srv.process.returncode is not None
    survivors = await asyncio.to_thread(wait_gone, *spares, *kernel_pids, timeout=30)
    assert not survivors, "a spare or its kernel survived"
